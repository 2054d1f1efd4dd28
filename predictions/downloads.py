"""How a stored job file reaches its owner, for the pages and the API alike: a short-lived
signed link on S3 (S3_SIGNED_URL_SECONDS), a stream from the filesystem default."""

from django.http import FileResponse, HttpResponseRedirect

from .models import PredictionJob

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def result_filename(job: PredictionJob) -> str:
    return f"{job.version.model.slug}-{str(job.pk)[:8]}-result.xlsx"


def stored_file_response(stored, *, filename: str, content_type: str | None):
    storage = stored.storage
    if hasattr(storage, "bucket"):
        disposition = f'attachment; filename="{filename}"'
        return HttpResponseRedirect(
            storage.url(stored.name, parameters={"ResponseContentDisposition": disposition})
        )
    return FileResponse(
        stored.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )
