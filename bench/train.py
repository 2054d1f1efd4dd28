"""Training benchmark: a customer's random forest through the product beside a bare fit, and
the exploration of a table beside pandas' describe.

1. Training. The table is ggplot2's diamonds (predictions.ml.datasets.load_diamonds), its
first --rows rows (50,000; target "Price"), written once to a csv (or xlsx) file, uploaded
with training.services.dataset_upload and confirmed with dataset_confirm; the exploration
that dataset_confirm queues is awaited, so the training does not queue behind it. The
product side is then timed from the call of training_submit for that confirmed dataset
("upload accepted": quote, charge, enqueue) to "version saved": a real Celery worker (a
separate process, prefork, concurrency 1, on a throwaway PostgreSQL database and Redis with a
queue of its own) has claimed the job, copied the stored table out, read and typed it, split
it, grown the forest in chunks (progress, heartbeat and cancel checks between them),
evaluated it (metrics, curves, permutation importance), saved the skops file, registered it
as a ModelVersion (the registry loads and tries it in a child process) and settled the job;
this process polls every 20 ms until the TrainingJob is succeeded and its ModelVersion exists.

The bare side, in this process, on the same rows (load_diamonds' frame, not the uploaded
file, so that equal metrics also show the product read and typed the file faithfully), the
same split (train_test_split, the product's test share and seed 42) and the same pipeline
(get_algorithm(...).build(schema, params, seed=42) with the dataset's confirmed schema): timed
from the pipeline's build to the saved file, i.e. Pipeline.fit on the train rows, predict on
the test rows, r2/mae/rmse (training.regression_metrics), training.save_model (canonical
skops, loaded back and checked). Both sides must produce the same metrics (and, reported,
the same file checksum). Goal: product / bare <= 1.2 on the best of each.

2. Exploration. --profile-rows rows (100,000: every diamond once or twice, shuffled with a
fixed seed, target included) are uploaded with dataset_upload. The product side is
training.services.compute_profile in this process (the Celery task calls just that): copy
the stored file out, read_table, training_table, profiling.profile, and a progress UPDATE
after each column; the stages are timed inside it, so profile alone is shown too. The bare
side is pandas' describe(include="all") plus value_counts() of every column, on the frame
training_table produced (already read and typed: reading is only on the product's side); a
pandas read_csv/read_excel of the same file is timed beside it for reference.

Each side of each part runs --repeat times (3), alternating which goes first; every run is
listed, with the best and the median of each side; ratios are taken on the best. When the
training goal is missed (or with --breakdown always) the worker is stopped and one more
training runs in this process through services.run_training with its stages timed.

Exit status: 0 when every training succeeded and both sides' metrics agree (whether or not
the goal is met), 1 otherwise. The database named in --database-url is dropped and recreated
at the start and dropped at the end (unless --keep); its name must contain 'bench'. Run by
hand, never by the test suite:

    .venv/bin/python bench/train.py [--rows 50000] [--profile-rows 100000] [--repeat 3]
                                    [--params JSON] [--format csv|xlsx] [--breakdown auto]
                                    [--worker-pool prefork|solo|threads]

A training that fails on the worker stops the benchmark with the worker's logged cause (on a
prefork worker, as of this writing: the registry's check process cannot start from Celery's
daemonic pool process; --worker-pool solo runs the same code in the worker's main process).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
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


bench_one_row = _load("bench_one_row", "one_row.py")
bench_batch = bench_one_row.bench_batch
bench_io = bench_batch.bench_io
bench_billing = bench_batch.bench_billing

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/mfdp_bench_train"
DEFAULT_BROKER = "redis://127.0.0.1:6379/12"
ALGORITHM = "random_forest_regression"
TARGET = "Price"  # load_diamonds' name for ggplot2's `price`
SEED = 42  # the product's training seed (training.services.trainings.SEED)
SHUFFLE_SEED = 7  # the order of the exploration table's rows
RATIO_GOAL = 1.2
JOB_TIMEOUT = 1800
POLL = 0.02
clock = time.perf_counter


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=50_000, help="training rows, the first of diamonds (50000)"
    )
    parser.add_argument(
        "--profile-rows", type=int, default=100_000, help="rows of the exploration table (100000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (3)")
    parser.add_argument(
        "--params",
        default="{}",
        help=f"hyperparameters of {ALGORITHM} as JSON ({{}}: the defaults), e.g."
        " '{\"n_estimators\": 50}'",
    )
    parser.add_argument(
        "--format", choices=("csv", "xlsx"), default="csv", help="file uploaded (csv)"
    )
    parser.add_argument(
        "--worker-pool",
        choices=("prefork", "solo", "threads"),
        default="prefork",
        help="Celery pool of the worker, concurrency 1 (prefork, as the Procfile runs it)",
    )
    parser.add_argument(
        "--breakdown",
        choices=("auto", "always", "never"),
        default="auto",
        help="time a training's stages in process when the goal is missed (auto), always, never",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"PostgreSQL database to (re)create and use ({DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--broker", default=DEFAULT_BROKER, help=f"Celery broker, Redis ({DEFAULT_BROKER})"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and the files")
    args = parser.parse_args()
    if args.rows < 30 or args.profile_rows < 30 or args.repeat < 1:
        parser.error("--rows and --profile-rows must be at least 30, --repeat positive")
    if not args.broker.startswith("redis://"):
        parser.error("--broker must be a redis:// URL (the product runs on Redis)")
    try:
        args.params = json.loads(args.params)
    except json.JSONDecodeError as error:
        parser.error(f"--params is not JSON: {error}")
    if not isinstance(args.params, dict):
        parser.error("--params must be a JSON object")
    args.threads = None  # bench_batch.setup reads it: OMP_NUM_THREADS is left as it is
    return args


def best_and_median(times: list[float]) -> tuple[float, int, float]:
    return bench_batch.best_and_median(times)


# --- the tables --------------------------------------------------------------------------------


def diamonds():
    from predictions.ml.datasets import load_diamonds

    dataset = load_diamonds()
    if dataset.target != TARGET:
        raise SystemExit(f"load_diamonds' target is {dataset.target!r}, not {TARGET!r}")
    return dataset.frame


def write_table(frame, path: Path) -> None:
    if path.suffix == ".xlsx":
        frame.to_excel(path, index=False, engine="xlsxwriter")
    else:
        frame.to_csv(path, index=False)


def read_with_pandas(path: Path):
    import pandas as pd

    if path.suffix == ".xlsx":
        return pd.read_excel(path, engine="calamine")
    return pd.read_csv(path)


def upload(user, path: Path, name: str):
    from django.core.files import File

    from training.services import dataset_upload

    with path.open("rb") as handle:
        return dataset_upload(
            user=user,
            upload=File(handle, name=path.name),
            filename=path.name,
            target=TARGET,
            name=name,
        )


def wait_for(query, what: str) -> float:
    """Poll until `query` finds a row; the moment it did (clock())."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while not query.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not finish within {JOB_TIMEOUT} s")
        time.sleep(POLL)
    return clock()


