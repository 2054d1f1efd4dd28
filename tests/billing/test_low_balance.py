"""The low-balance e-mail: the threshold form on the billing page, the service that sends one
e-mail per crossing, and its housekeeping schedule."""

import threading
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django_q.models import Schedule

from billing import services
from billing.models import CreditAccount, LedgerEntry
from mfdp import housekeeping
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BILLING = reverse("billing:billing")
THRESHOLD = reverse("billing:low_balance_threshold")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def customer():
    user = UserFactory(email="low@example.com")
    services.grant(user=user, amount=100, memo="Welcome", actor=None)
    return user


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer)
    return client


def _account(user) -> CreditAccount:
    return CreditAccount.objects.get(user=user)


_charges = iter(range(10**6))


def _charge(user, amount: int) -> None:
    services.charge(user=user, amount=amount, reference=f"test-charge:{next(_charges)}")


# ----------------------------------------------------------------------------- the form


def test_the_form_sets_the_threshold_and_answers_its_partial(customer_client, customer):
    response = customer_client.post(THRESHOLD, {"threshold": "40"}, **HTMX)

    assert response.status_code == 200
    page = response.content.decode()
    assert page.lstrip().startswith('<article id="low-balance"')
    assert "We will e-mail you when your balance falls below 40 credits." in page
    assert 'value="40"' in page
    assert _account(customer).low_balance_threshold == 40


def test_the_billing_page_shows_the_current_threshold(customer_client, customer):
    services.low_balance_threshold_set(user=customer, threshold=25)

    page = customer_client.get(BILLING).content.decode()

    assert 'id="low-balance"' in page
    assert 'name="threshold" id="id_threshold"' in page
    assert 'value="25"' in page


def test_an_empty_threshold_turns_the_email_off(customer_client, customer):
    services.low_balance_threshold_set(user=customer, threshold=40)

    response = customer_client.post(THRESHOLD, {"threshold": ""}, **HTMX)

    assert response.status_code == 200
    assert "Low-balance e-mails are off." in response.content.decode()
    assert _account(customer).low_balance_threshold is None


def test_the_plain_form_redirects_with_a_message(customer_client, customer):
    response = customer_client.post(THRESHOLD, {"threshold": "0"}, follow=True)

    assert response.redirect_chain == [(BILLING, 302)]
    assert "We will e-mail you when your balance falls below 0 credits." in (
        response.content.decode()
    )
    assert _account(customer).low_balance_threshold == 0


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("-1", "greater than or equal to 0"),
        ("ten", "Enter a whole number."),
        ("1.5", "Enter a whole number."),
        (str(services.MAX_AMOUNT + 1), "less than or equal to"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_bad_threshold_is_refused_with_a_message_and_costs_nothing(
    customer_client, customer, typed, message, htmx
):
    services.low_balance_threshold_set(user=customer, threshold=30)
    entries = LedgerEntry.objects.count()

    response = customer_client.post(THRESHOLD, {"threshold": typed}, **(HTMX if htmx else {}))

    # htmx swaps 2xx only: the error comes back in the partial with a 200.
    assert response.status_code == (200 if htmx else 400)
    page = response.content.decode()
    assert 'class="errorlist" role="alert"' in page
    assert message in page
    assert 'aria-invalid="true"' in page
    account = _account(customer)
    assert account.low_balance_threshold == 30
    assert account.balance == 100
    assert LedgerEntry.objects.count() == entries


def test_the_threshold_door_needs_a_login_and_a_post(client, customer_client):
    assert customer_client.get(THRESHOLD).status_code == 405
    client.logout()
    response = client.post(THRESHOLD, {"threshold": "10"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_service_refuses_a_threshold_out_of_range(customer):
    with pytest.raises(services.InvalidInput):
        services.low_balance_threshold_set(user=customer, threshold=-1)
    with pytest.raises(services.InvalidInput):
        services.low_balance_threshold_set(user=customer, threshold=services.MAX_AMOUNT + 1)
    assert _account(customer).low_balance_threshold is None


# ----------------------------------------------------------------------------- the e-mail


def test_a_charge_that_crosses_the_threshold_sends_exactly_one_email_with_the_balance(customer):
    services.low_balance_threshold_set(user=customer, threshold=50)
    _charge(customer, 30)
    assert services.notify_low_balances() == 0  # 70: still above

    _charge(customer, 25)

    assert housekeeping.send_low_balance_emails() == "1 low-balance e-mail(s) sent"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["low@example.com"]
    assert "45" in message.subject
    assert "credits left: 45" in message.body
    assert "threshold you set (50)" in message.body
    assert _account(customer).low_balance_notified_at is not None


def test_running_the_task_again_sends_no_second_email(customer):
    services.low_balance_threshold_set(user=customer, threshold=50)
    _charge(customer, 60)
    assert services.notify_low_balances() == 1

    _charge(customer, 10)  # further down, the same crossing

    assert services.notify_low_balances() == 0
    assert services.notify_low_balances() == 0
    assert len(mail.outbox) == 1


def test_a_top_up_above_the_threshold_and_a_new_crossing_send_one_more_email(customer):
    services.low_balance_threshold_set(user=customer, threshold=50)
    _charge(customer, 60)
    assert services.notify_low_balances() == 1

    services.grant(user=customer, amount=20, memo="Top-up", actor=None)  # 60: back above
    assert services.notify_low_balances() == 0
    assert _account(customer).low_balance_notified_at is None
    _charge(customer, 15)  # 45: a new crossing

    assert services.notify_low_balances() == 1
    assert services.notify_low_balances() == 0
    assert len(mail.outbox) == 2
    assert "credits left: 45" in mail.outbox[1].body


def test_without_a_threshold_no_email_is_sent(customer):
    _charge(customer, 100)

    assert services.notify_low_balances() == 0
    assert mail.outbox == []


def test_a_balance_exactly_at_the_threshold_is_not_low(customer):
    services.low_balance_threshold_set(user=customer, threshold=40)
    _charge(customer, 60)

    assert services.notify_low_balances() == 0
    assert mail.outbox == []


def test_setting_a_threshold_at_or_under_the_balance_clears_the_mark(customer):
    services.low_balance_threshold_set(user=customer, threshold=50)
    _charge(customer, 60)  # 40
    assert services.notify_low_balances() == 1

    services.low_balance_threshold_set(user=customer, threshold=60)  # still under: no new mail
    assert services.notify_low_balances() == 0
    services.low_balance_threshold_set(user=customer, threshold=30)  # 40 is above: cleared
    assert _account(customer).low_balance_notified_at is None
    _charge(customer, 15)  # 25: crosses the new threshold

    assert services.notify_low_balances() == 1
    assert len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_an_account_locked_elsewhere_is_skipped_and_mailed_on_the_next_run(customer):
    services.low_balance_threshold_set(user=customer, threshold=50)
    _charge(customer, 60)
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                CreditAccount.objects.select_for_update().get(user=customer)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(10)
        assert services.notify_low_balances() == 0
    finally:
        release.set()
        holder.join()

    assert services.notify_low_balances() == 1
    assert len(mail.outbox) == 1


# ----------------------------------------------------------------------------- the schedule


def test_the_schedule_exists_after_setup_schedules(settings):
    settings.HOUSEKEEPING_LOW_BALANCE_MINUTES = 12

    call_command("setup_schedules", stdout=StringIO())

    schedule = Schedule.objects.get(name="housekeeping: low-balance e-mails")
    assert schedule.func == "mfdp.housekeeping.send_low_balance_emails"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        Schedule.MINUTES,
        12,
        -1,
    )
