"""Browser fixtures: one headless Chromium for the session, a fresh browser context per test.

The browser is Debian's Chromium (``/usr/bin/chromium``, or the path in ``MFDP_CHROMIUM``)
driven by Playwright's sync API; nothing is ever downloaded (no ``playwright install``).
Tests marked ``browser`` are skipped with the reason when that Chromium is missing, except
under ``CI=true`` (or 1), where a missing browser fails them.

Playwright's sync API keeps an asyncio event loop marked as *running* in the thread that
started it, between calls too. In pytest's main thread that would make Django refuse every
ORM call (SynchronousOnlyOperation: the live server's database flush, any later test) and
break any later ``asyncio.run()``. So the browser lives in a thread of its own: a test hands
the ``tab`` fixture functions of a Playwright ``Page`` (``tab.do(steps)``), which run in that
thread, one after the other, on the same page. The main thread never sees the loop and needs
no DJANGO_ALLOW_ASYNC_UNSAFE, and between two ``tab.do`` calls the test can make its own
checks (plain HTTP to ``live_server.url``, say).

When a test fails, the page's screenshot, HTML and console log are saved in the test's
``tmp_path`` and the report shows where, with the page's URL and its last console lines.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from pathlib import Path
from typing import Any, TypeVar

import pytest

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_TIMEOUT = 60  # seconds; bounds, not expectations
ACTION_TIMEOUT = 10  # one click, fill or expect()
NAVIGATION_TIMEOUT = 20
STEPS_TIMEOUT = 120  # one tab.do() call, whatever it does
CLOSE_TIMEOUT = 30
CONSOLE_LINES_IN_REPORT = 20

T = TypeVar("T")


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def chromium_path() -> str:
    return os.environ.get("MFDP_CHROMIUM") or DEFAULT_CHROMIUM


def _browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    path = chromium_path()
    resolved = shutil.which(path)
    if resolved is None:
        return (
            f"no Chromium at {path} (install Debian's chromium: apt-get install -y chromium; "
            "or point MFDP_CHROMIUM at a Chromium executable)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"Playwright for Python is not installed ({exc}); run uv sync (the dev group)"
    return None


def _skip_or_fail_without_browser() -> None:
    reason = _browser_missing()
    if reason is None:
        return
    if is_ci():
        pytest.fail(f"CI=true needs the browser tests to run: {reason}", pytrace=False)
    pytest.skip(f"needs a browser: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: drives a real Chromium (skipped without it, fails under CI=true)",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture: no live server or test database for a test that cannot run.
    if item.get_closest_marker("browser"):
        _skip_or_fail_without_browser()


class BrowserThread:
    """Playwright and one Chromium, owned by a single thread that runs every call on them."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._playwright: Any = None
        self.browser: Any = None

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = STEPS_TIMEOUT) -> T:
        """Runs fn(*args) in the browser thread and returns its result or raises its error."""
        future = self._executor.submit(fn, *args)
        try:
            return future.result(timeout=timeout)
        except FutureTimeoutError:
            if future.done():  # fn itself raised a TimeoutError (the same class on 3.11+)
                raise
            raise TimeoutError(
                f"the browser thread did not finish {getattr(fn, '__name__', fn)!r} "
                f"within {timeout} s"
            ) from None

    def start(self) -> None:
        self.call(self._start, timeout=LAUNCH_TIMEOUT)

    def _start(self) -> None:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=ACTION_TIMEOUT * 1000)
        self._playwright = sync_playwright().start()
        try:
            self.browser = self._playwright.chromium.launch(
                executable_path=self.executable,
                headless=True,
                args=CHROMIUM_ARGS,
                timeout=LAUNCH_TIMEOUT * 1000,
            )
        except BaseException:
            self._playwright.stop()
            raise

    def stop(self) -> None:
        try:
            self.call(self._stop, timeout=CLOSE_TIMEOUT)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _stop(self) -> None:
        try:
            if self.browser is not None:
                self.browser.close()
        finally:
            self._playwright.stop()


