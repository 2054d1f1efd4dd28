"""gunicorn's settings (the Procfile and docker-compose.yml start gunicorn with this file).
Threads matter: a request waiting for a result (`Prefer: wait=N`) holds one; see
API_WAIT_SLOTS in mfdp/settings.py."""

import os

workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
accesslog = "-"
graceful_timeout = 5
# Longer than the longest wait a request may ask for (60 s).
timeout = 90
