"""One-row benchmark: API submit-and-wait latency and throughput beside a plain model server.

The product side is the real HTTP API: gunicorn (gunicorn.conf.py, gthread) and a real Celery
worker (prefork, concurrency 2, as the Procfile runs it) on a throwaway PostgreSQL database and
Redis. Each request is what an integrator sends for one row:

    POST /api/v1/predictions/  {"model": SLUG, "input": {...}}
    Authorization: Bearer <key>, Prefer: wait=30

and succeeds on 201 with status "succeeded" and output.prediction equal to the in-process
prediction. gunicorn gets max(4, most clients + 1) threads per process by default, so that
every client finds a wait slot (API_WAIT_SLOTS = threads - 1) in either process; a 202 (no
slot was free) would be followed by GET .../{id}/ with the same Prefer inside the timed
request, and is counted. The API's throttles are set out of the way.

The bare references, measured in the same run with the same client code and concurrency:
- MLflow's `mlflow models serve` on the same model file (--env-manager local), installed on
  first use into bench/.mlflow-venv: its own venv (it ignores itself in git) with mlflow and
  the same scikit-learn, skops, numpy, scipy and pandas versions as ours; the model is loaded
  with our load_model and saved with mlflow.sklearn.save_model (skops format, our trusted
  types). It runs with its default single uvicorn worker: with --workers N > 1 uvicorn binds
  the socket itself with proto 0, asyncio then leaves Nagle on for accepted sockets (uvicorn
  issue #3149) and every keep-alive request waits for the client's delayed ACK (measured here:
  p50 about 60 ms with 2 workers against 12-19 ms with 1). --mlflow-workers changes it;
- a minimal single-purpose server (the stand-in when MLflow cannot be installed or started):
  --stdlib-workers processes of stdlib ThreadingHTTPServer on one port (SO_REUSEPORT, Nagle
  off) that load the model with load_model and answer MLflow's protocol
  ({"dataframe_records": [row]} -> {"predictions": [...]}) with model.predict(DataFrame);
- the model's predict in this process on the same row (the typed frame the worker predicts),
  p50/p99 per call, one thread; and validate_record + predict, the worker's own compute.
--server both (default) runs MLflow and the stdlib server; auto runs MLflow, or the stdlib
server when MLflow cannot be had. The goal is judged against the first: MLflow when it runs.

Clients are threads with http.client, one keep-alive connection each, opened before the clock
starts; --requests requests per side and concurrency, after --warm-up requests that are not
timed. Throughput is successful requests / wall time. The order of the sides alternates
between concurrency levels. CPU ms/request is the CPU time of the side's own processes
(gunicorn + the Celery worker; the server's), not PostgreSQL's or Redis's; "busy" is the
whole machine's CPU use during the run (other people's work included).

Goal: API p50 <= 3x the plain server's p50 and API throughput >= the server's, at every
concurrency. When it is missed (or with --breakdown always) the time is taken apart:
from each API response's created_at / started_at / finished_at beside the client's clock,
with the CPU of the web and worker processes; a Celery round trip alone (the ping task); a
GET of a finished job (one poll's answer) over HTTP; opening a PostgreSQL connection (the
worker opens one per task: Celery's Django fixup closes it around every task unless
CELERY_DB_REUSE_MAX is set); then, with the worker stopped, a POST without waiting, and
submit_single + run_job in this process with their stages timed; and validate + predict of
as many rows as the most clients in one call (what batching one-row jobs would cost).

Exit status: 0 when every request of every side succeeded with the right prediction (whether
or not the goal is met), 1 otherwise. The database named in --database-url is dropped and
recreated at the start and dropped at the end (unless --keep); its name must contain 'bench'.
Run by hand, never by the test suite:

    .venv/bin/python bench/one_row.py [--clients 1 8] [--requests 200] [--model car-price-basic]
                                      [--server both|auto|mlflow|stdlib] [--breakdown auto]
"""

import argparse
import contextlib
import http.client
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
# Run as a script, this folder is sys.path[0] (and holds io.py): put the project there instead.
if sys.path and sys.path[0] and Path(sys.path[0]).resolve() == BENCH_DIR:
    sys.path[0] = str(BASE_DIR)
elif str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))


def _load(name: str, file: str):
    """A sibling benchmark as a module (bench/ is not a package; io would shadow the stdlib)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_batch = _load("bench_batch", "batch.py")
bench_io = bench_batch.bench_io
bench_billing = bench_batch.bench_billing

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/mfdp_bench_one_row"
DEFAULT_BROKER = "redis://127.0.0.1:6379/11"
DEFAULT_SLUG = "car-price-basic"
P50_GOAL = 3.0  # API p50 / server p50 at most
THROUGHPUT_GOAL = 1.0  # API req/s / server req/s at least
WAIT_SECONDS = 30
HIGH_RATE = "1000000/min"  # the API's throttles, out of the way
CREDITS = 10_000_000
START_TIMEOUT = 240  # seconds for a server or the worker to answer
REQUEST_TIMEOUT = 60
PROBES = 50  # requests of each breakdown probe
PROBE_WARM_UP = 5
MLFLOW_VENV = BENCH_DIR / ".mlflow-venv"
MLFLOW_MARKER = "bench-installed.txt"
# Pinned to ours, so that both servers run the same numerics on the same pipeline.
PINNED = ("scikit-learn", "skops", "numpy", "scipy", "pandas")
# Saves the model file, loaded with our loader, as an MLflow model (run by the MLflow venv's
# Python, with the project on PYTHONPATH: predictions.ml imports nothing of Django).
MLFLOW_SAVE = """
import sys
from pathlib import Path

import mlflow.sklearn

from predictions.ml.inference import TRUSTED_TYPES, load_model