class Tab:
    """One test's page in a fresh browser context (no cookies, storage or cache shared)."""

    def __init__(self, thread: BrowserThread, base_url: str, artifacts: Path) -> None:
        self.thread = thread
        self.base_url = base_url
        self.artifacts = artifacts
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self._context: Any = None
        self._page: Any = None
        self._page_errors_seen = 0

    def open(self) -> None:
        self.thread.call(self._open)

    def _open(self) -> None:
        # An English browser, so that a page in Russian can only come from the switcher.
        self._context = self.thread.browser.new_context(base_url=self.base_url, locale="en-US")
        self._context.set_default_timeout(ACTION_TIMEOUT * 1000)
        self._context.set_default_navigation_timeout(NAVIGATION_TIMEOUT * 1000)
        self._page = self._context.new_page()
        self._page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        self._page.on("pageerror", self._on_page_error)

    def _on_page_error(self, error: Any) -> None:
        self.page_errors.append(str(error))
        self.console.append(f"pageerror: {error}")

    def do(self, steps: Callable[[Any], T]) -> T:
        """Runs steps(page) in the browser thread; a JavaScript error on the page fails it."""
        result = self.thread.call(steps, self._page)
        new_errors = self.page_errors[self._page_errors_seen :]
        self._page_errors_seen = len(self.page_errors)
        if new_errors:
            raise AssertionError(
                f"JavaScript errors on the page during {steps.__name__}: {new_errors}"
            )
        return result

    def capture(self) -> str:
        """Saves the page's screenshot, HTML and console log; returns a summary for the report."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        console_log = self.artifacts / "console.log"
        console_log.write_text("\n".join(self.console) + "\n", encoding="utf-8")
        lines = [f"console log: {console_log}"]
        try:
            lines[:0] = self.thread.call(self._capture_page, timeout=CLOSE_TIMEOUT)
        except Exception as exc:
            lines.insert(0, f"could not capture the page: {type(exc).__name__}: {exc}")
        tail = self.console[-CONSOLE_LINES_IN_REPORT:]
        if tail:
            lines.append(f"last {len(tail)} console lines:")
            lines.extend(f"  {line}" for line in tail)
        return "\n".join(lines)

    def _capture_page(self) -> list[str]:
        screenshot = self.artifacts / "screenshot.png"
        html = self.artifacts / "page.html"
        self._page.screenshot(path=str(screenshot), full_page=True)
        html.write_text(self._page.content(), encoding="utf-8")
        return [
            f"page: {self._page.url} (title {self._page.title()!r})",
            f"screenshot: {screenshot}",
            f"HTML: {html}",
        ]

    def close(self) -> None:
        if self._context is not None:
            self.thread.call(self._context.close, timeout=CLOSE_TIMEOUT)


BROWSER_TAB = pytest.StashKey[Tab]()


@pytest.fixture(scope="session")
def browser_thread() -> BrowserThread:
    """The session's one Chromium, in its own thread (see the module's docstring)."""
    _skip_or_fail_without_browser()
    thread = BrowserThread(shutil.which(chromium_path()) or chromium_path())
    try:
        thread.start()
    except BaseException:
        thread.shutdown()
        raise
    yield thread
    thread.stop()


@pytest.fixture
def tab(request, browser_thread, live_server, tmp_path) -> Tab:
    """A fresh page on the live server (relative URLs work: ``page.goto("/")``)."""
    page = Tab(browser_thread, live_server.url, tmp_path / "browser")
    page.open()
    request.node.stash[BROWSER_TAB] = page
    yield page
    page.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    page = item.stash.get(BROWSER_TAB, None)
    if page is not None and report.when == "call" and report.failed:
        with contextlib.suppress(Exception):
            report.sections.append(("browser at the failure", page.capture()))
    return report
