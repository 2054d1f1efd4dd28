"""`make smoke` (deploy/smoke.py) itself runs in CI after the suite (.ci/run); these tests keep
its safety rails and CI's wiring honest without starting the services."""

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke():
    spec = importlib.util.spec_from_file_location("mfdp_smoke", ROOT / "deploy" / "smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "url",
    [
        "postgres://postgres@127.0.0.1:5432/mfdp",  # the database name must say "smoke"
        "postgres://postgres@127.0.0.1:5432/test_mfdp",
        "sqlite:///var/smoke.sqlite3",  # PostgreSQL only
    ],
)
def test_smoke_never_drops_a_database_not_named_for_it(smoke, url):
    with pytest.raises(smoke.SmokeFailure, match="smoke"):
        smoke.Database(url)


def test_smoke_accepts_its_own_database(smoke):
    database = smoke.Database("postgres://postgres@127.0.0.1:5432/mfdp_smoke")

    assert database.name == "mfdp_smoke"
    assert database.connect_args["dbname"] == "postgres"  # created and dropped from there


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_stop_all_kills_what_ignores_sigterm_and_the_leftovers_of_a_group(
    smoke, tmp_path, monkeypatch
):
    monkeypatch.setattr(smoke, "STOP_TIMEOUT", 1)
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    # A leader that leaves on SIGTERM but whose child (same group) would stay behind.
    leaver = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {stubborn!r}])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    services = [
        smoke.Service("stubborn", [sys.executable, "-c", stubborn], dict(os.environ), tmp_path),
        smoke.Service("leaver", [sys.executable, "-c", leaver], dict(os.environ), tmp_path),
    ]
    deadline = time.monotonic() + 10
    while not (tmp_path / "leaver.log").read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int((tmp_path / "leaver.log").read_text().split()[0])

    smoke.stop_all(services)

    assert all(not service.alive() for service in services)
    # The leader left on SIGTERM; its child, still in the group, was killed with it.
    deadline = time.monotonic() + 5
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child)


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopted it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def test_make_smoke_runs_the_smoke_script():
    proc = subprocess.run(
        ["make", "--dry-run", "--always-make", "--no-print-directory", "smoke"],
        cwd=ROOT,
        # Run under `make test`, the outer make's flags would leak in.
        env={name: value for name, value in os.environ.items() if not name.startswith("MAKE")},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )

    assert proc.returncode == 0, proc.stderr
    assert "deploy/smoke.py" in proc.stdout.strip().splitlines()[-1], proc.stdout


@pytest.mark.parametrize(
    ("test_status", "smoke_status", "expected"),
    [(0, 0, 0), (0, 3, 3), (2, 0, 2), (2, 3, 2)],
)
def test_ci_runs_the_suite_then_the_smoke_run_and_fails_if_either_fails(
    test_status, smoke_status, expected
):
    script = (ROOT / ".ci" / "run").read_text()
    # The end of .ci/run, after the services are ensured, with make replaced by a stub.
    tail = script[script.index("status=0\n") :]
    stub = (
        "set -euo pipefail\n"
        'log() { echo "log: $*" >&2; }\n'
        'make() { echo "make $1"; [[ $1 == test ]] && return '
        f"{test_status}; return {smoke_status}; }}\n"
    )

    proc = subprocess.run(
        ["bash", "-c", stub + tail], capture_output=True, text=True, check=False, timeout=30
    )

    assert proc.stdout.splitlines() == ["make test", "make smoke"]
    assert proc.returncode == expected
