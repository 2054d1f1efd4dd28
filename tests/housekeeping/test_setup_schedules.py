"""setup_schedules: the housekeeping schedules, created once, kept as staff edit them."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.models import Schedule

from mfdp.housekeeping import SCHEDULES
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NAMES = sorted(spec.name for spec in SCHEDULES)


def _setup() -> str:
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    return out.getvalue()


def test_setup_schedules_creates_each_schedule_once_with_the_settings_interval(settings):
    settings.HOUSEKEEPING_REAP_MINUTES = 7

    assert f"{len(SCHEDULES)} created" in _setup()
    assert f"0 created, {len(SCHEDULES)} already there" in _setup()

    assert sorted(Schedule.objects.values_list("name", flat=True)) == NAMES
    reaper = Schedule.objects.get(func="mfdp.housekeeping.reap_silent_jobs")
    assert (reaper.schedule_type, reaper.minutes, reaper.repeats) == (Schedule.MINUTES, 7, -1)


def test_every_scheduled_function_can_be_imported():
    _setup()
    for func in Schedule.objects.values_list("func", flat=True):
        assert callable(import_string(func))


def test_a_schedule_edited_by_staff_is_not_overwritten_and_a_deleted_one_comes_back():
    _setup()
    reaper = Schedule.objects.get(func="mfdp.housekeeping.reap_silent_jobs")
    reaper.minutes = 1
    reaper.repeats = 0  # paused by staff
    reaper.save()
    Schedule.objects.filter(func="mfdp.housekeeping.redeliver_webhooks").delete()

    assert "1 created" in _setup()

    reaper.refresh_from_db()
    assert (reaper.minutes, reaper.repeats) == (1, 0)
    assert Schedule.objects.filter(func="mfdp.housekeeping.redeliver_webhooks").count() == 1


def test_staff_see_the_schedules_in_the_admin(client):
    _setup()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get(reverse("admin:django_q_schedule_changelist"))

    assert response.status_code == 200
    for name in NAMES:
        assert name in response.content.decode()


def test_prepare_demo_sets_up_the_schedules(monkeypatch):
    called = []
    from accounts.management.commands import prepare_demo

    monkeypatch.setattr(
        prepare_demo, "call_command", lambda name, *args, **kwargs: called.append(name)
    )
    call_command("prepare_demo", stdout=StringIO())

    assert called[-1] == "setup_schedules"
