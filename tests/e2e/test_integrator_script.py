"""examples/integrator.py, run as an integrator would run it (its own process, an HTTP client
only), against the live server, the real Celery worker and a real django-q2 cluster: token,
quote, one row with wait, a file with a webhook, the signed event, the result, the ledger."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from billing import services as billing
from predictions import services
from tests.conftest import CAR_PRICE_SLUG
from tests.factories import UserFactory, issue_token

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = Path(settings.BASE_DIR) / "examples" / "integrator.py"
SCRIPT_TIMEOUT = 240  # seconds; a bound, not an expectation


def test_the_integrator_script_runs_the_whole_journey(
    celery_worker, qcluster, live_server, car_price_folder, settings
):
    # The live server runs with DEBUG off; the script's receiver listens on 127.0.0.1.
    settings.WEBHOOK_ALLOW_PRIVATE = True
    services.register_manifest(folder=car_price_folder)
    customer = UserFactory()
    billing.grant(user=customer, amount=1_000, memo="integrator", actor=None)
    env = {
        **os.environ,
        "MFDP_URL": live_server.url,
        "MFDP_TOKEN": issue_token(customer),
        "MFDP_WEBHOOK_SECRET": customer.webhook_secret,
    }
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", CAR_PRICE_SLUG, "--rows", "300"],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    log = qcluster.read_text(errors="replace")[-3000:]
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\ncluster:\n{log}"
    lines = run.stdout.splitlines()
    assert lines[0] == f"signed in as {customer.email}"
    assert (
        "webhook job.succeeded (signature ok): 300/301 rows predicted, 1 failed, cost 301, refund 1"
    ) in run.stdout
    assert "result: " in run.stdout
    # The ledger: the file's charge and refund, the one row's charge, the grant.
    ledger = [line.split()[1:3] for line in lines if line.startswith("ledger:")]
    assert ledger == [["refund", "+1"], ["charge", "-301"], ["charge", "-1"], ["grant", "+1000"]]
