import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User

DEMO_USERS = (
    {"email": "staff@example.com", "name": "Demo Staff", "is_staff": True, "is_superuser": True},
    {"email": "customer@example.com", "name": "Demo Customer"},
)


class Command(BaseCommand):
    help = (
        "Create the demo users (idempotent). Their passwords are random and printed once, "
        "when the users are created; --reset-passwords prints new ones."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true")

    @transaction.atomic
    def handle(self, *args, reset_passwords: bool, **options):
        credentials = []
        for fields in DEMO_USERS:
            user = User.objects.filter(email=fields["email"]).first()
            if user is not None and not reset_passwords:
                continue
            password = secrets.token_urlsafe(12)
            if user is None:
                User.objects.create_user(password=password, **fields)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            credentials.append((fields["email"], password, fields.get("is_staff", False)))
        if not credentials:
            self.stdout.write(
                "Demo data is in place. Forgotten the demo passwords? "
                "Run: .venv/bin/python manage.py load_demo_data --reset-passwords"
            )
            return
        self.stdout.write(self.style.SUCCESS("Demo accounts (shown once, keep them):"))
        for email, password, is_staff in credentials:
            role = "staff, /admin/" if is_staff else "customer"
            self.stdout.write(f"  {email:<22} {password}   ({role})")
