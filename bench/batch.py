"""Batch job benchmark: a 100,000-row xlsx through the whole job, on a real Celery worker.

The product side is what a customer's upload costs: services.submit_batch (inspect the file,
create and charge the job, enqueue it) in this process, then a real worker process
(`celery -A mfdp worker --pool solo`) claims the job, copies the upload out of storage, reads,
validates, predicts in PREDICT_CHUNK_ROWS chunks (progress and heartbeat after each), writes
the result xlsx, stores it and settles. It is timed from "upload accepted" (submit_batch
returned) to "result stored" (the job is finished in the database, polled every 20 ms); the
time submit_batch itself took is shown beside it. A small warm-up job runs first, so the
worker's model cache is loaded (the bare side does not time its model load either).

The bare side is bench/io.py's bare pipeline, each run in its own process on the same input:
pandas.read_excel(engine="calamine"), the same model file's predict in 5,000-row chunks, an
xlsxwriter constant_memory write; timed from the read to the written file (model load
excluded). HistGradientBoosting predicts with OpenMP on every core, and slows down 10-30x
when another process takes a core (see bench/io.py): watch the load line, or use --threads 1
on both sides for steadier figures.

After the warm-up, each side runs --repeat times (default 3), alternating which goes first:
the product a fresh job each time on the same worker, the bare side a fresh process each time.
Every run is listed; the best (least) and the median time of each side are shown, and the ratio
is taken on the best of each. Peak memory: the worker's VmHWM from /proc/<pid>/status after its
last job (its peak over the warm-up and every job) beside the highest ru_maxrss of the bare
processes (both include the interpreter, the libraries and the model). Goal: product / bare
<= 1.3 and memory <= 1.5x.

Then the outputs are compared: the last product job's result file, read back through Django
storage, and the last bare run's file, with bench/io.py's checks (rows, headers, the inputs of a
sample of rows, an empty error column), except that every prediction must equal the bare one to
1e-9 relative; the first differing rows are printed.

When the goal is missed (or with --breakdown always), the worker is stopped and one more
job is run in this process through services.run_job with the job's stages timed (model load,
storage copy, read, validate, predict, progress updates, write, result store, settle).

Exit status: 0 when every job succeeded and the outputs agree (whether or not the goal is met),
1 otherwise. The database named in --database-url is dropped and recreated at the start and
dropped at the end (unless --keep); the name must contain 'bench'. The broker is kombu's
filesystem transport in a temporary MFDP_VAR_DIR, or Redis with --broker
redis://127.0.0.1:6379/9. Run by hand, never by the test suite:

    .venv/bin/python bench/batch.py [--rows 100000] [--repeat 3] [--broker URL] [--threads N]
                                    [--breakdown auto|always|never] [--keep]
"""

import argparse
import contextlib
import importlib.util
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
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
    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_io = _load("bench_io", "io.py")
bench_billing = _load("bench_billing", "billing.py")

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/mfdp_bench_batch"
SLUG = bench_io.SLUG  # diamond-price, the model bench/io.py measures
RATIO_GOAL = 1.3
MEMORY_GOAL = 1.5
WARM_UP_ROWS = 200
WORKER_START_TIMEOUT = 120
JOB_TIMEOUT = 900
POLL = 0.02
REL_TOLERANCE = 1e-9  # predictions: the product's and the bare side's, relative
SHOWN_DIFFERENCES = 5
clock = time.perf_counter


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of input (100000)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each side after the warm-up (3)"
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"PostgreSQL database to (re)create and use ({DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--broker",
        default="filesystem://",
        help="Celery broker: filesystem:// (default, in the temporary folder) or a redis:// URL",
    )
    parser.add_argument(
        "--breakdown",
        choices=("auto", "always", "never"),
        default="auto",
        help="time the job's stages in process when the goal is missed (auto), always, never",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="OMP_NUM_THREADS for the worker and the bare side (default: every core)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and the files")
    args = parser.parse_args()
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be positive")
    if not args.broker.startswith(("filesystem://", "redis://")):
        parser.error("--broker must be filesystem:// or redis://...")
    return args


def vm_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# --- setup: database, Django, the worker --------------------------------------------------------


def setup(args: argparse.Namespace, folder: Path, queue: str) -> dict[str, str]:
    """Recreate and migrate the database, set up Django here; the env the worker gets."""
    var = folder / "var"
    var.mkdir()
    env = {
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "mfdp.settings",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "LOG_LEVEL": "WARNING",
        "MFDP_VAR_DIR": str(var),
        "CELERY_BROKER_URL": args.broker,
        "CELERY_QUEUE": queue,
    }
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = str(args.threads)
    if args.broker.startswith("redis://"):
        env["CELERY_RESULT_BACKEND"] = args.broker
    else:
        env.pop("CELERY_RESULT_BACKEND", None)
        os.environ.pop("CELERY_RESULT_BACKEND", None)
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("register_models", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    return {**os.environ, **env, "PYTHONUNBUFFERED": "1"}


def start_worker(env: dict[str, str], queue: str, log: Path) -> subprocess.Popen:
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
        "solo",
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
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            command,
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    answer = ping.apply_async(queue=queue)
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if answer.get(timeout=1, interval=0.05) == "pong":
                return proc
        except CeleryTimeoutError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the worker never answered:\n{log.read_text()[-4000:]}") from None


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


# --- the product side ---------------------------------------------------------------------------


def customer(credits: int):
    from accounts.models import User
    from billing import services as billing

    user = User.objects.create_user(email=f"bench-{uuid.uuid4().hex}@bench.invalid")
    billing.grant(user=user, amount=credits, memo="benchmark credits", actor=None)
    return user


def submit(user, version, path: Path):
    from django.core.files import File

    from predictions import services

    with path.open("rb") as handle:
        return services.submit_batch(
            user=user, version=version, upload=File(handle, name=path.name), filename=path.name
        )


def wait_finished(job) -> float:
    """Poll until the job is finished; the moment it was seen finished (clock())."""
    from predictions.models import PredictionJob

    deadline = time.monotonic() + JOB_TIMEOUT
    query = PredictionJob.objects.filter(pk=job.pk, finished_at__isnull=False)
    while not query.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job.pk} did not finish within {JOB_TIMEOUT} s")
        time.sleep(POLL)
    return clock()


def product_run(version, path: Path, rows: int, worker: subprocess.Popen) -> dict[str, Any]:
    from predictions.models import PredictionJob

    user = customer(rows * version.price_per_row)
    began = clock()
    job = submit(user, version, path)
    accepted = clock()
    stored = wait_finished(job)
    job = PredictionJob.objects.get(pk=job.pk)
    return {
        "job_id": job.pk,
        "accept": accepted - began,
        "job": stored - accepted,
        "server_job": (job.finished_at - job.created_at).total_seconds(),
        "queued": (job.started_at - job.created_at).total_seconds(),
        "status": job.status,
        "rows_done": job.rows_done,
        "rows_failed": job.rows_failed,
        "refunded": job.credits_refunded,
        "result_bytes": job.result.size if job.result else 0,
        "worker_hwm_mb": vm_kb(worker.pid, "VmHWM") / 1024,
    }


# --- the breakdown: the job's stages, timed in this process -------------------------------------


