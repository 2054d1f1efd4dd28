from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import User
from mfdp.errors import DomainError


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (shown this once only)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", required=True, help="What the token is for.")

    def handle(self, *args, email: str, name: str, **options):
        try:
            user = User.objects.get(email__iexact=email)
        except User.DoesNotExist as error:
            raise CommandError(f"No user with the e-mail {email}.") from error
        try:
            issued = services.api_token_create(user=user, name=name)
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(issued.key)
