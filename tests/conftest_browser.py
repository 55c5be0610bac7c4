"""Browser fixtures for the page tests: Debian's chromium driven by Playwright's sync API.

Locally the browser tests skip when chromium is missing; with ``CI`` set they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from playwright.sync_api import Browser, CDPSession, ConsoleMessage, Page, sync_playwright

from tests.page_server import PageServer, first_snapshot

if TYPE_CHECKING:
    from config import Settings

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str | None:
    path = os.environ.get("FLOWBOARD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).is_file() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium is missing: apt-get install chromium")
        pytest.skip("chromium not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page_server() -> Iterator[PageServer]:
    with PageServer(first_snapshot()) as server:
        yield server


@dataclass
class Console:
    errors: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def on_message(self, msg: ConsoleMessage) -> None:
        self.messages.append(f"{msg.type}: {msg.text}")
        if msg.type == "error":
            self.errors.append(msg.text)


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    p = context.new_page()
    p.set_default_timeout(10_000)
    p.on("console", console.on_message)
    p.on("pageerror", lambda exc: console.errors.append(f"pageerror: {exc}"))
    try:
        yield p
    finally:
        context.close()


class AppServer:
    """The real app (``create_app``) under uvicorn in a background thread, restartable on its port.

    The port is kept across :meth:`restart` so that an open page reconnects to the new process
    state (same SQLite file, fresh lifespan).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = 0
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._sock: socket.socket | None = None
        self._settled = threading.Event()
        self._ready = False
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        # IPPROTO_TCP: TCP_NODELAY on what it accepts (see tests/serving.py)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._settled.clear()
        self._ready = False
        self._failure = None
        self._thread = threading.Thread(target=self._run, name="flowboard-app", daemon=True)
        self._thread.start()
        if not self._settled.wait(timeout=60) or not self._ready:
            self.stop()
            raise RuntimeError("the app did not start") from self._failure
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # re-raised by start()/stop()
            self._failure = exc
        finally:
            self._settled.set()

    async def _serve(self) -> None:
        def ready(_runtime: object) -> None:
            self._ready = True
            self._settled.set()

        # imported here so that the scripted-page tests do not depend on the whole app importing
        from app import create_app

        app = create_app(self.settings, on_ready=ready)
        config = uvicorn.Config(
            app, lifespan="on", ws_per_message_deflate=False, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        assert self._sock is not None
        await self._server.serve(sockets=[self._sock])

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                raise RuntimeError("the app did not stop")
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
        if self._failure is not None:
            raise RuntimeError("the app failed") from self._failure

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def measure_main_thread(page: Page, run: Callable[[], None]) -> dict[str, Any]:
    """Main-thread figures of ``page`` while ``run()`` drives it: the busy share (Chrome's
    TaskDuration over wall time), long tasks (> 50 ms, from the page's own observer) and
    the slowest render per component."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Performance.enable")  # counters run from here, per session
        page.evaluate(
            "Object.assign(window.flowboard.perf,"
            " {longTasks: 0, longTaskMs: 0, maxTaskMs: 0, renderMaxMs: {}})"
        )
        before = _metrics(cdp)
        run()
        after = _metrics(cdp)
    finally:
        cdp.detach()
    perf = page.evaluate("({...window.flowboard.perf})")
    wall = after["Timestamp"] - before["Timestamp"]

    def spent(name: str) -> float:
        return round(after[name] - before[name], 3)

    return {
        "seconds": round(wall, 2),
        "busy_share": round((after["TaskDuration"] - before["TaskDuration"]) / wall, 3),
        "long_tasks": perf["longTasks"],
        "max_task_ms": perf["maxTaskMs"],
        "render_max_ms": {k: round(v, 1) for k, v in perf["renderMaxMs"].items()},
        "script_s": spent("ScriptDuration"),
        "style_s": spent("RecalcStyleDuration"),
        "layout_s": spent("LayoutDuration"),
        "other_s": spent("TaskOtherDuration"),
    }


def _metrics(cdp: CDPSession) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def bench_page(settings: Settings, seconds: float = 10.0) -> dict[str, Any]:
    """Benchmark entry point: the real app with ``settings`` (e.g. the simulator at 500
    trades/s), the page open in headless chromium, main-thread figures over ``seconds``."""
    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed")
    with (
        AppServer(settings) as app,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(app.url + "/")
            page.wait_for_function(
                "() => document.querySelectorAll('[data-testid=\"tape-row\"]').length >= 100",
                timeout=30_000,
            )
            # a fixed measurement window, not a wait for a condition
            figures = measure_main_thread(page, lambda: page.wait_for_timeout(seconds * 1000))
            figures["trades_per_s"] = settings.sim_rate
            figures["tape_rows"] = page.locator('[data-testid="tape-row"]').count()
            return figures
        finally:
            browser.close()
