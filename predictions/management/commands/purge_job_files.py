from django.core.management.base import BaseCommand

from predictions import services


class Command(BaseCommand):
    help = (
        "Delete prediction files past their retention (JOB_FILES_RETENTION_DAYS; the jobs stay "
        "and say so) and quoted uploads never confirmed. Safe to run at any time, any number "
        "of times."
    )

    def handle(self, *args, **options):
        jobs = services.purge_old_files()
        quotes = services.sweep_quote_uploads()
        self.stdout.write(
            f"Removed the files of {jobs} finished job(s) and {quotes} unconfirmed upload(s)."
        )