# --- part 1: training ---------------------------------------------------------------------------


def worker_failure(log: Path, job_id: str) -> str:
    """The last line of the traceback the worker logged for `job_id`, if any."""
    found = ""
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("job_id") == job_id and record.get("exc_info"):
            found = record["exc_info"].strip().splitlines()[-1]
    return found


def product_training(user, dataset, params: dict, log: Path) -> dict[str, Any]:
    """training_submit for the confirmed dataset -> the job succeeded with its version."""
    from predictions.models import JobStatus, ModelVersion
    from training.models import TrainingJob
    from training.services import training_submit

    began = clock()
    job = training_submit(user=user, dataset=dataset, algorithm=ALGORITHM, params=params)
    accepted = clock()
    finished = TrainingJob.objects.filter(pk=job.pk, finished_at__isnull=False)
    seen = wait_for(finished, f"training {job.pk}")
    job = TrainingJob.objects.get(pk=job.pk)
    version = ModelVersion.objects.filter(pk=job.version_id).first() if job.version_id else None
    if job.status != JobStatus.SUCCEEDED or version is None:
        cause = worker_failure(log, str(job.pk)) or "nothing in the worker's log"
        raise SystemExit(
            f"FAILED: training {job.pk} ended {job.status} ({job.error_code}: {job.error}),"
            f" stage {job.stage}, no version; the worker logged: {cause}"
        )
    durations = version.training.get("durations", {})
    run = (job.finished_at - job.started_at).total_seconds()
    return {
        "wall": seen - began,
        "submit": accepted - began,
        "queued": (job.started_at - job.created_at).total_seconds(),
        "run": run,
        "durations": durations,
        # loading (copy out, read, type), registering (child-process check, storage, INSERT),
        # settling and the progress writes outside the stages
        "outside": run - sum(durations.values()),
        "metrics": {name: version.metrics.get(name) for name in ("r2", "mae", "rmse")},
        "sha256": version.sha256,
        "size_mb": version.artifact.size / 2**20,
        "version": f"{version.model.slug} v{version.number}",
    }


