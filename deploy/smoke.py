"""Production mode, proven on this machine without Docker: `make smoke`.

Runs what docker-compose.yml runs, with DEBUG off, against PostgreSQL, Redis and S3 (moto's
server standing in for MinIO), then pays for predictions through the API over HTTP:

1. a throwaway PostgreSQL database (its name must contain "smoke"; dropped at the end), Redis
   databases of its own (flushed before and after), a moto S3 server with a bucket, a
   temporary MFDP_VAR_DIR, and a production environment (random SECRET_KEY, DEBUG=false,
   the settings' strict security defaults, PROXY_COUNT=1);
2. the image's and the `prepare` service's one-shots: collectstatic, migrate, register_models,
   setup_schedules; and `manage.py check --deploy --fail-level WARNING` with that environment;
3. the long-running services, each in its own process group with its log in a file:
   gunicorn (gunicorn.conf.py), a Celery worker and the django-q2 cluster;
4. /readyz answers 200 with database, broker and storage ok; deploy/healthcheck.py (the
   compose healthchecks) finds the worker and the cluster healthy;
5. a customer with credits (billing.services.grant) and an API token; then over HTTP only:
   one row of car-price-basic with `Prefer: wait=30` (201, succeeded, charged), the balance
   and the ledger, and a small CSV file whose result is downloaded through the signed S3 link.

The client plays the TLS-terminating proxy of docs/deploy.md (X-Forwarded-Proto: https), so
the processes run with exactly the environment `check --deploy` passed: HTTPS redirect,
secure cookies and HSTS stay on. Every process is stopped, and the database, the Redis
databases and the temporary folder removed, whatever happens. Exit status 0 means it all
worked; on failure the tail of each process's log is printed.

    SMOKE_DATABASE_URL  postgres://postgres@127.0.0.1:5432/mfdp_smoke (created and dropped)
    SMOKE_REDIS_URL     redis://127.0.0.1:6379 (the server; the database numbers below)
    SMOKE_REDIS_DBS     12,13,14 (broker, results, cache; flushed before and after)
    SMOKE_TIMEOUT       60 (seconds allowed for the services to become ready)
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(sys.executable).parent  # the venv's bin folder (make runs .venv/bin/python)
MODEL = "car-price-basic"
CREDITS = 1000
BUCKET = "mfdp-smoke"
STOP_TIMEOUT = 20
LOG_TAIL_LINES = 40
ONE_SHOT_TIMEOUT = 180
NO_PROXY = urllib.request.ProxyHandler({})

# Run in each service's process before it becomes the service: on Linux, ask the kernel to
# SIGTERM it if this script dies (even by SIGKILL), so that no service outlives a smoke run.
LAUNCHER = """
import os, sys
parent = int(sys.argv[1])
if sys.platform.startswith("linux"):
    import ctypes, signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    sys.exit("the smoke script went away before the service started")
os.execv(sys.argv[2], sys.argv[2:])
"""

# Made with the settings of the running services: a customer, credits through the one
# service that moves them, and an API token. Prints the token's key as JSON.
CREATE_CUSTOMER = f"""
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mfdp.settings")
import django
django.setup()
from accounts.models import User
from accounts.services import api_token_create
from billing import services as billing
user = User.objects.create_user(email="smoke@example.com", password=None, name="Smoke")
billing.grant(user=user, amount={CREDITS}, memo="Smoke test credits", actor=None)
print(json.dumps({{"token": api_token_create(user=user, name="smoke").key}}))
"""


class SmokeFailure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


class Timings:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.steps: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, name: str):
        print(f"smoke: {name} ...", flush=True)
        started = time.monotonic()
        yield
        self.steps.append((name, time.monotonic() - started))

    def report(self) -> str:
        width = max(len(name) for name, _seconds in self.steps)
        lines = [f"  {name:<{width}}  {seconds:6.2f} s" for name, seconds in self.steps]
        total = time.monotonic() - self.started
        return "\n".join([*lines, f"  {'total':<{width}}  {total:6.2f} s"])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------- state


class Database:
    """A PostgreSQL database of the smoke run's own, created empty and dropped at the end."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.name = unquote(parts.path.lstrip("/"))
        if parts.scheme not in {"postgres", "postgresql", "pgsql"} or "smoke" not in self.name:
            raise SmokeFailure(
                f"SMOKE_DATABASE_URL must be a postgres:// URL whose database name contains "
                f"'smoke' (it is dropped at the end), not {url!r}"
            )
        self.connect_args = {
            "host": parts.hostname or None,
            "port": parts.port or None,
            "user": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "dbname": "postgres",
            "connect_timeout": 5,
            "autocommit": True,
        }
        self.created = False

    def _execute(self, statement: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(**self.connect_args) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(self.name)))

    def create(self) -> None:
        self._execute("DROP DATABASE IF EXISTS {} WITH (FORCE)")  # a killed run's leftover
        self._execute("CREATE DATABASE {}")
        self.created = True

    def drop(self) -> None:
        if self.created:
            self._execute("DROP DATABASE IF EXISTS {} WITH (FORCE)")


class RedisDatabases:
    """Redis databases of the smoke run's own: FLUSHDB on those numbers only."""

    def __init__(self, url: str, numbers: list[int]) -> None:
        self.url = url.rstrip("/")
        self.numbers = numbers

    def url_of(self, index: int) -> str:
        return f"{self.url}/{self.numbers[index]}"

    def flush(self) -> None:
        import redis

        for number in self.numbers:
            client = redis.Redis.from_url(f"{self.url}/{number}", socket_connect_timeout=5)
            try:
                client.flushdb()
            finally:
                client.close()


# ----------------------------------------------------------------------------- processes


class Service:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("wb") as log_file:
            self.proc = subprocess.Popen(  # noqa: S603 (our own fixed command lines)
                [PYTHON, "-c", LAUNCHER, str(os.getpid()), *argv],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-LOG_TAIL_LINES:]) or "(empty)"


def stop_all(services: list[Service]) -> None:
    """SIGTERM each service's leader, as `docker compose stop` signals a container's main
    process: gunicorn's master, Celery's main process and the q2 cluster each stop their own
    children (the cluster does not, when its children are signalled too). Then SIGKILL
    whatever is left of each process group."""
    for service in services:
        with contextlib.suppress(ProcessLookupError):
            os.kill(service.proc.pid, signal.SIGTERM)
    started = time.monotonic()
    deadline = started + STOP_TIMEOUT
    for service in services:
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            print(f"smoke: {service.name} stopped after {time.monotonic() - started:.1f} s")
    for service in services:
        if service.alive():
            print(f"smoke: {service.name} ignored SIGTERM for {STOP_TIMEOUT} s: SIGKILL")
        # Also reaps stragglers of a leader that has already exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(service.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.proc.wait(timeout=5)


