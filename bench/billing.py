"""Billing benchmark: N threads charging ONE credit account on PostgreSQL.

The product side calls billing.services.charge (a transaction that locks the account row,
checks the reference, writes the balance and one ledger entry). The bare side, measured in
the same run on the same machine, sends the single statement

    UPDATE billing_creditaccount SET balance = balance - 1 WHERE id = %s AND balance >= 1

over psycopg (one autocommit connection per thread): the least any correct charge can cost.
Both sides use the same thread count, number of charges and starting balance, which is
below the number of charges so that some charges are refused. Each side keeps the best of
--repeat runs, each run on a fresh account; the invariants of every product run are checked
afterwards and the script exits non-zero if one fails.

The database named in --database-url is dropped and recreated at the start and dropped at
the end (unless --keep). Run by hand, never by the test suite:

    .venv/bin/python bench/billing.py [--threads 16] [--charges 2000] [--repeat 3]
"""

import argparse
import contextlib
import os
import platform
import secrets
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/mfdp_bench"
BARE_UPDATE = (
    "UPDATE billing_creditaccount SET balance = balance - 1 WHERE id = %s AND balance >= 1"
)
BARRIER_TIMEOUT = 120  # seconds for every thread to open its connection


@dataclass
class Run:
    side: str
    number: int
    threads: int
    start: int
    charges: int
    account_id: int = 0
    ok: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    references: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0

    def percentile_ms(self, q: int) -> float:
        if len(self.latencies) < 2:
            return 1000 * (self.latencies[0] if self.latencies else 0.0)
        return 1000 * statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]


@dataclass
class ThreadResult:
    ok: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    end: float = 0.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=16, help="concurrent threads (16)")
    parser.add_argument("--charges", type=int, default=2000, help="charges per run (2000)")
    parser.add_argument(
        "--start-fraction",
        type=float,
        default=0.9,
        help="starting balance as a fraction of --charges (0.9: the last 10%% are refused)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per side, best kept (3)")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"PostgreSQL database to (re)create and use ({DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()
    if args.threads < 1 or args.charges < 1 or args.repeat < 1:
        parser.error("--threads, --charges and --repeat must be at least 1")
    if not 0 < args.start_fraction <= 1:
        parser.error("--start-fraction must be in (0, 1]")
    return args


def usage_error(message: str) -> None:
    """Stop before measuring anything: exit status 2 (1 means an invariant failed)."""
    print(message, file=sys.stderr)
    sys.exit(2)


def split_database_url(url: str) -> tuple[str, str]:
    """(database name, the URL of the server's `postgres` database for CREATE/DROP)."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        usage_error(f"--database-url must be a postgres:// URL, not {url!r}")
    name = parts.path.lstrip("/")
    if "bench" not in name:
        # The database is dropped at the start and at the end: never a shared one.
        usage_error(f"--database-url must name a database with 'bench' in it, not {name!r}")
    return name, urlunsplit(parts._replace(path="/postgres"))


def server_facts(admin_url: str, threads: int) -> tuple[str, str]:
    """Check that the run fits in max_connections; describe the server."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
        reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
        in_use = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ).fetchone()[0]
    # During a run: one connection per thread plus the main thread's Django connection.
    needed = threads + 1
    available = max_connections - reserved - in_use
    if needed > available:
        usage_error(
            f"{threads} threads need {needed} connections; PostgreSQL allows {max_connections}"
            f" ({reserved} reserved, {in_use} in use): use at most {available - 1} threads."
        )
    return version, f"synchronous_commit={sync}, max_connections={max_connections}"


def recreate_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "mfdp.settings"
    # Measured as production runs: DEBUG off (no query log kept per connection).
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(BASE_DIR))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def new_account(label: str, start: int) -> tuple[int, int]:
    """A fresh user whose account holds `start` credits, granted through the service."""
    from accounts.models import User
    from billing import services

    user = User.objects.create_user(email=f"bench-{label}@bench.invalid")
    services.grant(
        user=user,
        amount=start,
        memo="benchmark starting balance",
        actor=None,
        reference=f"bench:{label}:grant",
    )
    return user.pk, user.credit_account.pk


def warm_up() -> None:
    """Load what the first charge of a process loads (translations, the service's code
    paths) before anything is timed."""
    from accounts.models import User
    from billing import services

    user_id, _account_id = new_account(f"warm-up-{uuid.uuid4().hex}", 1)
    user = User.objects.get(pk=user_id)
    for reference in ("bench:warm-up:1", "bench:warm-up:2"):
        with contextlib.suppress(services.InsufficientCredits):
            services.charge(user=user, amount=1, reference=f"{reference}:{user_id}")