def bare_split(frame, schema, params: dict):
    """The rows the algorithm reads and the product's split of them; not timed."""
    from sklearn.model_selection import train_test_split

    from predictions.ml import training
    from predictions.ml.algorithms import get_algorithm

    columns = get_algorithm(ALGORITHM).columns(schema).names
    y = frame[TARGET].astype(float).to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        frame[columns], y, test_size=training.TEST_SIZE, random_state=SEED
    )
    return x_train.reset_index(drop=True), x_test.reset_index(drop=True), y_train, y_test


def bare_training(split, schema, params: dict, out: Path) -> dict[str, Any]:
    from predictions.ml import training
    from predictions.ml.algorithms import get_algorithm

    x_train, x_test, y_train, y_test = split
    began = clock()
    pipeline = get_algorithm(ALGORITHM).build(schema, params, seed=SEED)
    pipeline.fit(x_train, y_train)
    fitted = clock()
    predicted = pipeline.predict(x_test)
    metrics = training.regression_metrics(y_test, predicted)
    evaluated = clock()
    # The product saves customers' models at QUICK_COMPRESSION; the reference does the same.
    sha256, _types = training.save_model(
        pipeline,
        out,
        check_rows=x_test.head(200),
        task=training.REGRESSION,
        compresslevel=training.QUICK_COMPRESSION,
    )
    saved = clock()
    return {
        "wall": saved - began,
        "fit": fitted - began,
        "evaluate": evaluated - fitted,
        "save": saved - evaluated,
        "metrics": {name: metrics[name] for name in ("r2", "mae", "rmse")},
        "sha256": sha256,
        "size_mb": out.stat().st_size / 2**20,
    }


def training_breakdown(user, dataset, params: dict) -> tuple[float, Any]:
    """One more training through services.run_training in this process (the worker is
    stopped; the message stays queued and is purged with the queue), its stages timed."""
    from predictions.ml import fitting
    from predictions.services import registry
    from training.services import training_submit, trainings

    # One set of timers: a progress write inside a timed stage counts in that stage only.
    timers = bench_batch.Timers()
    saved = {
        (trainings, "dataset_frame"): trainings.dataset_frame,
        (trainings, "build_training_table"): trainings.build_training_table,
        (fitting, "_split"): fitting._split,
        (fitting, "_fit"): fitting._fit,
        (fitting, "_evaluate"): fitting._evaluate,
        (fitting, "_feature_importance"): fitting._feature_importance,
        (fitting.training, "save_model"): fitting.training.save_model,
        (registry, "_check_in_child_process"): registry._check_in_child_process,
        (trainings, "settle_training"): trainings.settle_training,
        (trainings._Progress, "__call__"): trainings._Progress.__call__,
        (trainings._Progress, "should_stop"): trainings._Progress.should_stop,
    }
    names = {
        "dataset_frame": "load: copy out of storage + read_table",
        "build_training_table": "load: training_table (validate, type)",
        "_split": "split",
        "_fit": "fit (grown in chunks)",
        "_evaluate": "evaluate: predict, metrics, curves",
        "_feature_importance": "evaluate: permutation importance",
        "save_model": "save: skops, load back, check",
        "_check_in_child_process": "register: load + try in a child process",
        "settle_training": "settle",
        "__call__": "progress + heartbeat (outside the stages)",
        "should_stop": "cancel checks (outside the stages)",
    }
    job = training_submit(user=user, dataset=dataset, algorithm=ALGORITHM, params=params)
    try:
        for (owner, attribute), function in saved.items():
            setattr(owner, attribute, timers.wrap(names[attribute], function))
        began = clock()
        trainings.run_training(job_id=job.pk)
        total = clock() - began
    finally:
        for (owner, attribute), function in saved.items():
            setattr(owner, attribute, function)
    return total, timers


# --- part 2: exploration ------------------------------------------------------------------------


