"""How a stored job file reaches its owner, for the pages and the API alike: a short-lived
signed link on S3 (S3_SIGNED_URL_SECONDS), a stream from the filesystem default."""

from django.conf import settings
from django.http import FileResponse, HttpResponseRedirect
from storages.backends.s3 import S3Storage

from .models import PredictionJob

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def result_filename(job: PredictionJob) -> str:
    return f"{job.version.model.slug}-{str(job.pk)[:8]}-result.xlsx"


def link_signer(storage):
    """The storage that signs links for clients. SigV4 signs the host, so a link must be
    made for the name clients reach (S3_PUBLIC_ENDPOINT_URL) when the servers reach the
    bucket by another (http://minio:9000 inside compose). Signing needs no request."""
    public = settings.S3_PUBLIC_ENDPOINT_URL
    if not public or public == storage.endpoint_url:
        return storage
    signer = getattr(storage, "_public_link_signer", None)
    if signer is None:
        options = {name: getattr(storage, name) for name in storage.get_default_settings()}
        signer = S3Storage(**{**options, "endpoint_url": public})
        storage._public_link_signer = signer
    return signer


def stored_file_response(stored, *, filename: str, content_type: str | None):
    storage = stored.storage
    if hasattr(storage, "bucket"):
        disposition = f'attachment; filename="{filename}"'
        return HttpResponseRedirect(
            link_signer(storage).url(
                stored.name, parameters={"ResponseContentDisposition": disposition}
            )
        )
    return FileResponse(
        stored.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )
