"""Shared fixtures: PostgreSQL and Redis when configured, a real Celery worker, S3 on moto.

The services contract:

- PostgreSQL is in use when DATABASE_URL points at postgres; Redis when CELERY_BROKER_URL is
  redis://. Without them the embedded defaults serve (SQLite, the filesystem broker).
- With CI=true (or 1) both must be configured and answering, otherwise the session stops
  before the first test with a message that names what is missing.
- Without CI, a test marked ``postgres`` or ``redis`` is skipped when that service is not in
  use or does not answer, and so is any test that needs a service which is configured but
  does not answer; ``-ra`` prints the reasons.

Tests send Celery tasks to a queue of their own (TEST_QUEUE), so a worker of another checkout
on the same broker never takes them, and the ``celery_worker`` fixture's worker consumes only
that queue.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import override_settings

from mfdp.celery import app as celery_app

TEST_QUEUE = f"mfdp-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
WORKER_START_TIMEOUT = 90  # seconds; a bound, not an expectation
WORKER_STOP_TIMEOUT = 20
SERVICE_PROBE_TIMEOUT = 3
# Test modules whose tasks the test worker must import besides the project's own
# (they register under explicit names, so the worker's module path does not matter).
# The session worker predicts in small chunks, so tests (and the browser) can watch progress.
WORKER_CHUNK_ROWS = 20
WORKER_INCLUDE = ("tests.mfdp.test_celery",)
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
S3_TEST_CREDENTIALS = {"access_key": "mfdp-test-key", "secret_key": "mfdp-test-secret"}
S3_TEST_REGION = "us-east-1"

DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_setup"}
BROKER_FIXTURES = {"celery_worker", "celery_broker"}


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


@dataclasses.dataclass(frozen=True)
class Service:
    name: str
    in_use: bool
    reachable: bool
    detail: str

    @property
    def available(self) -> bool:
        return self.in_use and self.reachable


SERVICES = pytest.StashKey[dict[str, Service]]()


def _probe_postgres() -> Service:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return Service(
            "PostgreSQL",
            False,
            False,
            f"DATABASE_URL does not point at PostgreSQL ({db['ENGINE']})",
        )
    where = f"{db.get('HOST') or 'local socket'}:{db.get('PORT') or 5432} as {db.get('USER')!r}"
    try:
        import psycopg

        # The maintenance database, as Django uses to create the test database.
        with psycopg.connect(
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=SERVICE_PROBE_TIMEOUT,
            sslmode=db.get("OPTIONS", {}).get("sslmode", "prefer"),
        ):
            pass
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Service(
            "PostgreSQL", True, False, f"PostgreSQL at {where} does not answer: {reason}"
        )
    return Service("PostgreSQL", True, True, f"PostgreSQL at {where}")


def _probe_redis() -> Service:
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "rediss://")):
        return Service(
            "Redis", False, False, f"CELERY_BROKER_URL is not redis:// ({broker.split(':')[0]})"
        )
    import redis

    urls = {"CELERY_BROKER_URL": broker}
    if str(settings.CELERY_RESULT_BACKEND).startswith(("redis://", "rediss://")):
        urls["CELERY_RESULT_BACKEND"] = settings.CELERY_RESULT_BACKEND
    for variable, url in urls.items():
        where = _redact(url)
        try:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=SERVICE_PROBE_TIMEOUT,
                socket_timeout=SERVICE_PROBE_TIMEOUT,
            )
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:
            return Service(
                "Redis", True, False, f"Redis of {variable} at {where} does not answer: {exc}"
            )
    return Service("Redis", True, True, f"Redis at {_redact(broker)}")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


_hasher_override = override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS)


def pytest_configure(config: pytest.Config) -> None:
    # Fast hashing for every test: PBKDF2's deliberate slowness buys nothing here.
    _hasher_override.enable()
    # Everything the test process enqueues goes to the test queue (the worker's env says the
    # same through CELERY_QUEUE, see settings.CELERY_TASK_DEFAULT_QUEUE).
    celery_app.conf.task_default_queue = TEST_QUEUE
    os.environ["CELERY_QUEUE"] = TEST_QUEUE


def pytest_unconfigure(config: pytest.Config) -> None:
    _hasher_override.disable()


def pytest_sessionstart(session: pytest.Session) -> None:
    services = {"postgres": _probe_postgres(), "redis": _probe_redis()}
    session.config.stash[SERVICES] = services
    if is_ci():
        missing = [s for s in services.values() if not s.available]
        if missing:
            lines = "\n".join(f"  - {s.name}: {s.detail}" for s in missing)
            # Stops the session before any test, exit status 4 (ExitCode.USAGE_ERROR).
            raise pytest.UsageError(
                "CI=true needs PostgreSQL (DATABASE_URL=postgres://...) and Redis "
                f"(CELERY_BROKER_URL=redis://...), answering:\n{lines}"
            )


def pytest_report_header(config: pytest.Config) -> list[str]:
    services = config.stash.get(SERVICES, {})
    lines = [
        f"{s.name}: {'in use' if s.available else 'NOT AVAILABLE'} ({s.detail})"
        for s in services.values()
    ]
    return [*lines, f"CI: {is_ci()}; Celery test queue: {TEST_QUEUE}"]


def _needs_database(item: pytest.Item) -> bool:
    from django.test import TransactionTestCase

    cls = getattr(item, "cls", None)
    return (
        bool(item.get_closest_marker("django_db"))
        or bool(DB_FIXTURES & set(getattr(item, "fixturenames", ())))
        or (cls is not None and issubclass(cls, TransactionTestCase))
    )


def _needs_broker(item: pytest.Item) -> bool:
    return bool(BROKER_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    services = config.stash.get(SERVICES, None)
    for item in items:
        # The worker runs on the test database, so a test that uses it makes pytest-django
        # create that database (it creates only what the collected tests ask for). It is a
        # transactional test unless it says otherwise: the worker sees only committed rows, and
        # on SQLite an open test transaction would lock the worker's writes out.
        if "celery_worker" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
            "django_db"
        ):
            item.add_marker(pytest.mark.django_db(transaction=True))
        if services is None:
            continue
        postgres, redis_ = services["postgres"], services["redis"]
        if item.get_closest_marker("postgres") and not postgres.available:
            item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL: {postgres.detail}"))
        elif postgres.in_use and not postgres.reachable and _needs_database(item):
            item.add_marker(pytest.mark.skip(reason=f"needs the database: {postgres.detail}"))
        if item.get_closest_marker("redis") and not redis_.available:
            item.add_marker(pytest.mark.skip(reason=f"needs Redis: {redis_.detail}"))
        elif redis_.in_use and not redis_.reachable and _needs_broker(item):
            item.add_marker(pytest.mark.skip(reason=f"needs the broker: {redis_.detail}"))


# ----------------------------------------------------------------------------- everyday


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttles and other counters live in the cache; each test starts with none spent.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


# ----------------------------------------------------------------------------- services


@pytest.fixture(scope="session")
def celery_broker() -> str:
    """The configured broker URL, for tests that need the broker to answer (skips are decided
    at collection from this fixture's name)."""
    return settings.CELERY_BROKER_URL


@pytest.fixture
def closed_port():
    """A local TCP port that refuses connections: bound, never listening, held for the test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# ----------------------------------------------------------------------------- Celery worker


@dataclasses.dataclass(frozen=True)
class Worker:
    pid: int
    queue: str
    database: str
    log: Path


# Run in a service's process (Celery worker, django-q2 cluster) before it becomes the service:
# on Linux, ask the kernel to SIGTERM it when pytest dies, so that even a killed test run
# leaves no orphan behind. Arguments: pytest's pid, then the service's python arguments.
_CHILD_LAUNCHER = """
import os, sys
parent = int(sys.argv[1])
if sys.platform.startswith("linux"):
    import ctypes, signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    sys.exit("pytest went away before the service started")
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def service_env(**extra: str) -> dict[str, str]:
    """The environment of a service started for tests (Celery worker, django-q2 cluster): this
    process's, on the test database and the same var folder, plus `extra`."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mfdp.settings",
        "DATABASE_URL": _worker_database_url(connection.settings_dict),
        "MFDP_VAR_DIR": str(Path(settings.VAR_DIR).resolve()),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def start_service(python_args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python *python_args` in the project folder, in a process group of its own (killpg
    reaches its children), output to `log`, SIGTERMed by the kernel if pytest dies."""
    with log.open("wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-c", _CHILD_LAUNCHER, str(os.getpid()), *python_args],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _worker_database_url(settings_dict: dict) -> str:
    name = str(settings_dict["NAME"])
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        if name == ":memory:" or name.startswith("file:"):
            raise RuntimeError(
                f"a Celery worker cannot share an in-memory SQLite database ({name})"
            )
        return f"sqlite:///{Path(name).resolve()}"
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not in the environment; the worker cannot inherit it")
    return urlsplit(url)._replace(path="/" + quote(name)).geturl()


def _delete_test_queue() -> None:
    """Best effort: leave no test queue (or its binding) behind on a shared broker."""
    with contextlib.suppress(Exception), celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        queue = celery_app.amqp.queues[TEST_QUEUE].bind(conn.default_channel)
        queue.declare()  # a fresh channel deletes only the bindings it knows of
        queue.delete()


def _stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    # Its own process group: the signal reaches anything the worker may have started.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=WORKER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=WORKER_STOP_TIMEOUT)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, celery_broker, tmp_path_factory) -> Worker:
    """A real Celery worker (a separate process, threads pool) on the test database and the
    configured broker, consuming only TEST_QUEUE. Ready once it has answered mfdp.ping."""
    from celery.exceptions import TimeoutError as CeleryTimeoutError

    from mfdp.celery import ping

    log = tmp_path_factory.mktemp("celery-worker") / "worker.log"
    env = service_env(CELERY_QUEUE=TEST_QUEUE, PREDICT_CHUNK_ROWS=str(WORKER_CHUNK_ROWS))
    args = [
        "-A",
        "mfdp",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        "2",
        "--loglevel",
        "WARNING",
        "--queues",
        TEST_QUEUE,
        "--hostname",
        f"{TEST_QUEUE}@%h",
        "--include",
        ",".join(WORKER_INCLUDE),
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]

    def worker_log() -> str:
        text = log.read_text(errors="replace") if log.exists() else ""
        return text[-20000:] or "(empty)"

    proc = start_service(["-m", "celery", *args], env=env, log=log)
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        result = ping.delay()
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"the Celery worker exited with status {proc.returncode} before answering "
                    f"mfdp.ping; its log ({log}):\n{worker_log()}",
                    pytrace=False,
                )
            try:
                answer = result.get(timeout=1, interval=0.1)
            except CeleryTimeoutError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"the Celery worker did not answer mfdp.ping within "
                        f"{WORKER_START_TIMEOUT} s; its log ({log}):\n{worker_log()}",
                        pytrace=False,
                    )
                continue
            if answer != "pong":
                pytest.fail(f"mfdp.ping answered {answer!r}; worker log:\n{worker_log()}")
            break
        yield Worker(
            pid=proc.pid, queue=TEST_QUEUE, database=str(connection.settings_dict["NAME"]), log=log
        )
    finally:
        # Before django_db_setup's teardown, which cannot drop a database still in use.
        _stop_worker(proc)
        _delete_test_queue()


# ----------------------------------------------------------------------------- S3 on moto


@dataclasses.dataclass(frozen=True)
class S3Bucket:
    name: str
    endpoint_url: str
    client: object  # a boto3 S3 client with the test credentials


@pytest.fixture(scope="session")
def moto_server() -> str:
    """moto's S3 server on a free local port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server) -> S3Bucket:
    """A fresh, empty bucket on the moto server; emptied and removed after the test."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id=S3_TEST_CREDENTIALS["access_key"],
        aws_secret_access_key=S3_TEST_CREDENTIALS["secret_key"],
        region_name=S3_TEST_REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    name = f"mfdp-test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    try:
        yield S3Bucket(name=name, endpoint_url=moto_server, client=client)
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=obj["Key"])
        client.delete_bucket(Bucket=name)


@pytest.fixture
def s3_options(s3_bucket) -> dict:
    """The production S3 options (settings.S3_OPTIONS: path-style, SigV4, no ACL, signed
    short-lived URLs, no overwrite) with only the endpoint, bucket and credentials of moto."""
    return {
        **settings.S3_OPTIONS,
        "bucket_name": s3_bucket.name,
        "endpoint_url": s3_bucket.endpoint_url,
        "region_name": S3_TEST_REGION,
        **S3_TEST_CREDENTIALS,
    }


@pytest.fixture
def s3_storage(s3_options):
    """A django-storages S3Storage on a fresh moto bucket, built as STORAGES builds it."""
    from storages.backends.s3 import S3Storage

    return S3Storage(**s3_options)


@pytest.fixture
def s3_default_storage(settings, s3_options):
    """Makes Django's default storage the S3 storage on a fresh moto bucket for the test.

    Changing STORAGES through pytest-django's ``settings`` sends setting_changed, on which
    Django drops its cached storages and resets ``default_storage``; the change is undone
    (and the caches dropped again) after the test."""
    from django.core.files.storage import default_storage

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_options},
    }
    return default_storage


# ----------------------------------------------------------------------------- django-q2


@pytest.fixture
def qcluster(transactional_db, tmp_path):
    """A real django-q2 cluster (`manage.py qcluster`, its own process group) on the test
    database, delivering webhooks to private addresses; yields its log file."""
    log = tmp_path / "qcluster.log"
    env = service_env(WEBHOOK_ALLOW_PRIVATE="true", Q_WORKERS="1")
    proc = start_service(["manage.py", "qcluster"], env=env, log=log)
    try:
        yield log
    finally:
        # The cluster stops its own processes on SIGTERM; its process group is killed only
        # if it does not.
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=WORKER_STOP_TIMEOUT)


# ----------------------------------------------------------------------------- a real model

CAR_PRICE_SLUG = "car-price-basic"


@pytest.fixture(scope="session")
def car_price_folder(tmp_path_factory) -> Path:
    """ml_artifacts/ with car-price-basic alone: registering checks every file of a manifest
    in a child process, and this one is the smallest."""
    artifacts = Path(settings.BASE_DIR) / "ml_artifacts"
    manifest = json.loads((artifacts / "manifest.json").read_text())
    entry = next(entry for entry in manifest["models"] if entry["slug"] == CAR_PRICE_SLUG)
    folder = tmp_path_factory.mktemp(CAR_PRICE_SLUG)
    for name in (entry["file"], entry["plot"]):
        shutil.copy(artifacts / name, folder / name)
    (folder / "manifest.json").write_text(json.dumps({**manifest, "models": [entry]}))
    return folder