def product_profile(dataset) -> dict[str, Any]:
    """compute_profile as the task calls it, its stages timed."""
    from training.models import Dataset, ProfileStatus
    from training.services import datasets

    Dataset.objects.filter(pk=dataset.pk).update(
        profile_status=ProfileStatus.QUEUED, profile=None, profile_progress=0
    )
    timers, progress = bench_batch.Timers(), bench_batch.Timers()
    saved = {
        "dataset_frame": datasets.dataset_frame,
        "build_training_table": datasets.build_training_table,
        "profile": datasets.profile,
        "_profile_progress": datasets._profile_progress,
    }
    try:
        datasets.dataset_frame = timers.wrap("read", saved["dataset_frame"])
        datasets.build_training_table = timers.wrap("table", saved["build_training_table"])
        datasets.profile = timers.wrap("profile", saved["profile"])
        datasets._profile_progress = progress.wrap("progress", saved["_profile_progress"])
        began = clock()
        done = datasets.compute_profile(dataset_id=dataset.pk)
        wall = clock() - began
    finally:
        for name, function in saved.items():
            setattr(datasets, name, function)
    if done is None or done.profile_status != ProfileStatus.READY:
        raise SystemExit(f"the exploration of dataset {dataset.pk} did not succeed: {done}")
    stages = dict(timers.seconds)
    stages["progress"] = progress.seconds.get("progress", 0.0)
    stages["profile_only"] = stages["profile"] - stages["progress"]
    return {"wall": wall, "stages": stages, "rows": done.profile["rows"]}


def bare_profile(frame) -> dict[str, Any]:
    began = clock()
    description = frame.describe(include="all")
    counts = {name: frame[name].value_counts() for name in frame.columns}
    wall = clock() - began
    return {"wall": wall, "columns": description.shape[1], "counts": len(counts)}


# --- the report ---------------------------------------------------------------------------------


def metrics_text(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in metrics.items())


