"""A customer's predictions in a real browser (headless Chromium on the live server, the
session's real Celery worker on the same database).

Logs in, predicts one row of a real model (car-price-basic from ml_artifacts/) and sees the
prediction appear in place (htmx); uploads a 10,000-row CSV with three bad rows, reads the
quote, confirms, follows the job's progress bar to the end (the bad rows refunded, the polling
stopped), downloads the result and reads it with openpyxl; and finds the charges and the
refund on the billing statement. See conftest.py beside this file for the browser fixtures and
tests/conftest.py for the worker.
"""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path

import openpyxl
import pytest

from billing import services as billing
from billing.models import CreditAccount, EntryKind, LedgerEntry
from predictions import services
from predictions.models import JobKind, JobStatus, ModelVersion, PredictionJob
from tests.conftest import CAR_PRICE_SLUG, WORKER_CHUNK_ROWS
from tests.e2e.conftest import STEPS_TIMEOUT
from tests.factories import DEFAULT_PASSWORD, UserFactory

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the dev dependency group is not installed
    if os.environ.get("CI", "").strip().lower() in {"true", "1"}:
        raise
    pytest.skip("needs Playwright for Python: uv sync (the dev group)", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "predicting.customer@example.com"
SLUG = CAR_PRICE_SLUG
MODEL_NAME = "Car price: basic"
# Staff reprice the model (as in the admin) so that credits and rows differ in every figure.
PRICE = 3
CREDITS = 50_000
ROWS = 10_000
# Data rows (0-based) that the model cannot take, each with one problem, and what the result
# file's error column says about it.
BAD_ROWS = {
    17: (
        "Make",
        "Lada",
        "Make: 'Lada' is not one of Buick, Cadillac, Chevrolet, Pontiac, Saab, Saturn",
    ),
    4_321: ("Mileage", "lots", "Mileage: 'lots' is not a number"),
    9_998: (
        "Type",
        "Limousine",
        "Type: 'Limousine' is not one of Convertible, Coupe, Hatchback, Sedan, Wagon",
    ),
}
COLUMNS = ["Mileage", "Cylinder", "Doors", "Cruise", "Sound", "Leather", "Make", "Type"]
# Waits on the worker: bounds, not expectations, and within one tab.do() call's own bound.
WORKER_TIMEOUT = STEPS_TIMEOUT // 2
PROGRESS_READ_SECONDS = 0.2  # the page polls every second: every state it shows is read
# The worker records progress after each chunk of rows. In chunks of 5,000 (the product's
# default) 10,000 rows are predicted in milliseconds and the bar may jump from 0 to the end
# between two polls; the session worker's chunks of WORKER_CHUNK_ROWS (20) make predicting
# last several polls (about 8 s on a 2-core machine), and the bar must be seen between its ends.
QUIET_SECONDS = 2.5  # more than two polling intervals
FINISHED = ("succeeded", "failed", "canceled")
MARK_DOCUMENT_JS = "() => { window.__mfdpSameDocument = true; }"
SAME_DOCUMENT_JS = "() => window.__mfdpSameDocument === true"
PROGRESS_JS = """() => {
  const box = document.querySelector('#job-progress');
  const bar = box && box.querySelector('progress');
  if (!bar) return null;
  return {
    value: Number(bar.getAttribute('value')),
    max: Number(bar.getAttribute('max')),
    status: box.querySelector('[data-testid=status]').textContent.trim(),
    polling: box.hasAttribute('hx-trigger'),
  };
}"""


@pytest.fixture
def car_price(car_price_folder) -> ModelVersion:
    services.register_manifest(folder=car_price_folder)
    version = ModelVersion.objects.get(model__slug=SLUG)
    return services.version_update(version=version, price_per_row=PRICE, is_active=True)


@pytest.fixture
def customer():
    user = UserFactory(email=EMAIL, name="Predicting Customer")
    billing.grant(user=user, amount=CREDITS, memo="Welcome", actor=None)
    return user


def cars_csv(path: Path) -> Path:
    """ROWS plausible cars, the BAD_ROWS spoilt, as a customer's export would have them."""
    generator = random.Random(20240601)
    makes = ["Buick", "Cadillac", "Chevrolet", "Pontiac", "Saab", "Saturn"]
    types = ["Convertible", "Coupe", "Hatchback", "Sedan", "Wagon"]
    lines = [",".join(COLUMNS)]
    for index in range(ROWS):
        row = {
            "Mileage": str(generator.randint(300, 50_000)),
            "Cylinder": generator.choice(["4", "6", "8"]),
            "Doors": generator.choice(["2", "4"]),
            "Cruise": generator.choice(["yes", "no"]),
            "Sound": generator.choice(["1", "0"]),
            "Leather": generator.choice(["true", "false"]),
            "Make": generator.choice(makes),
            "Type": generator.choice(types),
        }
        if index in BAD_ROWS:
            column, value, _message = BAD_ROWS[index]
            row[column] = value
        lines.append(",".join(row[column] for column in COLUMNS))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_predict_a_row_and_a_file_follow_the_job_download_and_read_the_statement(
    tab, live_server, celery_worker, car_price, customer, tmp_path
):
    upload = cars_csv(tmp_path / "cars-10000.csv")
    batch_cost = ROWS * PRICE
    refund = len(BAD_ROWS) * PRICE

    def log_in_and_predict_one_row(page: Page) -> str:
        page.goto("/accounts/login/")
        form = page.locator("main form")
        form.get_by_label(re.compile(r"^E-mail", re.IGNORECASE)).fill(EMAIL)
        form.get_by_label(re.compile(r"^Password", re.IGNORECASE)).fill(DEFAULT_PASSWORD)
        form.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/accounts/$"))

        page.locator("header").get_by_role("link", name="Models", exact=True).click()
        page.locator("main").get_by_role("link", name=MODEL_NAME).click()
        expect(page).to_have_url(re.compile(rf"/models/{SLUG}/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(MODEL_NAME)
        page.evaluate(MARK_DOCUMENT_JS)

        row = page.locator("#predict")
        row.get_by_label("Mileage", exact=True).fill("18910")
        row.get_by_label("Cylinder", exact=True).fill("6")
        row.get_by_label("Doors", exact=True).fill("4")
        row.get_by_label("Cruise", exact=True).select_option("yes")
        row.get_by_label("Sound", exact=True).select_option("no")
        row.get_by_label("Leather", exact=True).select_option("yes")
        row.get_by_label("Make", exact=True).select_option("Saab")
        row.get_by_label("Type", exact=True).select_option("Sedan")
        row.get_by_role("button", name=f"Predict for {PRICE} credits").click()

        # The view waits two seconds for the worker, then the fragment polls: either way the
        # figure comes into the same page.
        prediction = page.locator("#predict").get_by_test_id("prediction")
        expect(prediction).to_have_text(
            re.compile(r"^\d[\d,]*(\.\d{1,3})?$"), timeout=WORKER_TIMEOUT * 1000
        )
        expect(page.locator("#predict")).to_contain_text(f"Cost: {PRICE} credits.")
        assert page.evaluate(SAME_DOCUMENT_JS), "predicting one row reloaded the page (no htmx)"
        return prediction.inner_text()

    def quote_and_confirm(page: Page) -> str:
        box = page.locator("#quote")
        box.get_by_label(re.compile(r"^Excel \(xlsx\) or CSV file")).set_input_files(upload)
        box.get_by_role("button", name="Get a quote").click()

        box = page.locator("#quote")
        expect(box.get_by_role("heading", name=upload.name)).to_be_visible()
        expect(box.locator("tr", has_text="Cost")).to_contain_text(
            f"{ROWS} rows × {PRICE} = {batch_cost} credits"
        )
        expect(box.locator("tr", has_text="Balance now")).to_contain_text(str(CREDITS - PRICE))
        expect(box.get_by_test_id("balance-after")).to_have_text(str(CREDITS - PRICE - batch_cost))
        assert page.evaluate(SAME_DOCUMENT_JS), "the quote reloaded the page (no htmx)"

        box.get_by_role("button", name=f"Confirm and pay {batch_cost} credits").click()
        expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
        return re.search(r"/jobs/([0-9a-f-]{36})/$", page.url).group(1)

    def follow_the_progress(page: Page) -> list[dict]:
        """Every state the job page shows, read more often than the page polls."""
        seen: list[dict] = []
        deadline = time.monotonic() + WORKER_TIMEOUT
        while time.monotonic() < deadline:
            state = page.evaluate(PROGRESS_JS)
            if state is not None and (not seen or state != seen[-1]):
                seen.append(state)
            if state is not None and state["status"] in FINISHED:
                break
            page.wait_for_timeout(PROGRESS_READ_SECONDS * 1000)
        return seen

    def see_the_finished_job(page: Page) -> list[str]:
        box = page.locator("#job-progress")
        expect(box.get_by_test_id("status")).to_have_text("succeeded")
        expect(box.get_by_test_id("counts")).to_have_text(
            f"{ROWS - len(BAD_ROWS)} predicted, {len(BAD_ROWS)} failed, of {ROWS} (100%)"
        )
        expect(box.locator("tr", has_text="Credits charged")).to_contain_text(str(batch_cost))
        expect(box.get_by_test_id("refunded")).to_have_text(str(refund))
        expect(box.locator("tr", has_text="Net cost")).to_contain_text(str(batch_cost - refund))
        expect(box.get_by_test_id("preview")).to_be_visible()
        expect(box).not_to_have_attribute("hx-trigger", re.compile(".*"))
        # The polling has stopped: the page asks for nothing more.
        requests: list[str] = []

        def note(request) -> None:
            requests.append(request.url)

        page.on("request", note)
        page.wait_for_timeout(QUIET_SECONDS * 1000)
        page.remove_listener("request", note)
        return requests

    def download_the_result(page: Page) -> tuple[str, Path]:
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download the result (xlsx)").click()
        download = download_info.value
        path = tmp_path / "download" / download.suggested_filename
        download.save_as(path)
        return download.suggested_filename, path

    def read_the_statement(page: Page) -> list[list[str]]:
        page.locator("header").get_by_role("link", name="Billing").click()
        expect(page).to_have_url(re.compile(r"/billing/$"))
        expect(page.get_by_test_id("balance")).to_have_text(
            str(CREDITS - PRICE - batch_cost + refund)
        )
        rows = page.locator("#statement tbody tr")
        expect(rows).to_have_count(4)
        return [
            [cell.strip() for cell in rows.nth(index).locator("td").all_inner_texts()]
            for index in range(4)
        ]

    shown = tab.do(log_in_and_predict_one_row)
    single = PredictionJob.objects.get(owner=customer, kind=JobKind.SINGLE)
    assert single.status == JobStatus.SUCCEEDED
    assert float(shown.replace(",", "")) == pytest.approx(single.output["prediction"], abs=5e-4)

    job_id = tab.do(quote_and_confirm)
    job = PredictionJob.objects.get(pk=job_id, owner=customer)
    assert (job.kind, job.rows_total, job.cost_charged) == (JobKind.BATCH, ROWS, batch_cost)

    seen = tab.do(follow_the_progress)
    assert seen, "the job page shows no progress bar"
    assert seen[-1] == {"value": ROWS, "max": ROWS, "status": "succeeded", "polling": False}
    # The job takes a second or more, the page a fraction of it: it opens on a running job.
    assert len(seen) >= 2, f"the job page never showed the job running: {seen}"
    assert all(state["max"] == ROWS for state in seen), seen
    values = [state["value"] for state in seen]
    assert values == sorted(values), f"the bar went backwards: {seen}"
    running = seen[:-1]
    assert all(state["status"] in ("queued", "running") for state in running), seen
    assert all(state["polling"] for state in running), f"it stopped polling early: {seen}"
    # Failed rows count from the start (the file is checked before predicting), predicted
    # rows chunk by chunk: a value strictly between the two is a chunk seen on its way.
    assert any(len(BAD_ROWS) < value < ROWS for value in values[:-1]), (
        f"in chunks of {WORKER_CHUNK_ROWS} rows the bar never showed a value "
        f"between {len(BAD_ROWS)} and {ROWS} while predicting: {seen}"
    )

    requests = tab.do(see_the_finished_job)
    assert requests == [], f"the finished job's page still polls: {requests}"
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.rows_failed) == (
        JobStatus.SUCCEEDED,
        ROWS - len(BAD_ROWS),
        len(BAD_ROWS),
    )
    assert job.credits_refunded == refund

    name, path = tab.do(download_the_result)
    assert name == f"{SLUG}-{job_id[:8]}-result.xlsx"
    sheet = openpyxl.load_workbook(path, read_only=True).active
    table = list(sheet.iter_rows(values_only=True))
    assert len(table) == ROWS + 1
    assert list(table[0]) == [*COLUMNS, "prediction", "error"]
    for index, cells in enumerate(table[1:]):
        *inputs, prediction, error = cells
        if index in BAD_ROWS:
            column, value, message = BAD_ROWS[index]
            assert inputs[COLUMNS.index(column)] == value, (index, cells)
            assert error == message, (index, cells)
            assert prediction is None, (index, cells)
        else:
            assert error is None, (index, cells)
            assert isinstance(prediction, float), (index, cells)

    statement = tab.do(read_the_statement)
    balance_after_single = CREDITS - PRICE
    balance_after_charge = balance_after_single - batch_cost
    # Newest first: date, kind, credits, balance after, memo.
    assert [cells[1:] for cells in statement] == [
        ["refund", f"+{refund}", str(balance_after_charge + refund), f"{len(BAD_ROWS)} / {ROWS}"],
        ["charge", f"-{batch_cost}", str(balance_after_charge), f"{SLUG} v1 · {ROWS}"],
        ["charge", f"-{PRICE}", str(balance_after_single), f"{SLUG} v1 · 1"],
        ["grant", f"+{CREDITS}", str(CREDITS), "Welcome"],
    ]
    assert CreditAccount.objects.get(user=customer).balance == balance_after_charge + refund
    assert list(
        LedgerEntry.objects.filter(reference__startswith=f"job:{job_id}:")
        .order_by("id")
        .values_list("kind", "amount")
    ) == [(EntryKind.CHARGE, -batch_cost), (EntryKind.REFUND, refund)]
