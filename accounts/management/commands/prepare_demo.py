from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Everything `make demo` needs before it serves, in one process (each separate "
        "manage.py start costs seconds): migrate, collectstatic, register_models, "
        "load_demo_data, setup_schedules. Idempotent."
    )

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("register_models", stdout=self.stdout)
        call_command("load_demo_data", stdout=self.stdout)
        call_command("setup_schedules", stdout=self.stdout)
