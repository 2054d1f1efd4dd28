"""The test-event button on the API tokens page, and webhook deliveries on the job page."""

import json

import pytest
from django.urls import reverse
from django_q.models import Schedule

from webhooks import services, tasks
from webhooks.models import EventType, WebhookEvent
from webhooks.throttles import WebhookTestThrottle

from .conftest import Answer

pytestmark = pytest.mark.django_db

TOKENS = reverse("accounts:tokens")
TEST_EVENT = reverse("accounts:webhook_test")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def customer(make_job):
    return make_job().owner


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer)
    return client


def test_the_tokens_page_offers_to_send_a_test_event(customer_client):
    page = customer_client.get(TOKENS).content.decode()
    assert "Send a test event" in page
    assert f'hx-post="{TEST_EVENT}"' in page


def test_a_test_event_is_delivered_and_its_answer_shown_in_place(
    customer_client, customer, receiver, allow_private, verify
):
    response = customer_client.post(TEST_EVENT, {"url": receiver.url}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="webhook-test">'), "the fragment only"
    assert "Delivered: your server answered 200" in html
    event = WebhookEvent.objects.get()
    assert (event.owner, event.type, event.url) == (customer, EventType.TEST, receiver.url)
    assert str(event.pk) in html
    (received,) = receiver.requests
    assert received.headers["MFDP-Event-Id"] == str(event.pk)
    assert verify(customer.webhook_secret, received.headers, received.body)
    assert json.loads(received.body)["type"] == "test"


def test_a_failed_test_event_shows_the_answer_and_is_not_retried(
    customer_client, receiver, allow_private
):
    receiver.answer_with(Answer(status=500, body=b"boom: stack trace"))

    html = customer_client.post(TEST_EVENT, {"url": receiver.url}, **HTMX).content.decode()

    assert "Not delivered: your server answered 500" in html
    assert "boom: stack trace" in html
    assert not Schedule.objects.exists()
    assert WebhookEvent.objects.get().given_up_at is not None


def test_an_unreachable_url_shows_the_error(customer_client, allow_private, closed_port):
    url = f"http://127.0.0.1:{closed_port}/hook"
    html = customer_client.post(TEST_EVENT, {"url": url}, **HTMX).content.decode()
    assert "Not delivered: ConnectionRefusedError" in html


def test_without_htmx_the_result_comes_back_as_a_message(customer_client, receiver, allow_private):
    response = customer_client.post(TEST_EVENT, {"url": receiver.url}, follow=True)

    assert response.redirect_chain == [(TOKENS, 302)]
    html = response.content.decode()
    assert "The test event was delivered: your server answered 200." in html
    assert f'value="{receiver.url}"' in html, "the form keeps the URL for the next test"


def test_a_refused_url_is_explained_and_sends_nothing(customer_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = customer_client.post(TEST_EVENT, {"url": "https://127.0.0.1/hook"}, **HTMX)

    assert response.status_code == 200
    assert "must point at a public address" in response.content.decode()
    assert not WebhookEvent.objects.exists()

    response = customer_client.post(TEST_EVENT, {"url": "http://example.com/hook"})
    assert response.status_code == 400
    assert "must start with https://" in response.content.decode()
    assert not WebhookEvent.objects.exists()


def test_test_events_are_throttled_per_user(
    customer_client, receiver, allow_private, monkeypatch, make_job, client
):
    monkeypatch.setattr(WebhookTestThrottle, "THROTTLE_RATES", {"webhook_test": "2/hour"})
    for _ in range(2):
        customer_client.post(TEST_EVENT, {"url": receiver.url}, **HTMX)

    html = customer_client.post(TEST_EVENT, {"url": receiver.url}, **HTMX).content.decode()

    assert "Too many attempts. Try again in" in html
    assert len(receiver.requests) == 2
    client.force_login(make_job().owner)
    html = client.post(TEST_EVENT, {"url": receiver.url}, **HTMX).content.decode()
    assert "Delivered" in html, "another user has a limit of their own"


def test_the_test_event_needs_a_post_and_a_login(client, customer_client):
    assert customer_client.get(TEST_EVENT).status_code == 405
    client.logout()
    response = client.post(TEST_EVENT, {"url": "https://example.com/"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# -- the job page ------------------------------------------------------------------------


def test_the_job_page_lists_every_delivery_attempt(client, make_job, receiver, allow_private):
    receiver.answer_with(Answer(status=503, body=b"busy"))
    job = make_job(webhook_url=receiver.url)
    event = services.job_finished(job)
    tasks.deliver(str(event.pk))
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=event.created_at)
    tasks.deliver(str(event.pk))
    client.force_login(job.owner)

    html = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()

    assert "Webhook deliveries" in html
    assert receiver.url in html
    assert str(event.pk) in html
    assert "delivered" in html
    rows = html.split('data-testid="webhook-attempts"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 3, "a header and two attempts"
    assert "<td>503</td>" in rows
    assert "<td>200</td>" in rows
    assert " ms</td>" in rows
    assert 'hx-get="' + reverse("webhooks:job_deliveries", args=[job.pk]) not in html, (
        "a delivered event needs no refreshing"
    )


def test_the_job_page_shows_a_failure_and_keeps_refreshing_while_retries_go_on(
    client, make_job, allow_private, closed_port
):
    job = make_job(webhook_url=f"http://127.0.0.1:{closed_port}/hook")
    tasks.deliver(str(services.job_finished(job).pk))
    client.force_login(job.owner)

    html = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()

    assert "ConnectionRefusedError" in html
    assert "next attempt" in html
    deliveries = reverse("webhooks:job_deliveries", args=[job.pk])
    assert f'hx-get="{deliveries}"' in html
    fragment = client.get(deliveries, **HTMX)
    assert fragment.status_code == 200
    assert fragment.content.decode().lstrip().startswith('<section id="webhook-deliveries"')


def test_a_job_without_a_webhook_shows_no_delivery_section(client, make_job):
    job = make_job()
    client.force_login(job.owner)
    html = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "Webhook deliveries" not in html


def test_another_users_deliveries_are_not_found(client, make_job, receiver):
    job = make_job(webhook_url=receiver.url)
    client.force_login(make_job().owner)
    response = client.get(reverse("webhooks:job_deliveries", args=[job.pk]))
    assert response.status_code == 404


def test_the_deliveries_fragment_refuses_other_methods(client, make_job, receiver):
    job = make_job(webhook_url=receiver.url)
    client.force_login(job.owner)
    response = client.post(reverse("webhooks:job_deliveries", args=[job.pk]))
    assert response.status_code == 405
