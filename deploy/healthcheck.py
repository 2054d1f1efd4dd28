"""Container healthchecks for docker-compose.yml: `python deploy/healthcheck.py ROLE`.

- web: GET /healthz on this container's gunicorn (the process answers). It sends a Host
  header that ALLOWED_HOSTS accepts, and /healthz is exempt from the HTTPS redirect.
- worker: this container's Celery worker answers a control ping through the broker.
- housekeeping: this container's django-q2 cluster reports itself running or idle in the
  shared cache (CACHE_URL=redis://...); with a per-process cache it cannot be seen from
  here, so the check falls back to finding the qcluster process.

Exit status 0 is healthy, 1 is not; one line on stdout says why (docker inspect shows it).
"""

import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

WEB_PORT = 8000
TIMEOUT_SECONDS = 5


def _host_header() -> str:
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and "*" not in host:
            return host
    return "localhost"


def check_web() -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{WEB_PORT}/healthz", headers={"Host": _host_header()}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")
    return "web answers /healthz"


def _django() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mfdp.settings")
    import django

    django.setup()


def check_worker() -> str:
    _django()
    from mfdp.celery import app

    node = f"celery@{socket.gethostname()}"
    replies = app.control.ping(destination=[node], timeout=TIMEOUT_SECONDS)
    if not any(node in reply for reply in replies):
        raise RuntimeError(f"{node} did not answer a ping")
    return f"{node} answers"


def _qcluster_process_running() -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"qcluster" in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


def check_housekeeping() -> str:
    _django()
    from django.conf import settings
    from django_q.conf import Conf
    from django_q.status import Stat

    backend = settings.CACHES["default"]["BACKEND"]
    if "locmem" in backend.lower() or "dummy" in backend.lower():
        if not _qcluster_process_running():
            raise RuntimeError("no qcluster process")
        return "qcluster process running (the cache is per process: status not visible)"
    host = socket.gethostname()
    alive = {str(Conf.STARTING), str(Conf.WORKING), str(Conf.IDLE)}
    mine = [stat for stat in Stat.get_all() if stat.host == host]
    if not any(str(stat.status) in alive for stat in mine):
        statuses = [stat.status for stat in mine] or ["no status saved"]
        raise RuntimeError(f"django-q2 cluster on {host}: {', '.join(map(str, statuses))}")
    return f"django-q2 cluster on {host} is running"


CHECKS = {"web": check_web, "worker": check_worker, "housekeeping": check_housekeeping}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in CHECKS:
        print(f"usage: healthcheck.py {{{'|'.join(CHECKS)}}}")
        return 2
    try:
        print(CHECKS[argv[1]]())
    except (OSError, urllib.error.URLError, RuntimeError) as error:
        print(f"unhealthy: {error}")
        return 1
    except Exception as error:  # a healthcheck reports, it never shows a traceback
        print(f"unhealthy: {type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