def start_one_shot(name: str, argv: list[str], env: dict[str, str], logs: Path):
    """A one-shot command started in the background, its output in logs/NAME.log."""
    with (logs / f"{name}.log").open("wb") as log_file:
        return subprocess.Popen(  # noqa: S603 (our own fixed command lines)
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def run_one_shot(name: str, argv: list[str], env: dict[str, str], logs: Path) -> str:
    log = logs / f"{name}.log"
    proc = subprocess.run(  # noqa: S603 (our own fixed command lines)
        argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=ONE_SHOT_TIMEOUT,
        check=False,
    )
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SmokeFailure(
            f"{' '.join(argv[1:])} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


# ----------------------------------------------------------------------------- HTTP


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # redirects are looked at, not followed (a signed link needs no token)


class Client:
    """The API over HTTP, as a TLS-terminating proxy forwards it (X-Forwarded-Proto)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.token = ""
        self.opener = urllib.request.build_opener(NO_PROXY, NoRedirect)

    def call(self, method, path, *, body=None, headers=None, proxied=True, timeout=60):
        request = urllib.request.Request(self.base + path, method=method, data=body)  # noqa: S310
        if proxied:
            request.add_header("X-Forwarded-Proto", "https")
            request.add_header("X-Forwarded-For", "127.0.0.1")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def json(self, method, path, payload=None, *, expect=(200,), headers=None):
        body = None if payload is None else json.dumps(payload).encode()
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = "application/json"
        status, _headers, raw = self.call(method, path, body=body, headers=headers)
        check(status in expect, f"{method} {path} answered {status}: {raw[:1000]!r}")
        return status, json.loads(raw) if raw else None


def multipart(fields: dict[str, str], file_name: str, file_body: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{file_name}"\r\nContent-Type: text/csv\r\n\r\n'
    )
    body = "".join(parts).encode() + file_body + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# ----------------------------------------------------------------------------- the run


def production_env(
    *, port: int, var_dir: Path, database: Database, redis_dbs: RedisDatabases, s3: str
) -> dict[str, str]:
    smoke = {
        "DJANGO_SETTINGS_MODULE": "mfdp.settings",
        "PYTHONUNBUFFERED": "1",
        "PORT": str(port),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),  # 64 characters
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{port},https://localhost:{port}",
        # Behind a TLS-terminating proxy, as docs/deploy.md runs it: the security settings
        # keep their strict defaults (HTTPS redirect, secure cookies, HSTS).
        "PROXY_COUNT": "1",
        "MFDP_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": database.url,
        "CACHE_URL": redis_dbs.url_of(2),
        "CELERY_BROKER_URL": redis_dbs.url_of(0),
        "CELERY_RESULT_BACKEND": redis_dbs.url_of(1),
        "CELERY_QUEUE": "celery",
        "Q_WORKERS": "1",
        "S3_BUCKET": BUCKET,
        "S3_ENDPOINT_URL": s3,
        "S3_ACCESS_KEY_ID": "mfdp-smoke",
        "S3_SECRET_ACCESS_KEY": secrets.token_urlsafe(24),
        "S3_REGION": "us-east-1",
        "S3_ADDRESSING_STYLE": "path",
        "EMAIL_URL": "consolemail://",
        "DEMO_TOPUP": "false",
        "WEBHOOK_ALLOW_PRIVATE": "false",
    }
    # Whatever the caller (CI, make) exported, the smoke run's own values win.
    return {**os.environ, **smoke}


def start_moto(timings: Timings):
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log

    with timings.step("S3 (moto server) and a bucket"):
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
    return server, endpoint


def create_bucket(endpoint: str, env: dict[str, str]) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=env["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=env["S3_SECRET_ACCESS_KEY"],
        region_name=env["S3_REGION"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket=BUCKET)


def wait_ready(client: Client, services: list[Service], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        for service in services:
            check(service.alive(), f"{service.name} exited with {service.proc.returncode}")
        # /readyz is exempt from the HTTPS redirect: ask it as a load balancer would.
        with contextlib.suppress(OSError):
            status, _headers, raw = client.call("GET", "/readyz", proxied=False, timeout=10)
            last = f"{status} {raw[:300]!r}"
            if status == 200:
                body = json.loads(raw)
                checks = body.get("checks", {})
                for name in ("database", "broker", "storage"):
                    check(checks.get(name, {}).get("status") == "ok", f"/readyz: {body}")
                return body
        time.sleep(0.25)
    raise SmokeFailure(f"/readyz did not answer 200 within {timeout:.0f} s (last: {last})")


def wait_healthy(role: str, env: dict[str, str], services: list[Service], timeout: float) -> str:
    """The compose healthcheck of `role` (deploy/healthcheck.py), until it passes."""
    deadline = time.monotonic() + timeout
    while True:
        for service in services:
            check(service.alive(), f"{service.name} exited with {service.proc.returncode}")
        proc = subprocess.run(  # noqa: S603 (our own fixed command line)
            [PYTHON, "deploy/healthcheck.py", role],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode == 0:
            return proc.stdout.strip()
        if time.monotonic() > deadline:
            raise SmokeFailure(f"healthcheck {role}: {proc.stdout.strip()} {proc.stderr[-500:]}")
        time.sleep(0.5)


def predict(client: Client, timings: Timings, s3_endpoint: str) -> list[str]:
    lines = []
    with timings.step("HTTP: production security in force"):
        status, headers, _raw = client.call("GET", "/api/v1/", proxied=False)
        check(
            status == 301 and headers.get("Location", "").startswith("https://"),
            f"plain HTTP was not redirected to HTTPS: {status} {headers.get('Location')}",
        )
        status, headers, _raw = client.call("GET", "/api/v1/")
        check(status == 200, f"GET /api/v1/ through the proxy answered {status}")
        check("max-age=" in headers.get("Strict-Transport-Security", ""), "no HSTS header")
        lines.append("plain HTTP redirected to HTTPS; HSTS sent over HTTPS")

    with timings.step("HTTP: balance and model"):
        _status, balance = client.json("GET", "/api/v1/balance/")
        check(balance == {"balance": CREDITS}, f"balance before: {balance}")
        _status, model = client.json("GET", f"/api/v1/models/{MODEL}/")
        price = model["price_per_row"]
        row = {column["name"]: column["example"] for column in model["schema"]}

    with timings.step("HTTP: one paid prediction (Prefer: wait=30)"):
        _status, job = client.json(
            "POST",
            "/api/v1/predictions/",
            {"model": MODEL, "input": row},
            expect=(201,),
            headers={"Prefer": "wait=30", "Idempotency-Key": str(uuid.uuid4())},
        )
        check(job["status"] == "succeeded", f"the prediction did not succeed: {job}")
        prediction = (job.get("output") or {}).get("prediction")
        check(isinstance(prediction, int | float), f"no prediction in the output: {job}")
        check(job["cost"] == price, f"charged {job['cost']}, the price is {price}: {job}")
        lines.append(f"one row of {MODEL}: prediction {prediction}, cost {job['cost']}")

    with timings.step("HTTP: balance and ledger show the charge"):
        _status, balance = client.json("GET", "/api/v1/balance/")
        check(balance == {"balance": CREDITS - price}, f"balance after one row: {balance}")
        _status, ledger = client.json("GET", "/api/v1/ledger/?kind=charge")
        charges = ledger["results"]
        check(
            len(charges) == 1
            and charges[0]["amount"] == -price
            and charges[0]["balance_after"] == CREDITS - price,
            f"the ledger's charges: {charges}",
        )
        lines.append(f"balance {CREDITS} -> {CREDITS - price}; ledger: charge {-price}")

    rows = 3
    with timings.step(f"HTTP: a {rows}-row CSV job and its result from S3"):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(list(row))
        for _ in range(rows):
            writer.writerow(list(row.values()))
        body, content_type = multipart({"model": MODEL}, "smoke.csv", out.getvalue().encode())
        status, _headers, raw = client.call(
            "POST",
            "/api/v1/predictions/",
            body=body,
            headers={"Content-Type": content_type, "Prefer": "wait=30"},
        )
        check(status in (201, 202), f"file upload answered {status}: {raw[:1000]!r}")
        job = json.loads(raw)
        deadline = time.monotonic() + 60
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            _status, job = client.json(
                "GET", f"/api/v1/predictions/{job['id']}/", headers={"Prefer": "wait=10"}
            )
        check(job["status"] == "succeeded", f"the file job did not succeed: {job}")
        check(job["cost"] == rows * price, f"file job charged {job['cost']}: {job}")
        status, headers, raw = client.call("GET", f"/api/v1/predictions/{job['id']}/result/")
        location = headers.get("Location", "")
        check(
            status == 302 and location.startswith(f"{s3_endpoint}/{BUCKET}/"),
            f"the result is not a signed link on S3: {status} {location!r} {raw[:300]!r}",
        )
        check("X-Amz-Signature=" in location, f"the link is not signed: {location}")
        with urllib.request.build_opener(NO_PROXY).open(location, timeout=30) as link:
            result = link.read()
        check(result[:2] == b"PK", f"the result is not an xlsx file: {result[:20]!r}")
        _status, balance = client.json("GET", "/api/v1/balance/")
        expected = CREDITS - price - rows * price
        check(balance == {"balance": expected}, f"balance after the file: {balance}")
        lines.append(
            f"{rows}-row CSV: {job['status']}, cost {job['cost']}; result {len(result)} bytes "
            f"of xlsx via a signed S3 link; balance {expected}"
        )
    return lines


def _until_finished(client: Client, path: str, *, done, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _status, body = client.json("GET", path)
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def train(client: Client, timings: Timings) -> list[str]:
    """An own model on the prefork worker: the sample table uploaded, explored, trained,
    and one row predicted with an explanation."""
    lines = []
    with timings.step("HTTP: a dataset uploaded and explored on the worker"):
        sample = (ROOT / "static" / "samples" / "car-prices.xlsx").read_bytes()
        body, content_type = multipart(
            {"target": "Price", "confirm": "true"}, "car-prices.xlsx", sample
        )
        status, _headers, raw = client.call(
            "POST", "/api/v1/datasets/", body=body, headers={"Content-Type": content_type}
        )
        check(status == 201, f"the dataset upload answered {status}: {raw[:1000]!r}")
        dataset = _until_finished(
            client,
            f"/api/v1/datasets/{json.loads(raw)['id']}/",
            done=lambda body: body["exploration"]["status"] in ("ready", "failed"),
        )
        check(dataset["exploration"]["status"] == "ready", f"exploration: {dataset}")
        lines.append(f"dataset of {dataset['rows']} rows explored on the worker")

    with timings.step("HTTP: a ridge regression trained on the worker"):
        _status, job = client.json(
            "POST",
            "/api/v1/trainings/",
            {"dataset": dataset["id"], "algorithm": "ridge", "name": "Smoke cars"},
            expect=(201,),
        )
        job = _until_finished(
            client,
            f"/api/v1/trainings/{job['id']}/",
            done=lambda body: body["status"] not in ("queued", "running"),
        )
        check(job["status"] == "succeeded", f"the training did not succeed: {job}")
        lines.append(f"ridge trained: R2 {job['model']['metrics']['r2']:.3f}, cost {job['cost']}")

    with timings.step("HTTP: one row of the own model, explained"):
        _status, model = client.json("GET", f"/api/v1/models/{job['model']['slug']}/")
        row = {column["name"]: column["example"] for column in model["schema"]}
        _status, predicted = client.json(
            "POST",
            "/api/v1/predictions/",
            {"model": model["slug"], "input": row, "explain": True},
            expect=(201,),
            headers={"Prefer": "wait=30"},
        )
        check(predicted["status"] == "succeeded", f"the explained row failed: {predicted}")
        explanation = predicted["output"]["explanation"]
        total = explanation["base_value"] + sum(
            part["contribution"] for part in explanation["contributions"]
        )
        check(
            abs(total - explanation["output_value"]) < 1e-6,
            f"the contributions do not add up: {explanation}",
        )
        lines.append(
            f"explained prediction {predicted['output']['prediction']:.0f}: base "
            f"{explanation['base_value']:.0f} + {len(explanation['contributions'])} contributions"
        )
    return lines


def main() -> int:
    database_url = os.environ.get(
        "SMOKE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mfdp_smoke"
    )
    redis_url = os.environ.get("SMOKE_REDIS_URL", "redis://127.0.0.1:6379")
    redis_numbers = [int(n) for n in os.environ.get("SMOKE_REDIS_DBS", "12,13,14").split(",")]
    ready_timeout = float(os.environ.get("SMOKE_TIMEOUT", "60"))

    # One smoke run at a time on this machine: they share the database name and Redis dbs.
    lock_file = open(Path(tempfile.gettempdir()) / "mfdp-smoke.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("smoke: FAILED: another smoke run holds the lock on this machine", file=sys.stderr)
        return 1

    # A SIGTERM (a CI timeout) unwinds like Ctrl-C, so the clean-up below still runs.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    timings = Timings()
    services: list[Service] = []
    temp = Path(tempfile.mkdtemp(prefix="mfdp-smoke-"))
    logs = temp / "logs"
    logs.mkdir()
    database = redis_dbs = moto = None
    failure = None
    lines: list[str] = []
    try:
        database = Database(database_url)
        if len(redis_numbers) != 3:
            raise SmokeFailure(f"SMOKE_REDIS_DBS needs three numbers, not {redis_numbers}")
        redis_dbs = RedisDatabases(redis_url, redis_numbers)
        with timings.step("PostgreSQL database and Redis databases"):
            database.create()
            redis_dbs.flush()
        moto, endpoint = start_moto(timings)
        port = free_port()
        env = production_env(
            port=port, var_dir=temp / "var", database=database, redis_dbs=redis_dbs, s3=endpoint
        )
        create_bucket(endpoint, env)

        manage = [PYTHON, "manage.py"]
        with timings.step("check --deploy, collectstatic, migrate (in parallel)"):
            # The deployment check and collectstatic need no database: run them beside migrate.
            background = {
                name: start_one_shot(name, [*manage, *args], env, logs)
                for name, args in (
                    ("check-deploy", ["check", "--deploy", "--fail-level", "WARNING"]),
                    ("collectstatic", ["collectstatic", "--noinput", "--verbosity", "0"]),
                )
            }
            try:
                run_one_shot("migrate", [*manage, "migrate", "--noinput"], env, logs)
            finally:
                for proc in background.values():
                    proc.wait(timeout=ONE_SHOT_TIMEOUT)
            for name, proc in background.items():
                text = (logs / f"{name}.log").read_text(errors="replace")
                check(proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{text}")
            check_output = (logs / "check-deploy.log").read_text()
            check("no issues" in check_output, f"check --deploy:\n{check_output}")
            lines.append(f"manage.py check --deploy: {check_output.strip()}")

        with timings.step("register_models, setup_schedules"):
            registered = run_one_shot("register-models", [*manage, "register_models"], env, logs)
            run_one_shot("setup-schedules", [*manage, "setup_schedules"], env, logs)
            lines.append(f"registered: {', '.join(registered.split(chr(10))[:-1])}")

        with timings.step("start gunicorn, Celery worker, qcluster; wait for /readyz"):
            services.append(
                Service(
                    "web",
                    [str(BIN / "gunicorn"), "mfdp.wsgi", "--config", "gunicorn.conf.py"],
                    env,
                    logs,
                )
            )
            services.append(
                Service(
                    "worker",
                    [
                        str(BIN / "celery"),
                        "--app=mfdp",
                        "worker",
                        "--loglevel=INFO",
                        "--concurrency=2",
                    ],
                    env,
                    logs,
                )
            )
            services.append(Service("housekeeping", [PYTHON, "manage.py", "qcluster"], env, logs))
            client = Client(f"http://127.0.0.1:{port}")
            ready = wait_ready(client, services, ready_timeout)
            lines.append(f"/readyz: {json.dumps(ready['checks'])}")

        with timings.step("compose healthchecks: worker, housekeeping"):
            for role in ("worker", "housekeeping"):
                lines.append(f"healthcheck {role}: {wait_healthy(role, env, services, 30)}")

        with timings.step("a customer with credits and an API token"):
            created = run_one_shot("customer", [PYTHON, "-c", CREATE_CUSTOMER], env, logs)
            client.token = json.loads(created.strip().splitlines()[-1])["token"]

        lines += predict(client, timings, endpoint)
        lines += train(client, timings)
        for service in services:
            check(service.alive(), f"{service.name} exited with {service.proc.returncode}")
    except SmokeFailure as error:
        failure = error
    except Exception as error:  # not a finding of the smoke run: show where it came from
        traceback.print_exc()
        failure = error
    except KeyboardInterrupt:
        failure = SmokeFailure("interrupted")
    finally:
        with timings.step("stop the services"):
            stop_all(services)
        if failure is not None:
            for service in services:
                print(f"\n----- {service.name}: the last {LOG_TAIL_LINES} lines of its log")
                print(service.tail())
        with timings.step("clean up"):
            cleanup_errors = []
            for name, action in (
                ("moto", lambda: moto and moto.stop()),
                ("database", lambda: database and database.drop()),
                ("redis", lambda: redis_dbs and redis_dbs.flush()),
            ):
                try:
                    action()
                except Exception as error:
                    cleanup_errors.append(f"{name}: {type(error).__name__}: {error}")
            shutil.rmtree(temp, ignore_errors=True)
    print("\nsmoke:\n" + "\n".join(f"  {line}" for line in lines))
    print("timings:\n" + timings.report())
    for error in cleanup_errors:
        print(f"smoke: clean-up failed: {error}", file=sys.stderr)
    if failure is not None:
        kind = "" if isinstance(failure, SmokeFailure) else f"{type(failure).__name__}: "
        print(f"smoke: FAILED: {kind}{failure}", file=sys.stderr)
        return 1
    if cleanup_errors:
        return 1
    print("smoke: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
