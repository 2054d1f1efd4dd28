"""Staff run the business from the admin: a user's page shows their credits and jobs and leads
to billing's one grant/adjust form; the index opens with today's figures. Through the admin's
own URLs."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.admin import UserAdmin
from accounts.models import User
from billing import services as billing
from billing.models import CreditAccount, LedgerEntry
from mfdp.admin_dashboard import todays_figures
from predictions.models import JobKind, JobStatus, MLModel, ModelVersion, PredictionJob
from tests.factories import UserFactory
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")
USERS = reverse("admin:accounts_user_changelist")


@pytest.fixture
def staff():
    return User.objects.create_superuser(email="boss@example.com", password="x" * 12)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def version():
    """A version row is all the admin reads of a job's model: no model file is needed."""
    model = MLModel.objects.create(slug="cars", name_en="Cars", name_ru="Машины", task="regression")
    return ModelVersion.objects.create(
        model=model,
        number=1,
        artifact="models/cars/v1.skops",
        sha256="0" * 64,
        schema={"columns": []},
        target="Price",
        price_per_row=2,
    )


def _job(owner, version, status, **fields) -> PredictionJob:
    """A job as the worker leaves it; created_at and the rest are set after the insert
    (created_at is auto_now_add)."""
    job = PredictionJob.objects.create(
        owner=owner, version=version, kind=JobKind.SINGLE, status=status, price_per_row=2
    )
    if fields:
        PredictionJob.objects.filter(pk=job.pk).update(**fields)
        job.refresh_from_db()
    return job


def _charge(job, amount: int) -> LedgerEntry:
    return billing.charge(user=job.owner, amount=amount, reference=f"charge:{job.pk}", subject=job)


# ----------------------------------------------------------------------------- user page


