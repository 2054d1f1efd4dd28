from django.core.management.base import BaseCommand
from django.db import transaction
from django_q.models import Schedule

from mfdp.housekeeping import SCHEDULES


class Command(BaseCommand):
    help = (
        "Create the housekeeping schedules of django-q2 (reaper, retention purge, quote "
        "sweep, idempotency keys, webhook redelivery, low-balance e-mails) that do not exist yet, "
        "found by name. "
        "A schedule that exists is left as staff edited it in the admin. Idempotent."
    )

    def handle(self, *args, **options):
        created = []
        with transaction.atomic():
            for spec in SCHEDULES:
                if Schedule.objects.filter(name=spec.name).exists():
                    continue
                Schedule.objects.create(
                    name=spec.name,
                    func=spec.func,
                    schedule_type=Schedule.MINUTES,
                    minutes=spec.minutes,
                    repeats=-1,
                )
                created.append(spec.name)
        for name in created:
            self.stdout.write(f"Created the schedule {name!r}.")
        self.stdout.write(
            f"Housekeeping schedules: {len(created)} created, "
            f"{len(SCHEDULES) - len(created)} already there (left as they are)."
        )