def part_training(args, folder: Path, user, worker_state: dict) -> bool:
    """Whether both sides' metrics agree (a failed training stops the benchmark)."""
    from predictions.ml.algorithms import get_algorithm
    from training.models import Dataset, ProfileStatus
    from training.services import dataset_confirm
    from training.services.datasets import dataset_schema

    algorithm = get_algorithm(ALGORITHM)
    params = algorithm.validate(args.params)
    frame = diamonds().head(args.rows).reset_index(drop=True)
    path = folder / f"diamonds-{args.rows}.{args.format}"
    began = clock()
    write_table(frame, path)
    print(
        f"table     first {args.rows:,} rows of diamonds ({len(frame.columns)} columns, target"
        f" {TARGET!r}), {path.stat().st_size / 2**20:.1f} MB {args.format}, written in"
        f" {clock() - began:.1f} s"
    )
    print(f"algorithm {ALGORITHM}, hyperparameters {json.dumps(params)}, seed {SEED}")

    began = clock()
    dataset = upload(user, path, "diamonds training")
    uploaded = clock()
    dataset = dataset_confirm(dataset=dataset)
    confirmed = clock()
    ready = Dataset.objects.filter(
        pk=dataset.pk, profile_status__in=[ProfileStatus.READY, ProfileStatus.FAILED]
    )
    profiled = wait_for(ready, f"the exploration of dataset {dataset.pk}")
    dataset = Dataset.objects.get(pk=dataset.pk)
    schema = dataset_schema(dataset).features()
    print(
        f"upload    dataset_upload {uploaded - began:.2f} s, dataset_confirm"
        f" {confirmed - uploaded:.2f} s, then the exploration it queues on the worker"
        f" {profiled - confirmed:.2f} s ({dataset.profile_status}; awaited before timing)"
    )
    print(
        "schema    " + ", ".join(f"{column.name}:{column.type.value}" for column in schema.columns)
    )
    split = bare_split(frame, schema, params)
    print(
        f"workload  each side {args.repeat}x, alternating; product a fresh training_submit on"
        " the same dataset and worker, bare in this process"
    )
    print()
    sys.stdout.flush()

    products, bares = [], []
    for number in range(1, args.repeat + 1):
        for side in ("product", "bare") if number % 2 else ("bare", "product"):
            if side == "product":
                products.append(product_training(user, dataset, params, folder / "worker.log"))
            else:
                bares.append(bare_training(split, schema, params, folder / f"bare-{number}.skops"))

    for number, run in enumerate(products, start=1):
        stages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in run["durations"].items())
        print(
            f"product {number}  {run['wall']:>7.2f} s  (training_submit {run['submit']:.2f},"
            f" queued {run['queued']:.2f}, on the worker {run['run']:.2f}: {stages}, load +"
            f" register + settle + progress {run['outside']:.2f}; {run['version']},"
            f" {run['size_mb']:.1f} MB)"
        )
    for number, run in enumerate(bares, start=1):
        print(
            f"bare    {number}  {run['wall']:>7.2f} s  (fit {run['fit']:.2f}, predict + metrics"
            f" {run['evaluate']:.2f}, save_model {run['save']:.2f}; {run['size_mb']:.1f} MB)"
        )
    print(
        "(product: training_submit called -> job succeeded and its ModelVersion exists, polled"
        " every 20 ms; bare: build + Pipeline.fit + predict + metrics + save_model, split"
        " prepared before)"
    )
    print()
    product_best, product_number, product_median = best_and_median([r["wall"] for r in products])
    bare_best, bare_number, bare_median = best_and_median([r["wall"] for r in bares])
    print(
        f"product   best {product_best:.2f} s (run {product_number}), median {product_median:.2f} s"
    )
    print(f"bare      best {bare_best:.2f} s (run {bare_number}), median {bare_median:.2f} s")
    ratio = product_best / bare_best
    met = ratio <= RATIO_GOAL
    print(
        f"ratio     product / bare = {ratio:.3f} (best of each; of the medians"
        f" {product_median / bare_median:.3f})   goal <= {RATIO_GOAL}:"
        f" {'MET' if met else 'NOT MET'}"
    )

    expected = bares[0]["metrics"]
    differing = [
        f"{side} {number}: {metrics_text(run['metrics'])}"
        for side, runs in (("product", products), ("bare", bares))
        for number, run in enumerate(runs, start=1)
        if run["metrics"] != expected
    ]
    if differing:
        print(f"metrics   DIFFER: bare 1 has {metrics_text(expected)}; " + "; ".join(differing))
    else:
        print(
            f"metrics   the same on every run of both sides: {metrics_text(expected)}"
            f" ({len(split[3]):,} test rows; same rows, split, hyperparameters and seed)"
        )
    product_files = {run["sha256"] for run in products}
    bare_files = {run["sha256"] for run in bares}
    print(
        f"files     skops sha256: product {', '.join(sorted(f[:12] for f in product_files))},"
        f" bare {', '.join(sorted(f[:12] for f in bare_files))}"
        + (
            " (the same file)"
            if product_files == bare_files and len(product_files) == 1
            else " (the metrics are what must agree)"
        )
    )

    if args.breakdown == "always" or (args.breakdown == "auto" and not met):
        bench_batch.stop_worker(worker_state["worker"])
        print()
        print("breakdown one more training run in this process through run_training, stages:")
        total, timers = training_breakdown(user, dataset, params)
        accounted = 0.0
        for name, seconds in timers.seconds.items():
            accounted += seconds
            print(
                f"  {name:<44} {seconds:>7.2f} s {100 * seconds / total:>5.1f} %"
                f" {timers.calls[name]:>4} calls"
            )
        print(f"  {'other (claim, temp files, storage, INSERTs)':<44} {total - accounted:>7.2f} s")
        print(f"  {'total':<44} {total:>7.2f} s   (bare best {bare_best:.2f} s)")
    return not differing


