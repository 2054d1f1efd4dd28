"""gunicorn's settings (the Procfile and docker-compose.yml start gunicorn with this file).
Threads matter: a request waiting for a result (`Prefer: wait=N`) holds one; see
API_WAIT_SLOTS in mfdp/settings.py."""

import os

workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
accesslog = "-"
# One line a request, keyed like the application's JSON logs. The path without its query string
# (%(U)s, not %(r)s) and no Referer: either could carry a signed URL's credentials. The request
# id is the response's X-Request-ID (the caller's, if sane, or the one mfdp made up).
access_log_format = (
    'time="%(t)s" level=INFO logger=gunicorn.access request_id=%({x-request-id}o)s '
    'method=%(m)s path="%(U)s" status=%(s)s bytes=%(B)s duration_ms=%(M)s'
)
graceful_timeout = 5
# Longer than the longest wait a request may ask for (60 s).
timeout = 90