model = load_model(Path(sys.argv[1]), sha256=sys.argv[2])
mlflow.sklearn.save_model(
    model, sys.argv[3], pip_requirements=sys.argv[4:], skops_trusted_types=list(TRUSTED_TYPES)
)
"""
QUIET_MLFLOW = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
clock = time.perf_counter


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[1, 8], help="concurrent clients (1 8)"
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="timed requests per side and level (200)"
    )
    parser.add_argument(
        "--warm-up", type=int, default=20, help="untimed requests before each timed run (20)"
    )
    parser.add_argument("--model", default=DEFAULT_SLUG, help=f"model slug ({DEFAULT_SLUG})")
    parser.add_argument(
        "--server",
        choices=("auto", "mlflow", "stdlib", "both"),
        default="both",
        help="plain servers: MLflow and the stdlib server (both); MLflow, falling back to the"
        " stdlib server when it cannot be installed (auto); only one of them",
    )
    parser.add_argument(
        "--mlflow-workers",
        type=int,
        default=1,
        help="uvicorn workers of mlflow models serve (1, its default; see the docstring)",
    )
    parser.add_argument(
        "--stdlib-workers", type=int, default=2, help="processes of the stdlib server (2)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes (2)")
    parser.add_argument(
        "--web-threads",
        type=int,
        help="gunicorn threads per process (default: max(4, most clients + 1), so that each"
        " process has a wait slot for every client)",
    )
    parser.add_argument(
        "--worker-pool",
        choices=("prefork", "threads", "solo"),
        default="prefork",
        help="Celery pool (prefork, as the Procfile)",
    )
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery concurrency (2)")
    parser.add_argument(
        "--breakdown",
        choices=("auto", "always", "never"),
        default="auto",
        help="take the API's time apart when the goal is missed (auto), always, never",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"PostgreSQL database to (re)create and use ({DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--broker", default=DEFAULT_BROKER, help=f"Celery broker, Redis ({DEFAULT_BROKER})"
    )
    parser.add_argument(
        "--threads", type=int, help="OMP_NUM_THREADS for every side (default: unset)"
    )
    parser.add_argument(
        "--mlflow-install-timeout",
        type=int,
        default=900,
        help="seconds to install MLflow before falling back (900)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and the files")
    # The stdlib server runs as this script in a child process.
    parser.add_argument("--child", choices=("stdlib-server",), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model-file", help=argparse.SUPPRESS)
    parser.add_argument("--sha256", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return args
    if min(args.clients) < 1 or args.requests < 1 or args.warm_up < 0:
        parser.error("--clients and --requests must be positive, --warm-up not negative")
    counts = (args.mlflow_workers, args.stdlib_workers, args.web_workers, args.worker_concurrency)
    if min(counts) < 1:
        parser.error("process and thread counts must be positive")
    if not args.broker.startswith("redis://"):
        parser.error("--broker must be a redis:// URL (the product runs on Redis)")
    args.clients = sorted(set(args.clients))
    if args.web_threads is None:
        args.web_threads = max(4, max(args.clients) + 1)
    return args


# --- measuring --------------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{1000 * seconds:.1f}"


def same_prediction(seen: Any, expected: Any) -> bool:
    """The product rounds to 6 decimals; the servers answer the raw float."""
    if isinstance(seen, bool) or isinstance(expected, bool):
        return seen == expected
    if isinstance(seen, int | float) and isinstance(expected, int | float):
        return math.isclose(seen, expected, rel_tol=1e-9, abs_tol=1e-6)
    return seen == expected


def epoch(stamp: str | None) -> float:
    return datetime.fromisoformat(stamp).timestamp() if stamp else math.nan


@dataclass
class Sample:
    ok: bool = False
    error: str = ""
    latency: float = 0.0
    sent: float = 0.0  # time.time(), to compare with the job's timestamps
    received: float = 0.0
    followed: int = 0  # GETs after a 202
    job: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    side: str
    clients: int
    samples: list[Sample]
    wall: float
    cpu: dict[str, float] = field(default_factory=dict)  # seconds, per process group
    busy: float = math.nan  # the machine's CPU use, 0..1

    @property
    def ok(self) -> int:
        return sum(sample.ok for sample in self.samples)

    @property
    def latencies(self) -> list[float]:
        return [sample.latency for sample in self.samples if sample.ok]

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0

    @property
    def followed(self) -> int:
        return sum(sample.followed > 0 for sample in self.samples)

    def p(self, q: int) -> float:
        return percentile(self.latencies, q)

    def errors(self) -> list[str]:
        return [sample.error for sample in self.samples if not sample.ok]


def run_clients(port: int, call, clients: int, requests: int) -> tuple[list[Sample], float]:
    """`requests` calls of call(conn) -> Sample spread over `clients` threads, each with its
    own keep-alive connection opened before the clock starts; (samples, wall seconds)."""
    barrier = threading.Barrier(clients + 1, timeout=REQUEST_TIMEOUT)
    samples: list[list[Sample]] = [[] for _ in range(clients)]
    ends = [0.0] * clients

    def body(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        try:
            conn.connect()
        except OSError as error:
            samples[k].append(Sample(error=f"connect: {error!r}"))
            barrier.abort()
            return
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            conn.close()
            return
        for _i in range(k, requests, clients):
            sent, began = time.time(), clock()
            try:
                sample = call(conn)
            except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
                sample = Sample(error=repr(error))
                conn.close()  # http.client opens a new one on the next request
            sample.latency = clock() - began
            sample.sent, sample.received = sent, time.time()
            samples[k].append(sample)
        ends[k] = clock()
        conn.close()

    threads = [threading.Thread(target=body, args=(k,), name=f"client-{k}") for k in range(clients)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started = clock()
    for thread in threads:
        thread.join()
    wall = max(0.0, max(ends) - started)
    return [sample for part in samples for sample in part], wall


def json_request(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, Any, http.client.HTTPResponse]:
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    return response.status, (json.loads(raw) if raw else None), response


class ApiSide:
    """The product: POST one row with Prefer: wait, follow a 202 with GETs that wait."""

    def __init__(self, port: int, key: str, slug: str, row: dict[str, Any], expected: Any):
        self.port = port
        self.name = "API (gunicorn + Celery)"
        self.body = {"model": slug, "input": row}
        self.auth = {"Authorization": f"Bearer {key}"}
        self.expected = expected

    def call(self, conn: http.client.HTTPConnection, *, wait: bool = True) -> Sample:
        headers = {**self.auth, "Content-Type": "application/json"}
        if wait:
            headers["Prefer"] = f"wait={WAIT_SECONDS}"
        status, job, response = json_request(
            conn, "POST", "/api/v1/predictions/", self.body, headers
        )
        if status not in (201, 202) or not isinstance(job, dict):
            return Sample(error=f"POST answered {status}: {str(job)[:300]}")
        sample = Sample()
        if not wait:
            sample.ok = True
            return sample
        location = response.getheader("Location") or f"/api/v1/predictions/{job['id']}/"
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while status == 202 and time.monotonic() < deadline:
            sample.followed += 1
            status, job, _response = json_request(conn, "GET", location, None, headers)
        sample.job = {
            name: epoch(job.get(name)) for name in ("created_at", "started_at", "finished_at")
        }
        prediction = (job.get("output") or {}).get("prediction")
        if status not in (200, 201) or job.get("status") != "succeeded":
            sample.error = f"{status} {job.get('status')}: {job.get('error')}"
        elif not same_prediction(prediction, self.expected):
            sample.error = f"prediction {prediction!r}, expected {self.expected!r}"
        else:
            sample.ok = True
        return sample


class ServerSide:
    """A plain model server speaking MLflow's protocol."""

    def __init__(self, name: str, port: int, row: dict[str, Any], expected: Any):
        self.name, self.port, self.expected = name, port, expected
        self.body = {"dataframe_records": [row]}
        self.headers = {"Content-Type": "application/json"}

    def call(self, conn: http.client.HTTPConnection) -> Sample:
        status, answer, _response = json_request(
            conn, "POST", "/invocations", self.body, self.headers
        )
        if status != 200 or not isinstance(answer, dict):
            return Sample(error=f"{status}: {str(answer)[:300]}")
        prediction = answer["predictions"][0]
        if isinstance(prediction, dict):  # a model whose pyfunc answers columns
            prediction = next(iter(prediction.values()))
        if not same_prediction(prediction, self.expected):
            return Sample(error=f"prediction {prediction!r}, expected {self.expected!r}")
        return Sample(ok=True)


# --- processes: their CPU and memory, the machine's CPU ---------------------------------------


def session_pids(session: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                pids.append(int(stat.parent.name))
    return pids


def session_cpu(sessions: list[int]) -> float:
    """CPU seconds (user + system) used so far by the live processes of these sessions."""
    ticks = 0
    for session in sessions:
        for pid in session_pids(session):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def session_rss_mb(sessions: list[int]) -> float:
    total = 0
    for session in sessions:
        for pid in session_pids(session):
            with contextlib.suppress(OSError, ValueError):
                total += bench_batch.vm_kb(pid, "VmRSS")
    return total / 1024


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def timed_run(side, clients: int, requests: int, groups: dict[str, list[int]]) -> Run:
    """One timed run, with the CPU time each group of sessions used meanwhile."""
    cpu_before = {name: session_cpu(sessions) for name, sessions in groups.items()}
    ticks_before = machine_ticks()
    samples, wall = run_clients(side.port, side.call, clients, requests)
    ticks_after = machine_ticks()
    cpu = {name: session_cpu(sessions) - cpu_before[name] for name, sessions in groups.items()}
    total = ticks_after[1] - ticks_before[1]
    busy = (ticks_after[0] - ticks_before[0]) / total if total else math.nan
    return Run(side.name, clients, samples, wall, cpu, busy)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 (our interpreters, our arguments)
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_http(port: int, path: str, procs: list[subprocess.Popen], log: Path, what: str) -> float:
    """Poll GET path until it answers 200; the seconds it took."""
    began = clock()
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise StartFailed(f"{what} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return clock() - began
        conn.close()
        if clock() - began > START_TIMEOUT:
            raise StartFailed(
                f"{what} did not answer in {START_TIMEOUT} s:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.2)


class StartFailed(Exception):
    pass


# --- the product: worker, web server, customer -------------------------------------------------


def start_worker(args: argparse.Namespace, env: dict[str, str], queue: str, log: Path):
    """bench/batch.py's start_worker with the pool and concurrency of this benchmark."""
    from celery.exceptions import TimeoutError as CeleryTimeoutError

    from mfdp.celery import ping

    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "mfdp",
        "worker",
        "--pool",
        args.worker_pool,
        "--concurrency",
        str(args.worker_concurrency),
        "--loglevel",
        "WARNING",
        "--queues",
        queue,
        "--hostname",
        f"{queue}@%h",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]
    proc = spawn(command, env, log, BASE_DIR)
    began = clock()
    answer = ping.apply_async(queue=queue)
    while True:
        if proc.poll() is not None:
            raise StartFailed(f"the worker exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if answer.get(timeout=1, interval=0.05) == "pong":
                answer.forget()
                return proc, clock() - began
        except CeleryTimeoutError:
            if clock() - began > START_TIMEOUT:
                raise StartFailed(
                    f"the worker never answered:\n{log.read_text()[-3000:]}"
                ) from None


def start_web(args: argparse.Namespace, env: dict[str, str], log: Path):
    port = free_port()
    web_env = {
        **env,
        "PORT": str(port),
        "WEB_WORKERS": str(args.web_workers),
        "WEB_THREADS": str(args.web_threads),
    }
    command = [str(Path(sys.executable).with_name("gunicorn")), "mfdp.wsgi"]
    proc = spawn([*command, "--config", "gunicorn.conf.py"], web_env, log, BASE_DIR)
    took = wait_http(port, "/healthz", [proc], log, "gunicorn")
    return proc, port, took


def api_customer() -> str:
    """A customer with plenty of credits and an API token; the token's key."""
    from accounts import services as accounts

    user = bench_batch.customer(CREDITS)
    return accounts.api_token_create(user=user, name="one-row benchmark").key


# --- the plain servers -------------------------------------------------------------------------


def pinned_requirements() -> list[str]:
    return ["mlflow", *(f"{name}=={metadata.version(name)}" for name in PINNED)]


def mlflow_venv(timeout: int) -> tuple[Path | None, str]:
    """bench/.mlflow-venv's Python, installed on first use (or again when our pinned versions
    changed); (None, why) when it cannot be installed."""
    wanted = "\n".join(pinned_requirements())
    python = MLFLOW_VENV / "bin" / "python"
    marker = MLFLOW_VENV / MLFLOW_MARKER
    if marker.exists() and marker.read_text() == wanted and python.exists():
        return python, f"{MLFLOW_VENV.relative_to(BASE_DIR)} (installed by an earlier run)"
    import shutil

    shutil.rmtree(MLFLOW_VENV, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    uv = BASE_DIR / ".bootstrap" / "bin" / "uv"
    installer = (
        [str(uv), "pip", "install", "--python", str(python)]
        if uv.exists()
        else [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    )
    print(
        f"  installing mlflow into {MLFLOW_VENV.relative_to(BASE_DIR)} with"
        f" {'uv' if uv.exists() else 'pip'} (first use; at most {timeout} s) ...",
        flush=True,
    )
    began = clock()
    try:
        subprocess.run(  # noqa: S603
            [base, "-m", "venv", str(MLFLOW_VENV)], check=True, capture_output=True, timeout=120
        )
        # Not in the project's .gitignore: the venv ignores itself, as Python 3.13's venv does.
        (MLFLOW_VENV / ".gitignore").write_text("*\n")
        done = subprocess.run(  # noqa: S603
            [*installer, *pinned_requirements()],
            capture_output=True,
            text=True,
            timeout=max(1, timeout - (clock() - began)),
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"installing mlflow failed: {error!r}"[:500]
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return None, "installing mlflow failed: " + " | ".join(tail)
    marker.write_text(wanted)
    return python, f"{MLFLOW_VENV.relative_to(BASE_DIR)} (installed now in {clock() - began:.0f} s)"


def start_mlflow(args, model_file: Path, sha256: str, folder: Path):
    """`mlflow models serve` on the model file; (procs, port, how it went) or (None, why)."""
    python, how = mlflow_venv(args.mlflow_install_timeout)
    if python is None:
        return None, None, how
    bin_dir = python.parent
    env = {
        **os.environ,
        **QUIET_MLFLOW,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": (folder / "mlruns").as_uri(),
    }
    env.pop("PYTHONPATH", None)
    saved = folder / "mlflow-model"
    requirements = pinned_requirements()[1:]
    log = folder / "mlflow.log"
    began = clock()
    done = subprocess.run(  # noqa: S603
        [str(python), "-c", MLFLOW_SAVE, str(model_file), sha256, str(saved), *requirements],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=folder,
        env={**env, "PYTHONPATH": str(BASE_DIR)},
    )
    if done.returncode != 0:
        return None, None, "saving the MLflow model failed: " + done.stderr.strip()[-500:]
    saved_in = clock() - began
    port = free_port()
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(saved), "-h", "127.0.0.1"]
    command += ["-p", str(port), "--env-manager", "local", "-w", str(args.mlflow_workers)]
    proc = spawn(command, env, log, folder)
    try:
        took = wait_http(port, "/ping", [proc], log, "mlflow models serve")
    except StartFailed as error:
        bench_batch.stop_worker(proc)
        return None, None, f"mlflow models serve did not start: {str(error)[-500:]}"
    version = subprocess.run(  # noqa: S603
        [str(python), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    return (
        [proc],
        port,
        f"mlflow {version} from {how}; model saved in {saved_in:.1f} s, serving in {took:.1f} s",
    )


def start_stdlib(args, model_file: Path, sha256: str, folder: Path):
    """--server-workers processes of the stdlib server on one port (SO_REUSEPORT)."""
    port = free_port()
    log = folder / "stdlib-server.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "stdlib-server"]
    command += ["--port", str(port), "--model-file", str(model_file), "--sha256", sha256]
    procs = [spawn(command, dict(os.environ), log, BASE_DIR) for _ in range(args.stdlib_workers)]
    began = clock()
    while log.read_text().count("listening ") < len(procs):
        for proc in procs:
            if proc.poll() is not None:
                raise StartFailed(f"a stdlib server exited:\n{log.read_text()[-3000:]}")
        if clock() - began > START_TIMEOUT:
            raise StartFailed(f"the stdlib servers did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    wait_http(port, "/ping", procs, log, "the stdlib server")
    return procs, port, f"{len(procs)} processes, serving in {clock() - began:.1f} s"


def stdlib_server_main(args: argparse.Namespace) -> int:
    """A minimal single-purpose model server: loads the model with our load_model and answers
    MLflow's protocol. ThreadingHTTPServer, HTTP/1.1 keep-alive, SO_REUSEPORT."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import pandas as pd

    from predictions.ml.inference import load_model

    model = load_model(Path(args.model_file), sha256=args.sha256)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, the client's delayed ACK
        # holds the body back 40 ms (gunicorn and uvicorn set TCP_NODELAY too).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self.answer(200, b"")

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                records = json.loads(self.rfile.read(length))["dataframe_records"]
                values = model.predict(pd.DataFrame(records))
                predictions = [
                    value.item() if hasattr(value, "item") else value for value in values
                ]
                self.answer(200, json.dumps({"predictions": predictions}).encode())
            except Exception as error:
                self.answer(400, json.dumps({"error": repr(error)}).encode())

        def answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def server_bind(self) -> None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

    server = Server(("127.0.0.1", args.port), Handler)
    print(f"listening {os.getpid()}", flush=True)
    server.serve_forever()
    return 0


# --- in-process ---------------------------------------------------------------------------------


def in_process(model, frame, row, schema, task, requests: int, warm_up: int) -> list[Run]:
    """model.predict on the typed frame, and validate_record + predict (the worker's compute),
    one thread, `requests` calls each after `warm_up`."""
    from predictions.ml.inference import predict
    from predictions.ml.validation import validate_record

    def predict_only() -> None:
        model.predict(frame)

    def worker_compute() -> None:
        predict(model, validate_record(row, schema).frame, task=task)

    runs = []
    for name, function in (
        ("in-process model.predict", predict_only),
        ("in-process validate + predict", worker_compute),
    ):
        for _i in range(warm_up):
            function()
        samples = []
        began = clock()
        for _i in range(requests):
            start = clock()
            function()
            samples.append(Sample(ok=True, latency=clock() - start))
        runs.append(Run(name, 1, samples, clock() - began))
    return runs


# --- the breakdown ------------------------------------------------------------------------------


# When a waiting request looks at its job, from the start of its wait (selectors.WAIT_PAUSES
# added up; the last pause repeats).
def poll_offsets(pauses: tuple[float, ...], until: float) -> list[float]:
    offsets, at, step = [], 0.0, 0
    while at <= until:
        at += pauses[min(step, len(pauses) - 1)]
        offsets.append(at)
        step += 1
    return offsets


def segments(samples: list[Sample]) -> list[tuple[str, list[float]]]:
    parts: dict[str, list[float]] = {
        "client sent -> job created (HTTP in, auth, throttle, validation, INSERT)": [],
        "job created -> claimed (charge, COMMIT, enqueue, Redis, pickup, reconnect, claim)": [],
        "claimed -> finished (worker: load job, model, validate, predict, settle)": [],
        "finished -> client received (COMMIT, poll gap, reload, serialize, HTTP out)": [],
    }
    names = list(parts)
    for sample in samples:
        job = sample.job
        if not sample.ok or sample.followed or any(math.isnan(v) for v in job.values()):
            continue
        parts[names[0]].append(job["created_at"] - sample.sent)
        parts[names[1]].append(job["started_at"] - job["created_at"])
        parts[names[2]].append(job["finished_at"] - job["started_at"])
        parts[names[3]].append(sample.received - job["finished_at"])
    return list(parts.items())


def poll_lags(samples: list[Sample]) -> list[float]:
    """Modelled: the wait starts when the job is created; the job is seen at the first poll
    after it finished. The time between."""
    from predictions import selectors

    pauses = getattr(selectors, "WAIT_PAUSES", (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5))
    lags = []
    for sample in samples:
        if sample.ok and not sample.followed and sample.job:
            ran = sample.job["finished_at"] - sample.job["created_at"]
            if not math.isnan(ran):
                lags.append(next(t for t in poll_offsets(pauses, ran) if t >= ran) - ran)
    return lags


def probe(function, count: int = PROBES) -> list[float]:
    for _i in range(PROBE_WARM_UP):
        function()
    times = []
    for _i in range(count):
        began = clock()
        function()
        times.append(clock() - began)
    return times


def celery_round_trips(queue: str) -> list[float]:
    from mfdp.celery import ping

    def round_trip() -> None:
        answer = ping.apply_async(queue=queue)
        answer.get(timeout=REQUEST_TIMEOUT, interval=0.005)
        answer.forget()

    return probe(round_trip)


def finished_job_gets(api: ApiSide) -> list[float]:
    """GET of a finished job: what one poll-answer costs through the API (HTTP, auth,
    throttles, one SELECT, serialization)."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=REQUEST_TIMEOUT)
    headers = {**api.auth, "Content-Type": "application/json", "Prefer": f"wait={WAIT_SECONDS}"}
    status, job, response = json_request(conn, "POST", "/api/v1/predictions/", api.body, headers)
    if status != 201:
        print(f"  (the probe job did not finish: {status} {str(job)[:200]})")
    location = response.getheader("Location") or f"/api/v1/predictions/{job['id']}/"
    gets = probe(lambda: json_request(conn, "GET", location, None, api.auth))
    conn.close()
    return gets


def submits_without_wait(api: ApiSide) -> list[float]:
    """POST without Prefer: wait, answered once the job is created, charged and enqueued (run
    with the worker stopped, so that no job runs beside the next request)."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=REQUEST_TIMEOUT)
    times = probe(lambda: api.call(conn, wait=False))
    conn.close()
    return times


def connect_times(database_url: str) -> list[float]:
    import psycopg

    def connect() -> None:
        psycopg.connect(database_url, autocommit=True).close()

    return probe(connect)


def in_process_jobs(version, row: dict[str, Any], count: int = PROBES):
    """submit_single + run_job in this process, stages timed (the worker is stopped, so the
    messages submit_single enqueues stay queued); (submit, run, stage timers)."""
    from billing import services as billing_services
    from predictions import services
    from predictions.ml import inference
    from predictions.services import jobs

    user = bench_batch.customer(CREDITS)
    current = [bench_batch.Timers()]
    targets = [
        (jobs, "validate_record", "validate_record"),
        (jobs, "_create_charged_job", "INSERT job + charge + COMMIT + enqueue"),
        (billing_services, "charge", "  of which billing.charge"),
        (jobs, "_claim", "claim (UPDATE + SELECT)"),
        (jobs.model_cache, "model_for", "model (cached)"),
        (inference, "predict", "predict (+ DataFrame out)"),
        (jobs, "settle", "settle (SELECT FOR UPDATE + UPDATE + COMMIT)"),
    ]
    # Product code moves: a stage whose function is gone is left out, not an error.
    targets = [target for target in targets if hasattr(target[0], target[1])]
    saved = [(owner, attribute, getattr(owner, attribute)) for owner, attribute, _n in targets]

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            began = clock()
            try:
                return function(*args, **kwargs)
            finally:
                current[0].add(name, clock() - began)

        return wrapper

    submit_timers, run_timers = bench_batch.Timers(), bench_batch.Timers()
    submits, runs = [], []
    try:
        for owner, attribute, name in targets:
            setattr(owner, attribute, timed(name, getattr(owner, attribute)))
        for number in range(PROBE_WARM_UP + count):
            measured = number >= PROBE_WARM_UP
            current[0] = submit_timers if measured else bench_batch.Timers()
            began = clock()
            job = services.submit_single(user=user, version=version, record=row)
            submitted = clock()
            current[0] = run_timers if measured else bench_batch.Timers()
            done = services.run_job(job_id=job.pk)
            finished = clock()
            if done is None or done.status != "succeeded":
                raise SystemExit(f"in-process job {job.pk} did not succeed: {done}")
            if measured:
                submits.append(submitted - began)
                runs.append(finished - submitted)
    finally:
        for owner, attribute, original in saved:
            setattr(owner, attribute, original)
    return submits, runs, submit_timers, run_timers


def batched(model, schema, task, row: dict[str, Any], rows: int) -> tuple[float, float]:
    """p50 of validate_records + predict for `rows` copies of the row in one call, and of the
    same for one row: what a worker that took several one-row jobs at once would pay."""
    from predictions.ml.inference import predict
    from predictions.ml.validation import validate_records

    def run(count: int):
        return lambda: predict(model, validate_records([row] * count, schema).frame, task=task)

    return percentile(probe(run(rows)), 50), percentile(probe(run(1)), 50)


def print_breakdown(api_runs, api, context: dict[str, Any]) -> None:
    args, worker = context["args"], context["worker"]
    print()
    print("breakdown  where the API's time goes (p50 of each part, ms; from each response's")
    print("           created_at / started_at / finished_at beside the client's clock)")
    for run in api_runs:
        parts = segments(run.samples)
        counted = len(parts[0][1])
        print(f"  {run.clients} client(s), {counted} requests without a 202:")
        for name, values in parts:
            print(f"    {ms(percentile(values, 50)):>7}  {name}")
        print(
            f"    {ms(run.p(50)):>7}  total, client-measured p50 (the parts' p50s need not add up)"
        )
        lags = poll_lags(run.samples)
        print(
            f"    {ms(percentile(lags, 50)):>7}  of 'finished -> received': the poll schedule's lag"
            " (model: polls at 10, 30, 60, 110, 210 ... ms after the job was created)"
        )
        cpu = ", ".join(
            f"{name} {1000 * seconds / run.ok:.1f}" for name, seconds in run.cpu.items()
        )
        print(f"    CPU ms per request: {cpu} (PostgreSQL and Redis not counted)")
    print()
    print(f"probes (sequential, {PROBES} each after {PROBE_WARM_UP} untimed; p50 / p99 ms):")

    def line(times: list[float], text: str) -> None:
        print(f"  {ms(percentile(times, 50)):>7} / {ms(percentile(times, 99)):>7}  {text}")

    line(
        celery_round_trips(context["queue"]),
        "Celery alone: ping task apply_async -> worker -> Redis result -> get()",
    )
    line(
        finished_job_gets(api),
        "API GET of a finished job (HTTP, auth, throttles, SELECT, serialize): one poll's answer",
    )
    line(
        connect_times(args.database_url),
        "opening a PostgreSQL connection (the worker opens one per task, see the docstring)",
    )
    bench_batch.stop_worker(worker)
    posts = submits_without_wait(api)
    line(
        posts,
        "API POST without Prefer: wait, worker stopped (HTTP, auth, validate, INSERT, charge,"
        " COMMIT, enqueue)",
    )
    submits, runs, submit_timers, run_timers = in_process_jobs(context["version"], context["row"])
    line(submits, "in this process: services.submit_single (no HTTP)")
    line(runs, "in this process: services.run_job right after it (no Celery, connection kept)")
    print("  their stages, mean ms per job:")
    for label, timers, count in (
        ("submit", submit_timers, len(submits)),
        ("run", run_timers, len(runs)),
    ):
        for name, seconds in timers.seconds.items():
            print(f"    {label:<6} {1000 * seconds / count:>6.2f}  {name}")
    rows = max(args.clients)
    if rows > 1:
        many, one = batched(
            context["model"], context["schema"], context["task"], context["row"], rows
        )
        print(
            f"  validate_records + predict in one call: {rows} rows {ms(many)} ms"
            f" ({ms(many / rows)} ms a row), 1 row {ms(one)} ms (p50)"
        )
    reading(api_runs, context, posts, runs, run_timers)


def reading(api_runs, context: dict[str, Any], posts, runs, run_timers) -> None:
    """The figures above in a few sentences, and the design change they point to."""
    run = api_runs[0]
    server = next(
        r for r in context["runs"] if r.clients == run.clients and r.side == context["reference"]
    )
    parts = [percentile(values, 50) for _name, values in segments(run.samples)]
    per_job = {name: seconds / len(runs) for name, seconds in run_timers.seconds.items()}
    api_cpu = sum(run.cpu.values()) / run.ok
    server_cpu = sum(server.cpu.values()) / server.ok
    inline = percentile(posts, 50) + percentile(runs, 50)
    lag = percentile(poll_lags(run.samples), 50)
    text = (
        f"At {run.clients} client(s) the API's p50 of {ms(run.p(50))} ms is {ms(parts[0])} ms to"
        f" create the job, {ms(parts[1])} ms until the worker claims it, {ms(parts[2])} ms in the"
        " worker (of which validate_record, again:"
        f" ~{ms(per_job.get('validate_record', math.nan))} ms; predict:"
        f" ~{ms(per_job.get('predict (+ DataFrame out)', math.nan))} ms) and {ms(parts[3])} ms"
        f" until the answer arrives (poll lag ~{ms(lag)} ms); {context['reference']} answers in"
        f" {ms(server.p(50))} ms. The product burns {1000 * api_cpu:.0f} ms of CPU per request in"
        f" its own processes (the server {1000 * server_cpu:.0f} ms), so {os.cpu_count()} cores"
        f" cap it near {os.cpu_count() / api_cpu:.0f} req/s before PostgreSQL takes its share."
        " Today's code run inline (POST without waiting + run_job in process) would take"
        f" ~{ms(inline)} ms = {inline / server.p(50):.1f}x the server's p50: dropping the Celery"
        " hop alone is not enough."
    )
    proposal = (
        "See bench/README.md (one_row.py): answer one-row waits in the web process (validate"
        " once, without pandas for one row; no Celery hop, no polling) and batch concurrent"
        " one-row requests into one predict and one transaction; meanwhile set"
        " CELERY_DB_REUSE_MAX and ignore_result on the task."
    )
    print()
    print(textwrap.fill(text, 100, initial_indent="reading   ", subsequent_indent=" " * 10))
    print(textwrap.fill(proposal, 100, initial_indent="proposal  ", subsequent_indent=" " * 10))


# --- the report ---------------------------------------------------------------------------------


def print_table(runs: list[Run], in_process_runs: list[Run]) -> None:
    header = (
        f"{'clients':>7}  {'side':<30} {'ok':>5} {'202':>4} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'req/s':>7} {'CPU ms/req':>10} {'busy':>5}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        cpu = 1000 * sum(run.cpu.values()) / run.ok if run.ok and run.cpu else math.nan
        print(
            f"{run.clients:>7}  {run.side:<30} {run.ok:>5} {run.followed:>4} {ms(run.p(50)):>7}"
            f" {ms(run.p(99)):>7} {run.rate:>7.1f} {'-' if math.isnan(cpu) else f'{cpu:.1f}':>10}"
            f" {'-' if math.isnan(run.busy) else f'{100 * run.busy:.0f}%':>5}"
        )
    for run in in_process_runs:
        print(
            f"{run.clients:>7}  {run.side:<30} {run.ok:>5} {'':>4} {ms(run.p(50)):>7}"
            f" {ms(run.p(99)):>7} {run.rate:>7.1f} {'':>10} {'':>5}"
        )
    print("-" * len(header))
    print(
        "(202: requests that got no wait slot and were followed with GETs; CPU: the side's own"
        " processes, not PostgreSQL or Redis; busy: the whole machine; in-process: one thread,"
        " req/s = calls/s)"
    )


def goals(runs: list[Run], references: list[str]) -> bool:
    """Print the ratios against every plain server; whether the goal is met against the
    first (MLflow when it runs: the issue's reference)."""
    met = True
    print()
    for number, reference in enumerate(references):
        for clients in sorted({run.clients for run in runs}):
            level = [run for run in runs if run.clients == clients]
            api = next(run for run in level if run.side.startswith("API"))
            server = next(run for run in level if run.side == reference)
            p50 = api.p(50) / server.p(50) if server.p(50) else math.nan
            rate = api.rate / server.rate if server.rate else math.nan
            p50_met, rate_met = p50 <= P50_GOAL, rate >= THROUGHPUT_GOAL
            if number == 0:
                met = met and p50_met and rate_met
            print(
                f"{'goal' if number == 0 else 'also'} {clients} client(s) vs {reference}:"
                f" p50 API / server = {p50:.2f} (<= {P50_GOAL:g}:"
                f" {'MET' if p50_met else 'NOT MET'}), req/s API / server = {rate:.2f}"
                f" (>= {THROUGHPUT_GOAL:g}: {'MET' if rate_met else 'NOT MET'})"
            )
    return met


def bench(args: argparse.Namespace, folder: Path, queue: str, procs: dict[str, list]) -> int:
    from predictions.ml.inference import ModelTask, load_model, predict
    from predictions.ml.schema import InputSchema
    from predictions.ml.validation import validate_record
    from predictions.models import ModelVersion

    _manifest, entry = bench_io.manifest_entry(bench_io.MANIFEST, args.model)
    version = ModelVersion.objects.select_related("model").get(
        model__slug=args.model, is_active=True
    )
    model_file = BASE_DIR / "ml_artifacts" / entry["file"]
    if version.sha256 != entry["sha256"]:
        raise SystemExit(f"{args.model}: the registered version is not {entry['file']}")
    schema = InputSchema.from_dict(entry["schema"])
    task = ModelTask(entry["task"], tuple(entry.get("classes") or ()))
    row = schema.example_row()
    model = load_model(model_file, sha256=entry["sha256"])
    frame = validate_record(row, schema).frame
    expected = predict(model, frame, task=task).iloc[0]["prediction"]
    expected = expected.item() if hasattr(expected, "item") else expected

    print("MFDP one-row benchmark: API submit-and-wait beside a plain model server")
    print(f"  machine   {os.cpu_count()} cores, {bench_io.cpu_model()}")
    print(f"  load      {bench_io.load_text(before=True)} before the runs")
    print(f"  versions  {bench_io.versions()}")
    print(
        f"  model     {args.model} v{version.number} ({entry['training']['algorithm']}),"
        f" row {json.dumps(row)} -> {expected!r}"
    )
    print(
        f"  workload  clients {' '.join(map(str, args.clients))}; per side and level"
        f" {args.warm_up} untimed + {args.requests} timed requests; Prefer: wait={WAIT_SECONDS}"
    )
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"  threads   OMP_NUM_THREADS {threads} everywhere")
    sys.stdout.flush()

    in_process_runs = in_process(model, frame, row, schema, task, args.requests, args.warm_up)

    from django.conf import settings

    worker, took = start_worker(args, args.worker_env, queue, folder / "worker.log")
    procs["worker"] = [worker]
    print(
        f"  worker    celery --pool {args.worker_pool} --concurrency {args.worker_concurrency},"
        f" answering in {took:.1f} s; broker {args.broker}, queue {queue}"
    )
    web, port, took = start_web(args, args.worker_env, folder / "web.log")
    procs["web"] = [web]
    print(
        f"  web       gunicorn {args.web_workers} x {args.web_threads} threads (API_WAIT_SLOTS"
        f" {settings.API_WAIT_SLOTS} per process), DEBUG off, serving in {took:.1f} s,"
        f" database {args.database_url}"
    )
    api = ApiSide(port, api_customer(), args.model, row, expected)
    sides: list[tuple[Any, dict[str, list[int]]]] = [
        (api, {"web": [web.pid], "worker": [worker.pid]})
    ]
    references: list[str] = []
    if args.server in ("auto", "mlflow", "both"):
        mlflow_procs, mlflow_port, how = start_mlflow(args, model_file, entry["sha256"], folder)
        if mlflow_procs:
            procs["mlflow"] = mlflow_procs
            name = f"mlflow models serve, {args.mlflow_workers} w"
            side = ServerSide(name, mlflow_port, row, expected)
            sides.append((side, {"server": [proc.pid for proc in mlflow_procs]}))
            references.append(side.name)
            print(f"  server    {side.name}: {how}")
        else:
            print(f"  server    MLflow not used: {how}")
            if args.server == "mlflow":
                return 1
    if args.server in ("stdlib", "both") or (args.server == "auto" and not references):
        stdlib_procs, stdlib_port, how = start_stdlib(args, model_file, entry["sha256"], folder)
        procs["stdlib"] = stdlib_procs
        side = ServerSide(f"stdlib server, {args.stdlib_workers} proc", stdlib_port, row, expected)
        sides.append((side, {"server": [proc.pid for proc in stdlib_procs]}))
        references.append(side.name)
        print(f"  server    {side.name}: ThreadingHTTPServer + load_model, {how}")
    print()
    sys.stdout.flush()

    runs: list[Run] = []
    for level, clients in enumerate(args.clients):
        order = sides[level % len(sides) :] + sides[: level % len(sides)]
        for side, groups in order:
            if args.warm_up:
                run_clients(side.port, side.call, clients, args.warm_up)
            runs.append(timed_run(side, clients, args.requests, groups))
    runs.sort(key=lambda run: (run.clients, [s.name for s, _ in sides].index(run.side)))

    print_table(runs, in_process_runs)
    rss = [
        f"{side.name} {session_rss_mb([pid for pids in groups.values() for pid in pids]):.0f} MB"
        for side, groups in sides
    ]
    print(f"memory    RSS after the runs: {', '.join(rss)}")
    print(f"load      {bench_io.load_text(before=False)} after the runs")
    met = goals(runs, references)

    failed = False
    for run in runs:
        errors = run.errors()
        if errors:
            failed = True
            print(f"  {run.side}, {run.clients} client(s): {len(errors)} failed, e.g. {errors[0]}")

    if args.breakdown == "always" or (args.breakdown == "auto" and not met):
        api_runs = [run for run in runs if run.side == api.name]
        context = {"args": args, "worker": worker, "queue": queue, "version": version}
        context.update({"runs": runs, "reference": references[0]})
        context.update({"row": row, "model": model, "schema": schema, "task": task})
        print_breakdown(api_runs, api, context)
    print()
    if failed:
        print(f"SOME REQUESTS FAILED (logs in {folder}; rerun with --keep to keep them)")
        return 1
    return 0


def delete_task_results(broker: str, since: float) -> int:
    """Remove the task results this run left in the broker's Redis database: the worker
    stores each job's return value there for CELERY_RESULT_EXPIRES, though nobody reads it.
    Only results written since the run started; returns how many. Also kombu's deadlines of
    queue bindings, once no binding is left (the worker's remote-control queue leaves one)."""
    import redis

    deleted = 0
    with contextlib.suppress(redis.RedisError), redis.Redis.from_url(broker) as client:
        for key in client.scan_iter("celery-task-meta-*", count=1000):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                done = json.loads(client.get(key) or b"{}")["date_done"]
                if datetime.fromisoformat(done).timestamp() >= since:
                    deleted += client.delete(key)
        if not any(client.scan_iter("_kombu.binding.*", count=1000)):
            client.delete("_kombu.binding_deadlines")
    return deleted


def main() -> int:
    args = parse_args()
    if args.child == "stdlib-server":
        return stdlib_server_main(args)
    import shutil
    import tempfile

    name, admin_url = bench_billing.split_database_url(args.database_url)
    folder = Path(tempfile.mkdtemp(prefix="mfdp-bench-one-row-"))
    queue = f"mfdp-bench-one-row-{uuid.uuid4().hex[:8]}"
    # The same settings for this process, the worker and gunicorn (batch.setup passes them on).
    os.environ.update(
        {
            "API_THROTTLE_CREATE": HIGH_RATE,
            "API_THROTTLE_USER": HIGH_RATE,
            "API_THROTTLE_READ": HIGH_RATE,
            "WEB_WORKERS": str(args.web_workers),
            "WEB_THREADS": str(args.web_threads),
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    os.environ.pop("API_WAIT_SLOTS", None)  # the default: WEB_THREADS - 1
    procs: dict[str, list[subprocess.Popen]] = {}
    started = time.time()
    bench_billing.recreate_database(admin_url, name)
    try:
        args.worker_env = bench_batch.setup(args, folder, queue)
        return bench(args, folder, queue, procs)
    except StartFailed as error:
        print(f"could not start: {error}")
        return 1
    finally:
        for group in procs.values():
            for proc in group:
                bench_batch.stop_worker(proc)
        bench_batch.delete_queue(queue)
        results = delete_task_results(args.broker, started)
        print(f"cleanup: {results} job results removed from Redis (stored by the worker, unread)")
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if args.keep:
            print(f"kept: database {name}, files in {folder} (--keep)")
        else:
            bench_billing.drop_database(admin_url, name)
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
