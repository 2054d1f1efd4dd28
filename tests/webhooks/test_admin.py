"""Webhook events in the admin: read-only, attempts inline, filters, resend."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse
from django_q.models import OrmQ

from tests.factories import UserFactory
from webhooks import services, tasks
from webhooks.models import WebhookEvent

from .conftest import Answer

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:webhooks_webhookevent_changelist")


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def failed_event(make_job, receiver, allow_private):
    receiver.answer_with(Answer(status=500, body=b"nope"))
    event = services.job_finished(make_job(webhook_url=receiver.url))
    tasks.deliver(str(event.pk))
    return event


@pytest.fixture
def delivered_event(make_job, receiver, allow_private):
    event = services.job_finished(make_job(webhook_url=receiver.url))
    tasks.deliver(str(event.pk))
    return event


def test_events_are_listed_and_filtered_by_delivery_and_type(
    staff_client, failed_event, delivered_event
):
    html = staff_client.get(CHANGELIST).content.decode()
    assert str(failed_event.pk) in html
    assert str(delivered_event.pk) in html

    pending = staff_client.get(CHANGELIST, {"delivery": "pending"}).content.decode()
    assert str(failed_event.pk) in pending
    assert str(delivered_event.pk) not in pending

    delivered = staff_client.get(CHANGELIST, {"delivery": "delivered"}).content.decode()
    assert str(delivered_event.pk) in delivered
    assert str(failed_event.pk) not in delivered

    tests_only = staff_client.get(CHANGELIST, {"type__exact": "test"}).content.decode()
    assert str(failed_event.pk) not in tests_only


def test_an_event_page_shows_its_attempts_and_cannot_be_edited(staff_client, failed_event):
    url = reverse("admin:webhooks_webhookevent_change", args=[failed_event.pk])
    response = staff_client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "nope" in html
    assert "500" in html
    assert 'name="_save"' not in html
    assert staff_client.post(url, {"url": "https://evil.example/"}).status_code == 403
    assert staff_client.get(reverse("admin:webhooks_webhookevent_add")).status_code == 403


def test_resend_enqueues_the_event_again(staff_client, delivered_event):
    OrmQ.objects.all().delete()

    response = staff_client.post(
        CHANGELIST,
        {"action": "resend", helpers.ACTION_CHECKBOX_NAME: [str(delivered_event.pk)]},
        follow=True,
    )

    assert "1 event will be sent again." in response.content.decode()
    delivered_event.refresh_from_db()
    assert delivered_event.delivered_at is None
    assert delivered_event.is_pending
    assert [row.task["args"] for row in OrmQ.objects.all()] == [(str(delivered_event.pk),)]


def test_staff_without_the_change_permission_cannot_resend(client, delivered_event):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(viewer)

    html = client.get(CHANGELIST).content.decode()

    assert str(delivered_event.pk) in html
    assert 'value="resend"' not in html
    assert WebhookEvent.objects.filter(delivered_at__isnull=False).count() == 1
