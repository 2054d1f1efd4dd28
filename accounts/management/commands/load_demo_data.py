import secrets
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing import services as billing
from billing.models import VoucherBatch

DEMO_CUSTOMER = "customer@example.com"
# Enough for a 10,000-row file with the dearest model (3 credits a row), with change to spare.
WELCOME_CREDITS = 50_000
DEMO_VOUCHER_NOTE = "demo"
DEMO_USERS = (
    {"email": "staff@example.com", "name": "Demo Staff", "is_staff": True, "is_superuser": True},
    {"email": DEMO_CUSTOMER, "name": "Demo Customer"},
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
        staff = User.objects.get(email=DEMO_USERS[0]["email"])
        customer = User.objects.get(email=DEMO_CUSTOMER)
        billing.grant(
            user=customer,
            amount=WELCOME_CREDITS,
            memo="Welcome credits",
            actor=staff,
            reference="demo:welcome-credits",
        )
        batch = VoucherBatch.objects.filter(note=DEMO_VOUCHER_NOTE).first()
        if batch is None:
            batch = billing.voucher_batch_create(
                count=3,
                credits=50,
                expires_at=timezone.now() + timedelta(days=365),
                note=DEMO_VOUCHER_NOTE,
                actor=staff,
            )
        unused = batch.vouchers.filter(redeemed_at__isnull=True).first()
        if unused is not None:
            self.stdout.write(
                f"A demo voucher worth {batch.credits} credits: {unused.display_code}"
            )
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
