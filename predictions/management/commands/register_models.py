from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mfdp.errors import DomainError
from predictions import services


class Command(BaseCommand):
    help = "Register the models of ml_artifacts/manifest.json in the catalog (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--folder", default=str(Path(settings.BASE_DIR) / "ml_artifacts"))

    def handle(self, *args, folder: str, **options):
        try:
            versions = services.register_manifest(folder=Path(folder))
        except DomainError as error:
            raise CommandError(error.message) from error
        except FileNotFoundError as error:
            raise CommandError(f"No manifest in {folder}: {error}") from error
        for version in versions:
            self.stdout.write(
                f"{version.model.slug} v{version.number}: {version.price_per_row} credits/row"
            )
