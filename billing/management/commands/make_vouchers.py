from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing import services
from mfdp.errors import DomainError


class Command(BaseCommand):
    help = "Generate a batch of single-use voucher codes and print them, one per line."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--credits", type=int, required=True, help="Credits per code.")
        parser.add_argument("--expires", type=int, metavar="DAYS", help="Days until they expire.")
        parser.add_argument("--note", default="", help="For whom or what campaign.")

    def handle(self, *args, count: int, credits: int, expires, note: str, **options):
        if expires is not None and expires < 1:
            raise CommandError("--expires takes a number of days above zero.")
        expires_at = timezone.now() + timedelta(days=expires) if expires else None
        try:
            batch = services.voucher_batch_create(
                count=count, credits=credits, expires_at=expires_at, note=note, actor=None
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        for voucher in batch.vouchers.all():
            self.stdout.write(voucher.display_code)
        expiry = f"expire {expires_at:%Y-%m-%d %H:%M %Z}" if expires_at else "never expire"
        self.stderr.write(f"{count} codes of {credits} credits each; they {expiry}.")