def test_user_page_shows_balance_recent_entries_jobs_and_the_move_credits_link(
    staff_client, version
):
    customer = UserFactory(email="ivan@example.com")
    billing.grant(user=customer, amount=100, memo="Welcome gift", actor=None)
    job = _job(customer, version, JobStatus.SUCCEEDED)
    entry = _charge(job, 6)
    account = CreditAccount.objects.get(user=customer)

    response = staff_client.get(reverse("admin:accounts_user_change", args=[customer.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert ">94</a>" in page  # the balance, linked to the credit account
    assert "Welcome gift" in page
    assert reverse("admin:billing_ledgerentry_change", args=[entry.pk]) in page
    assert reverse("admin:predictions_predictionjob_change", args=[job.pk]) in page
    assert reverse("admin:billing_creditaccount_move", args=[account.pk]) in page
    all_jobs = (
        reverse("admin:predictions_predictionjob_changelist") + f"?owner__id__exact={customer.pk}"
    )
    assert all_jobs in page
    _job(UserFactory(), version, JobStatus.QUEUED)
    assert list(staff_client.get(all_jobs).context["cl"].result_list) == [job]


def test_user_page_lists_only_the_ten_most_recent_jobs_and_entries(staff_client, version):
    customer = UserFactory()
    billing.grant(user=customer, amount=1000, memo="plenty", actor=None)
    jobs = [_job(customer, version, JobStatus.SUCCEEDED) for _ in range(12)]
    for job in jobs:
        _charge(job, 1)

    page = staff_client.get(reverse("admin:accounts_user_change", args=[customer.pk]))

    links = page.content.decode()
    job_links = [
        j for j in jobs if reverse("admin:predictions_predictionjob_change", args=[j.pk]) in links
    ]
    assert job_links == jobs[-10:]
    assert "plenty" not in links  # the grant is the 13th newest entry


def test_the_move_credits_link_is_only_for_staff_who_may_write_the_ledger(client, version):
    customer = UserFactory()
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_user"),
        Permission.objects.get(codename="view_creditaccount"),
    )
    client.force_login(viewer)

    page = client.get(reverse("admin:accounts_user_change", args=[customer.pk]))

    assert page.status_code == 200
    account = CreditAccount.objects.get(user=customer)
    assert (
        reverse("admin:billing_creditaccount_move", args=[account.pk]) not in page.content.decode()
    )


# ----------------------------------------------------------------------------- users list


def test_users_list_shows_balances_sorted_with_bounded_queries(
    staff_client, django_assert_max_num_queries
):
    for amount in (30, 10, 20):
        billing.grant(user=UserFactory(), amount=amount, memo="seed", actor=None)
    for _ in range(20):
        UserFactory()

    column = str(UserAdmin.list_display.index("balance_column"))

    with django_assert_max_num_queries(8):
        response = staff_client.get(USERS, {"o": column})  # by balance, ascending

    assert response.status_code == 200
    balances = [user.credit_balance for user in response.context["cl"].result_list]
    assert len(balances) == 24
    assert balances == sorted(balances)
    assert balances[-3:] == [10, 20, 30]
    assert '<td class="field-balance_column">30</td>' in response.content.decode()


def test_more_users_cost_the_users_list_no_more_queries(
    staff_client, django_assert_max_num_queries
):
    for _ in range(3):
        UserFactory()
    with django_assert_max_num_queries(8) as few:
        staff_client.get(USERS)
    for _ in range(30):
        UserFactory()
    with django_assert_max_num_queries(len(few.captured_queries)):
        staff_client.get(USERS)


def test_staff_cannot_delete_users(staff_client):
    customer = UserFactory()
    assert (
        staff_client.get(reverse("admin:accounts_user_delete", args=[customer.pk])).status_code
        == 403
    )


# ----------------------------------------------------------------------------- index


def _prepared_day(version):
    """Today: 2 queued, 1 running, 1 succeeded, 1 failed; charges of 10 and 3, a refund of 4.
    Yesterday: a job that failed 30 hours ago, outside today and the last 24 hours."""
    customer = UserFactory()
    billing.grant(user=customer, amount=100, memo="seed", actor=None)
    now = timezone.now()
    _job(customer, version, JobStatus.QUEUED)
    _job(customer, version, JobStatus.QUEUED)
    _job(customer, version, JobStatus.RUNNING, heartbeat_at=now - timedelta(minutes=5))
    done = _job(customer, version, JobStatus.SUCCEEDED, finished_at=now)
    failed = _job(customer, version, JobStatus.FAILED, finished_at=now)
    billing.refund(charge=_charge(done, 10), amount=4, reference=f"refund:{done.pk}")
    _charge(failed, 3)
    _job(
        customer,
        version,
        JobStatus.FAILED,
        created_at=now - timedelta(hours=31),
        finished_at=now - timedelta(hours=30),
    )
    return now


def test_the_index_shows_todays_figures_and_the_failed_link(staff_client, version):
    _prepared_day(version)
    WebhookEvent.objects.create(
        owner=UserFactory(), type="test", url="https://example.com/hook", payload={}
    )

    response = staff_client.get(INDEX)

    assert response.status_code == 200
    figures = response.context["todays_figures"]
    counts = {row.status: row.count for row in figures.jobs_by_status}
    assert counts == {"queued": 2, "running": 1, "succeeded": 1, "failed": 1, "canceled": 0}
    assert figures.jobs_total == 5
    assert (figures.credits_charged, figures.credits_refunded) == (13, 4)
    assert figures.failed_last_24h == 1
    assert figures.jobs_running == 1
    assert figures.webhooks_pending == 1
    page = response.content.decode()
    assert 'id="credits-charged">13<' in page
    assert 'id="credits-refunded">4<' in page
    failed_link = reverse("admin:predictions_predictionjob_changelist") + "?status=failed"
    assert f'<a id="failed-jobs" href="{failed_link}">1</a>' in page
    assert "Last job heartbeat" in page
    assert staff_client.get(failed_link).status_code == 200


def test_the_status_links_of_the_index_open_todays_jobs(staff_client, version):
    _prepared_day(version)
    page = staff_client.get(INDEX).content.decode()
    start = page.index('class="job-status-queued" href="') + len('class="job-status-queued" href="')
    url = page[start : page.index('"', start)].replace("&amp;", "&")

    listed = staff_client.get(url)

    assert listed.status_code == 200
    assert [job.status for job in listed.context["cl"].result_list] == ["queued", "queued"]


def test_tomorrow_todays_figures_start_again_from_zero(version):
    now = _prepared_day(version)

    figures = todays_figures(now=now + timedelta(days=1))

    assert figures.jobs_total == 0
    assert (figures.credits_charged, figures.credits_refunded) == (0, 0)
    assert figures.jobs_running == 1  # still running: not a figure of the day


def test_todays_figures_follow_the_local_day(settings, version):
    settings.TIME_ZONE = "Asia/Vladivostok"  # UTC+10: the local day starts at 14:00 UTC
    vladivostok = ZoneInfo("Asia/Vladivostok")
    customer = UserFactory()
    _job(  # local 00:30 on the 10th, still the 9th in UTC: today
        customer,
        version,
        JobStatus.SUCCEEDED,
        created_at=datetime(2026, 3, 10, 0, 30, tzinfo=vladivostok),
    )
    for local_time in (datetime(2026, 3, 9, 23, 59), datetime(2026, 3, 11, 1, 0)):
        _job(customer, version, JobStatus.FAILED, created_at=local_time.replace(tzinfo=vladivostok))

    figures = todays_figures(now=datetime(2026, 3, 10, 12, 0, tzinfo=vladivostok))

    assert figures.day.isoformat() == "2026-03-10"
    counts = {row.status: row.count for row in figures.jobs_by_status}
    assert (counts["succeeded"], counts["failed"], figures.jobs_total) == (1, 0, 1)


def test_the_index_has_no_figures_for_staff_who_cannot_see_jobs(client):
    client.force_login(UserFactory(is_staff=True))
    response = client.get(INDEX)
    assert response.status_code == 200
    assert "todays_figures" not in response.context
    assert b"todays-figures" not in response.content


def test_customers_are_sent_to_the_admin_login(client):
    client.force_login(UserFactory())
    response = client.get(INDEX)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# ----------------------------------------------------------------------------- logging


def test_revoking_tokens_in_the_admin_is_logged_with_the_staff_user(staff_client, staff):
    issued = account_services.api_token_create(user=UserFactory(), name="leaked")

    staff_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [issued.token.pk]},
    )

    log = LogEntry.objects.get(object_id=str(issued.token.pk))
    assert (log.user, log.action_flag) == (staff, CHANGE)