def run_threads(run: Run, body) -> None:
    """Start run.threads threads on `body(k, result, barrier)`, time them from the moment
    all of them hold their connection, and fold their results into `run`."""
    barrier = threading.Barrier(run.threads + 1, timeout=BARRIER_TIMEOUT)
    results = [ThreadResult() for _ in range(run.threads)]
    threads = [
        threading.Thread(target=body, args=(k, results[k], barrier), name=f"{run.side}-{k}")
        for k in range(run.threads)
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()  # a thread that failed to connect broke it: the run reports errors
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    run.wall = max(0.0, max((r.end for r in results), default=started) - started)
    for r in results:
        run.ok += r.ok
        run.refused += r.refused
        run.errors += r.errors
        run.latencies += r.latencies
        run.references += r.references


def product_run(number: int, threads: int, charges: int, start: int) -> Run:
    from django.db import connections

    from accounts.models import User
    from billing import services

    label = f"product-{number}-{uuid.uuid4().hex}"
    user_id, account_id = new_account(label, start)
    run = Run("product", number, threads, start, charges, account_id=account_id)

    def body(k: int, result: ThreadResult, barrier: threading.Barrier) -> None:
        try:
            try:
                user = User.objects.get(pk=user_id)  # opens this thread's connection
            except Exception as exc:
                barrier.abort()
                result.errors.append(f"thread {k} could not connect: {exc!r}")
                return
            barrier.wait()
            clock = time.perf_counter
            for i in range(k, charges, threads):
                began = clock()
                try:
                    entry = services.charge(user=user, amount=1, reference=f"bench:{label}:{i}")
                except services.InsufficientCredits:
                    result.refused += 1
                except Exception as exc:
                    result.errors.append(repr(exc))
                else:
                    result.ok += 1
                    result.references.append(entry.reference)
                result.latencies.append(clock() - began)
            result.end = clock()
        except threading.BrokenBarrierError:
            result.errors.append(f"thread {k}: another thread failed to start")
        finally:
            connections.close_all()

    run_threads(run, body)
    return run


def bare_run(number: int, threads: int, charges: int, start: int, database_url: str) -> Run:
    _user_id, account_id = new_account(f"bare-{number}-{uuid.uuid4().hex}", start)
    run = Run("bare", number, threads, start, charges, account_id=account_id)

    def body(k: int, result: ThreadResult, barrier: threading.Barrier) -> None:
        try:
            conn = psycopg.connect(database_url, autocommit=True)
        except Exception as exc:
            barrier.abort()
            result.errors.append(f"thread {k} could not connect: {exc!r}")
            return
        try:
            barrier.wait()
            clock = time.perf_counter
            with conn.cursor() as cursor:
                for _i in range(k, charges, threads):
                    began = clock()
                    cursor.execute(BARE_UPDATE, (account_id,))
                    if cursor.rowcount == 1:
                        result.ok += 1
                    else:
                        result.refused += 1
                    result.latencies.append(clock() - began)
            result.end = clock()
        except threading.BrokenBarrierError:
            result.errors.append(f"thread {k}: another thread failed to start")
        except Exception as exc:
            result.errors.append(repr(exc))
        finally:
            conn.close()

    run_threads(run, body)
    return run


def leftover_connections() -> int:
    """Connections to this database other than the main thread's, after a short grace for
    closed backends to leave pg_stat_activity."""
    from django.db import connection

    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + 2
    while True:
        with connection.cursor() as cursor:
            cursor.execute(query)
            count = cursor.fetchone()[0]
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def check_product(run: Run) -> list[tuple[str, bool, str]]:
    """The invariants of one product run: (name, holds, what was measured)."""
    from django.db.models import Count

    from billing.models import CreditAccount, EntryKind, LedgerEntry

    balance = CreditAccount.objects.get(pk=run.account_id).balance
    entries = list(
        LedgerEntry.objects.filter(account_id=run.account_id)
        .order_by("id")
        .values_list("kind", "amount", "balance_after", "reference")
    )
    total = sum(amount for _kind, amount, _after, _ref in entries)
    expected_ok = min(run.start, run.charges)
    charge_refs = [ref for kind, _amount, _after, ref in entries if kind == EntryKind.CHARGE]
    first = entries[0][:2] if entries else None
    others_are_charges = all(kind == EntryKind.CHARGE for kind, *_rest in entries[1:])
    running, chain_ok = 0, True
    for _kind, amount, after, _ref in entries:
        running += amount
        chain_ok = chain_ok and after == running
    duplicated = (
        LedgerEntry.objects.order_by()
        .values("reference")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    left_open = leftover_connections()
    return [
        ("final balance == sum of ledger", balance == total, f"{balance} == {total}"),
        (
            "ledger: grant first, then charges",
            first == (EntryKind.GRANT, run.start) and others_are_charges,
            f"{first[0] if first else '-'} {first[1] if first else ''}"
            f" + {len(entries) - 1} charges",
        ),
        ("balance_after follows the ledger", chain_ok, f"{len(entries)} rows"),
        ("balance >= 0", balance >= 0, str(balance)),
        (
            "successes == min(start, charges)",
            run.ok == expected_ok,
            f"{run.ok} == {expected_ok}",
        ),
        (
            "refusals == charges - successes, no error",
            run.refused == run.charges - expected_ok and not run.errors,
            f"{run.refused} refused, {len(run.errors)} errors",
        ),
        (
            "charge entries == successes",
            len(charge_refs) == run.ok,
            f"{len(charge_refs)} == {run.ok}",
        ),
        (
            "no duplicate references",
            duplicated == 0
            and len(set(run.references)) == len(run.references)
            and set(run.references) == set(charge_refs),
            f"{duplicated} duplicated",
        ),
        ("thread connections closed", left_open == 0, f"{left_open} left open"),
    ]


def check_bare(run: Run) -> tuple[bool, str]:
    from billing.models import CreditAccount

    balance = CreditAccount.objects.get(pk=run.account_id).balance
    expected_ok = min(run.start, run.charges)
    holds = (
        run.ok == expected_ok and balance == run.start - run.ok and balance >= 0 and not run.errors
    )
    return holds, f"{run.ok} succeeded, final balance {balance}, {len(run.errors)} errors"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    args = parse_args()
    start = max(1, int(args.charges * args.start_fraction))
    name, admin_url = split_database_url(args.database_url)
    server = server_facts(admin_url, args.threads)
    recreate_database(admin_url, name)
    try:
        return bench(args, start, server)
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if args.keep:
            print(f"database {name} kept (--keep)")
        else:
            drop_database(admin_url, name)


def bench(args: argparse.Namespace, start: int, server: tuple[str, str]) -> int:
    setup_django(args.database_url)
    import django

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print("MFDP billing benchmark: one account, concurrent charges of 1 credit")
    print(f"  machine   {os.cpu_count()} cores ({usable} usable), {cpu_model()}, load {load}")
    print(
        f"  versions  Python {platform.python_version()}, Django {django.get_version()},"
        f" psycopg {psycopg.__version__}, PostgreSQL {server[0]}"
    )
    print(f"  server    {server[1]}")
    print(f"  database  {args.database_url} (recreated, migrated, DEBUG off)")
    print(
        f"  workload  {args.charges} charges, {args.threads} threads, starting balance {start}"
        f" ({args.charges - min(start, args.charges)} refused), best of {args.repeat}"
    )
    print()

    warm_up()
    products: list[Run] = []
    bares: list[Run] = []
    checks: list[list[tuple[str, bool, str]]] = []
    bare_checks: list[tuple[bool, str]] = []
    for number in range(1, args.repeat + 1):
        # Alternate which side goes first, so that neither always runs on a warmer server.
        order = ("product", "bare") if number % 2 else ("bare", "product")
        for side in order:
            if side == "product":
                run = product_run(number, args.threads, args.charges, start)
                products.append(run)
                checks.append(check_product(run))
            else:
                run = bare_run(number, args.threads, args.charges, start, args.database_url)
                bares.append(run)
                bare_checks.append(check_bare(run))

    header = (
        f"{'side':<8} {'run':>3} {'ok':>6} {'refused':>7} {'wall s':>8}"
        f" {'charges/s':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )
    print(header)
    print("-" * len(header))
    for run in products + bares:
        print(
            f"{run.side:<8} {run.number:>3} {run.ok:>6} {run.refused:>7} {run.wall:>8.3f}"
            f" {run.rate:>10.0f} {run.percentile_ms(50):>7.2f} {run.percentile_ms(95):>7.2f}"
            f" {run.percentile_ms(99):>7.2f}"
        )
    best_product = max(products, key=lambda r: r.rate)
    best_bare = max(bares, key=lambda r: r.rate)
    ratio = best_product.rate / best_bare.rate if best_bare.rate else float("nan")
    print("-" * len(header))
    print(
        f"best     product {best_product.rate:.0f} charges/s (run {best_product.number}),"
        f" bare {best_bare.rate:.0f} charges/s (run {best_bare.number})"
    )
    print(f"ratio    product / bare = {ratio:.3f} (bare is {1 / ratio:.1f}x faster)")
    print()

    width = max(len(name) for name, _holds, _seen in checks[0])
    runs = " ".join(f"{'run ' + str(n):>5}" for n in range(1, args.repeat + 1))
    print(f"{'invariant (product runs)':<{width}} {runs}  measured in run {args.repeat}")
    failed = False
    for i, (name, _holds, seen) in enumerate(checks[-1]):
        marks = []
        for run_checks in checks:
            holds = run_checks[i][1]
            failed = failed or not holds
            marks.append(f"{'ok' if holds else 'FAIL':>5}")
        print(f"{name:<{width}} {' '.join(marks)}  {seen}")
    for run, (holds, seen) in zip(bares, bare_checks, strict=True):
        failed = failed or not holds
        label = f"bare run {run.number} sane"
        print(f"{label:<{width}} {'ok' if holds else 'FAIL':>5}  {seen}")
    for run in products + bares:
        for error in run.errors[:3]:
            print(f"  {run.side} run {run.number}: {error}")
    print()
    if failed:
        print("INVARIANT FAILED (rerun with --keep to inspect the database)")
        return 1
    print("all invariants hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