class Timers:
    """Stage timers; a stage called inside another (the copy inside a storage save) counts
    only in the outer one, so the stages add up to at most the total."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.depth = 0

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            if self.depth:
                return function(*args, **kwargs)
            self.depth += 1
            began = clock()
            try:
                return function(*args, **kwargs)
            finally:
                self.depth -= 1
                self.add(name, clock() - began)

        return timed


def breakdown(version, path: Path, rows: int) -> tuple[float, Timers]:
    """Run one more job through services.run_job here (no worker is consuming: the message
    stays queued), with each stage of _run_batch timed by wrapping what it calls."""
    from django.db.models.fields.files import FieldFile

    from predictions import services
    from predictions.ml import inference
    from predictions.services import jobs

    timers = Timers()
    saved = {
        "copyfileobj": jobs.shutil.copyfileobj,
        "read_table": jobs.read_table,
        "validate_rows": jobs.validate_rows,
        "write_result": jobs.write_result,
        "_still_wanted": jobs._still_wanted,
        "settle": jobs.settle,
        "predict": inference.predict,
        "save": FieldFile.save,
        "model_for": jobs.model_cache.model_for,
    }
    user = customer(rows * version.price_per_row)
    job = submit(user, version, path)
    began = clock()
    jobs.model_cache.model_for(version)  # the worker had it cached: loaded before the timing
    timers.model_load = clock() - began
    try:
        jobs.model_cache.model_for = timers.wrap("model (cached)", saved["model_for"])
        jobs.shutil.copyfileobj = timers.wrap("storage copy (upload out)", saved["copyfileobj"])
        jobs.read_table = timers.wrap("read", saved["read_table"])
        jobs.validate_rows = timers.wrap("validate", saved["validate_rows"])
        inference.predict = timers.wrap("predict", saved["predict"])
        jobs._still_wanted = timers.wrap("progress + heartbeat", saved["_still_wanted"])
        jobs.write_result = timers.wrap("write", saved["write_result"])
        FieldFile.save = timers.wrap("storage save (result in)", saved["save"])
        jobs.settle = timers.wrap("settle", saved["settle"])
        began = clock()
        services.run_job(job_id=job.pk)
        total = clock() - began
    finally:
        jobs.model_cache.model_for = saved["model_for"]
        jobs.shutil.copyfileobj = saved["copyfileobj"]
        jobs.read_table = saved["read_table"]
        jobs.validate_rows = saved["validate_rows"]
        inference.predict = saved["predict"]
        jobs._still_wanted = saved["_still_wanted"]
        jobs.write_result = saved["write_result"]
        FieldFile.save = saved["save"]
        jobs.settle = saved["settle"]
    return total, timers


# --- the outputs: the product's stored result beside the bare side's file ----------------------


def stored_result(job_id: int, target: Path) -> Path:
    """The job's result file, read through Django storage, copied to `target`."""
    from predictions.models import PredictionJob

    job = PredictionJob.objects.get(pk=job_id)
    if not job.result:
        raise SystemExit(f"job {job_id} has no result file")
    with job.result.open("rb") as stored, target.open("wb") as copy:
        shutil.copyfileobj(stored, copy)
    return target


def check_outputs(product: Path, bare: Path, names: list[str], rows: int) -> tuple[int, list[str]]:
    """(predictions compared, problems; none when the outputs agree). bench/io.py's checks of
    the two files (row counts, headers, the inputs of a sample of rows, an empty error column),
    but not its prediction check, which is absolute: here every prediction must equal the bare
    one to REL_TOLERANCE relative, and the first differing rows are named."""
    problems = [
        f"{name}: {seen}"
        for name, holds, seen in bench_io.check_outputs(product, bare, names, rows)
        if not holds and not name.startswith("every prediction")
    ]
    p_rows, b_rows = bench_io.read_sheet(product), bench_io.read_sheet(bare)
    width = len(names)  # the prediction column follows the inputs on both sides
    compared, differing = 0, []
    for number, (p_row, b_row) in enumerate(zip(p_rows[1:], b_rows[1:], strict=False), start=2):
        compared += 1
        p_value = p_row[width] if len(p_row) > width else None
        b_value = b_row[width] if len(b_row) > width else None
        numbers = all(
            isinstance(value, int | float) and not isinstance(value, bool)
            for value in (p_value, b_value)
        )
        if not (numbers and math.isclose(p_value, b_value, rel_tol=REL_TOLERANCE, abs_tol=0.0)):
            differing.append(f"row {number:,}: product {p_value!r}, bare {b_value!r}")
    if differing:
        shown = differing[:SHOWN_DIFFERENCES]
        problems.append(
            f"{len(differing):,} of {compared:,} predictions differ by more than"
            f" {REL_TOLERANCE:g} relative; first {len(shown)}:"
        )
        problems.extend(f"  {line}" for line in shown)
    return compared, problems


# --- the report ---------------------------------------------------------------------------------


def best_and_median(times: list[float]) -> tuple[float, int, float]:
    """(least time, its run number from 1, median time)."""
    best = min(range(len(times)), key=times.__getitem__)
    return times[best], best + 1, statistics.median(times)


def bench(args: argparse.Namespace, folder: Path) -> int:
    from predictions.models import ModelVersion

    _manifest, entry = bench_io.manifest_entry(bench_io.MANIFEST, SLUG)
    names = [column["name"] for column in entry["schema"]["columns"]]
    version = ModelVersion.objects.select_related("model").get(model__slug=SLUG, is_active=True)
    print("MFDP batch job benchmark: xlsx -> job on a real Celery worker -> stored result")
    print(
        f"  machine   {os.cpu_count()} cores, {bench_io.cpu_model()},"
        f" load {bench_io.load_text(before=True)}"
    )
    print(f"  versions  {bench_io.versions()}")
    print(f"  model     {SLUG} v{version.number} ({entry['training']['algorithm']})")
    print(f"  broker    {args.broker.split('://')[0]}, database {args.database_url}")
    threads = os.environ.get("OMP_NUM_THREADS", "unset (every core)")
    print(f"  threads   OMP_NUM_THREADS {threads} for the worker and the bare side")

    source, warm = folder / "input.xlsx", folder / "warm-up.xlsx"
    began = clock()
    bench_io.build_input(source, entry, args.rows)
    bench_io.build_input(warm, entry, WARM_UP_ROWS)
    print(
        f"  input     {args.rows:,} rows, {source.stat().st_size / 2**20:.1f} MB xlsx, built in"
        f" {clock() - began:.1f} s"
    )
    print(
        f"  workload  after a {WARM_UP_ROWS}-row warm-up job, each side {args.repeat}x in"
        " alternating order: product a fresh job on the same worker, bare a fresh process"
    )
    print()

    from django.conf import settings

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    products: list[dict[str, Any]] = []
    bares: list[dict[str, Any]] = []
    worker = start_worker(args.worker_env, queue, folder / "worker.log")
    try:
        ready = vm_kb(worker.pid, "VmHWM") / 1024
        warm_run = product_run(version, warm, WARM_UP_ROWS, worker)
        if warm_run["status"] != "succeeded" or warm_run["rows_done"] != WARM_UP_ROWS:
            print(
                f"the warm-up job did not succeed: {warm_run}; worker log {folder / 'worker.log'}"
            )
            return 1
        for number in range(1, args.repeat + 1):
            # Alternate which side goes first, so that neither always runs on a warmer machine.
            for side in ("product", "bare") if number % 2 else ("bare", "product"):
                if side == "product":
                    run = product_run(version, source, args.rows, worker)
                    if run["status"] != "succeeded" or run["rows_done"] != args.rows:
                        print(
                            f"product job {number} did not succeed: {run};"
                            f" worker log {folder / 'worker.log'}"
                        )
                        return 1
                    products.append(run)
                else:
                    output = folder / f"bare-{number}.xlsx"
                    command = ["--input", str(source), "--output", str(output), "--child", "bare"]
                    bares.append(bench_io.start_child(command, args.threads))
    finally:
        stop_worker(worker)

    for number, run in enumerate(products, start=1):
        print(
            f"product {number}  {run['job']:>7.2f} s  (finished_at - created_at"
            f" {run['server_job']:.2f} s, of it {run['queued']:.2f} s queued; submit_batch"
            f" {run['accept']:.2f} s; worker VmHWM {run['worker_hwm_mb']:.0f} MB)"
        )
    for number, run in enumerate(bares, start=1):
        print(
            f"bare    {number}  {run['wall']:>7.2f} s  (read {run['stages']['read']:.2f},"
            f" predict {run['stages']['predict']:.2f}, write {run['stages']['write']:.2f};"
            f" peak RSS {run['peak_rss_mb']:.0f} MB)"
        )
    print(
        "(product: upload accepted -> result stored, polled every 20 ms; bare: read + predict"
        " + write, model load excluded)"
    )
    print(f"load      {bench_io.load_text(before=False)} after the runs")
    print()

    product_best, product_number, product_median = best_and_median([r["job"] for r in products])
    bare_best, bare_number, bare_median = best_and_median([r["wall"] for r in bares])
    accept_best, _number, accept_median = best_and_median([r["accept"] for r in products])
    best_bare = bares[bare_number - 1]
    print(
        f"product   best {product_best:.2f} s (run {product_number}), median {product_median:.2f} s"
        f" upload accepted -> result stored; submit_batch itself best {accept_best:.2f} s,"
        f" median {accept_median:.2f} s"
    )
    print(
        f"bare      best {bare_best:.2f} s (run {bare_number}), median {bare_median:.2f} s"
        f" (best: read {best_bare['stages']['read']:.2f}, predict"
        f" {best_bare['stages']['predict']:.2f}, write {best_bare['stages']['write']:.2f})"
    )
    worker_peak = products[-1]["worker_hwm_mb"]  # a high-water mark: the peak over every job
    bare_peak = max(run["peak_rss_mb"] for run in bares)
    print(
        f"peak RSS  worker (VmHWM, over all jobs) {worker_peak:.0f} MB (ready"
        f" {ready:.0f} MB, after the warm-up job {warm_run['worker_hwm_mb']:.0f} MB);"
        f" bare peak RSS {bare_peak:.0f} MB (highest run; model loaded"
        f" {max(run['rss_ready_mb'] for run in bares):.0f} MB); result"
        f" {products[-1]['result_bytes'] / 2**20:.1f} MB"
    )
    ratio = product_best / bare_best
    memory = worker_peak / bare_peak
    ratio_met, memory_met = ratio <= RATIO_GOAL, memory <= MEMORY_GOAL
    print()
    print(
        f"ratio     product / bare = {ratio:.3f} (best of each; of the medians"
        f" {product_median / bare_median:.3f})   goal <= {RATIO_GOAL}:"
        f" {'MET' if ratio_met else 'NOT MET'}"
    )
    print(
        f"memory    worker / bare  = {memory:.2f}    goal <= {MEMORY_GOAL}:"
        f" {'MET' if memory_met else 'NOT MET'}"
    )

    product_file = stored_result(products[-1]["job_id"], folder / "product-result.xlsx")
    compared, problems = check_outputs(
        product_file, folder / f"bare-{len(bares)}.xlsx", names, args.rows
    )
    print()
    compared_what = (
        f"product job {len(products)}'s stored result vs bare run {len(bares)}'s file:"
        f" rows, headers, every prediction to {REL_TOLERANCE:g} relative, the inputs of a"
        " sample of rows, an empty error column"
    )
    if problems:
        print(f"outputs: DIFFER ({compared_what})")
        for line in problems:
            print(f"  {line}")
    else:
        print(f"outputs: {compared} predictions equal ({compared_what})")

    if args.breakdown == "always" or (args.breakdown == "auto" and not (ratio_met and memory_met)):
        print()
        print(
            "breakdown one more job run in this process through services.run_job"
            f" (PREDICT_CHUNK_ROWS {settings.PREDICT_CHUNK_ROWS:,}), stages timed:"
        )
        total, timers = breakdown(version, source, args.rows)
        accounted = 0.0
        bare_stage = {"read": "read", "predict": "predict", "write": "write"}
        for name, seconds in sorted(timers.seconds.items(), key=lambda item: -item[1]):
            accounted += seconds
            beside = (
                f"  bare {best_bare['stages'][bare_stage[name]]:.2f} s (best run)"
                if name in bare_stage
                else ""
            )
            print(
                f"  {name:<28} {seconds:>7.2f} s {100 * seconds / total:>5.1f} %"
                f"  {timers.calls[name]:>6,} calls{beside}"
            )
        print(f"  {'other (claim, concat, ...)':<28} {total - accounted:>7.2f} s")
        print(f"  {'total':<28} {total:>7.2f} s")
        print(f"  (model load before the run, not in the total: {timers.model_load:.2f} s)")
    if problems:
        print()
        print("OUTPUTS DIFFER (rerun with --keep to inspect the files)")
        return 1
    return 0


def delete_queue(queue: str) -> None:
    """Best effort: leave no queue (the breakdown's message) behind on a Redis broker."""
    if "django" not in sys.modules or not os.environ.get("CELERY_BROKER_URL", "").startswith(
        "redis://"
    ):
        return
    from mfdp.celery import app

    with contextlib.suppress(Exception), app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        bound = app.amqp.queues[queue].bind(conn.default_channel)
        bound.declare()
        bound.purge()
        bound.delete()


def main() -> int:
    args = parse_args()
    name, admin_url = bench_billing.split_database_url(args.database_url)
    folder = Path(tempfile.mkdtemp(prefix="mfdp-bench-batch-"))
    queue = f"mfdp-bench-batch-{uuid.uuid4().hex[:8]}"
    bench_billing.recreate_database(admin_url, name)
    try:
        args.worker_env = setup(args, folder, queue)
        return bench(args, folder)
    finally:
        delete_queue(queue)
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"kept: database {name}, files in {folder} (--keep)")
        else:
            bench_billing.drop_database(admin_url, name)
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