def part_exploration(args, folder: Path, user) -> None:
    import numpy as np

    from predictions.ml.profiling import training_table
    from training.services.datasets import dataset_frame, dataset_schema

    frame = diamonds()
    order = np.random.default_rng(SHUFFLE_SEED).permutation(
        np.resize(np.arange(len(frame)), args.profile_rows)
    )
    frame = frame.iloc[order].reset_index(drop=True)
    path = folder / f"diamonds-{args.profile_rows}.{args.format}"
    began = clock()
    write_table(frame, path)
    written = clock() - began
    began = clock()
    dataset = upload(user, path, "diamonds exploration")
    uploaded = clock() - began
    print(
        f"table     {args.profile_rows:,} rows (every diamond once or twice, shuffled),"
        f" {path.stat().st_size / 2**20:.1f} MB {args.format}, written in {written:.1f} s,"
        f" dataset_upload {uploaded:.2f} s (not confirmed: compute_profile runs here)"
    )
    typed = training_table(dataset_frame(dataset), dataset_schema(dataset)).frame
    print()
    sys.stdout.flush()

    products, bares, reads = [], [], []
    for number in range(1, args.repeat + 1):
        for side in ("product", "bare") if number % 2 else ("bare", "product"):
            if side == "product":
                products.append(product_profile(dataset))
            else:
                bares.append(bare_profile(typed))
                began = clock()
                read_with_pandas(path)
                reads.append(clock() - began)
    for number, run in enumerate(products, start=1):
        stages = run["stages"]
        print(
            f"product {number}  {run['wall']:>7.2f} s  (read {stages['read']:.2f},"
            f" training_table {stages['table']:.2f}, profile {stages['profile_only']:.2f},"
            f" progress writes {stages['progress']:.2f}; {run['rows']:,} rows)"
        )
    for number, (run, read) in enumerate(zip(bares, reads, strict=True), start=1):
        print(
            f"bare    {number}  {run['wall']:>7.2f} s  (describe + value_counts of"
            f" {run['counts']} columns; pandas read_{'excel' if args.format == 'xlsx' else 'csv'}"
            f" of the file, not included: {read:.2f} s)"
        )
    print(
        "(product: compute_profile = copy the stored file out + read_table + training_table +"
        " profile + a progress UPDATE per column + status writes; bare: describe(include='all')"
        " + value_counts() per column on the typed frame, already read)"
    )
    print()
    product_best, product_number, product_median = best_and_median([r["wall"] for r in products])
    profile_best, _number, profile_median = best_and_median(
        [r["stages"]["profile_only"] for r in products]
    )
    bare_best, bare_number, bare_median = best_and_median([r["wall"] for r in bares])
    read_best = min(reads)
    print(
        f"product   compute_profile best {product_best:.2f} s (run {product_number}), median"
        f" {product_median:.2f} s; profiling.profile alone best {profile_best:.2f} s, median"
        f" {profile_median:.2f} s"
    )
    print(
        f"bare      describe + value_counts best {bare_best:.3f} s (run {bare_number}), median"
        f" {bare_median:.3f} s; with pandas' read best {bare_best + read_best:.2f} s"
    )
    print(
        f"ratio     compute_profile / bare = {product_best / bare_best:.1f};"
        f" profile alone / bare = {profile_best / bare_best:.1f};"
        f" compute_profile / (pandas read + bare) = {product_best / (bare_best + read_best):.2f}"
        " (best of each; no goal set)"
    )


def bench(args, folder: Path, queue: str, worker_state: dict) -> int:
    from predictions.ml.algorithms import get_algorithm

    print("MFDP training benchmark: own models through the product beside a bare fit")
    print(f"  machine   {os.cpu_count()} cores, {bench_io.cpu_model()}")
    print(f"  load      {bench_io.load_text(before=True)} before the runs")
    print(f"  versions  {bench_io.versions()}")
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(
        f"  threads   OMP_NUM_THREADS {threads}; the product fits and evaluates under"
        " threadpool_limits(1), the bare side does not limit (a forest fits on one core either"
        " way: n_jobs unset)"
    )
    worker, took = bench_one_row.start_worker(
        SimpleNamespace(worker_pool=args.worker_pool, worker_concurrency=1),
        args.worker_env,
        queue,
        folder / "worker.log",
    )
    worker_state["worker"] = worker
    print(
        f"  worker    celery --pool {args.worker_pool} --concurrency 1, answering in"
        f" {took:.1f} s; broker {args.broker}, queue {queue}; database {args.database_url}"
    )
    price = get_algorithm(ALGORITHM).price(args.rows)
    user = bench_batch.customer(price * (args.repeat + 2) + 1000)
    print()
    print(f"1. training: {ALGORITHM} on {args.rows:,} rows, upload accepted -> version saved")
    agree = part_training(args, folder, user, worker_state)
    print()
    print(f"2. exploration: {args.profile_rows:,} rows, compute_profile beside pandas")
    part_exploration(args, folder, user)
    print()
    print(f"load      {bench_io.load_text(before=False)} after the runs")
    if not agree:
        print("METRICS DIFFER between the product and the bare fit")
        return 1
    return 0


def main() -> int:
    args = parse_args()
    name, admin_url = bench_billing.split_database_url(args.database_url)
    folder = Path(tempfile.mkdtemp(prefix="mfdp-bench-train-"))
    queue = f"mfdp-bench-train-{uuid.uuid4().hex[:8]}"
    worker_state: dict[str, Any] = {}
    bench_billing.recreate_database(admin_url, name)
    try:
        args.worker_env = bench_batch.setup(args, folder, queue)
        return bench(args, folder, queue, worker_state)
    except bench_one_row.StartFailed as error:
        print(f"could not start: {error}")
        return 1
    finally:
        if "worker" in worker_state:
            bench_batch.stop_worker(worker_state["worker"])
        bench_batch.delete_queue(queue)
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
