from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from billing import services
from billing.models import LedgerEntry
from mfdp.errors import DomainError


class Command(BaseCommand):
    help = "Give credits to a user through the billing service (a 'grant' on their statement)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("amount", type=int)
        parser.add_argument("--memo", required=True, help="Why; the customer sees it.")
        parser.add_argument(
            "--reference",
            help="An idempotency reference: running the command again with it grants nothing.",
        )
        parser.add_argument("--actor", help="E-mail of the staff member this is done for.")

    def handle(self, *args, email: str, amount: int, memo: str, reference, actor, **options):
        user = _user(email)
        actor_user = _user(actor) if actor else None
        if actor_user is not None and not actor_user.is_staff:
            raise CommandError(f"{actor} is not staff.")
        # Only to tell the operator; the service itself guarantees the grant happens once.
        granted_before = (
            bool(reference) and LedgerEntry.objects.filter(reference=reference).exists()
        )
        try:
            entry = services.grant(
                user=user, amount=amount, memo=memo, actor=actor_user, reference=reference
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        if granted_before:
            self.stdout.write(
                f"{user.email}: already granted with the reference {reference} "
                f"({entry.amount:+d} credits on {entry.created_at:%Y-%m-%d}); nothing changed."
            )
            return
        self.stdout.write(f"{user.email}: {entry.amount:+d} credits, balance {entry.balance_after}")


def _user(email: str) -> User:
    try:
        return User.objects.get(email__iexact=email)
    except User.DoesNotExist as error:
        raise CommandError(f"No user with the e-mail {email}.") from error
