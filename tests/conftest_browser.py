"""Browser fixtures for the page tests: Debian's chromium driven by Playwright's sync API.

Locally the browser tests skip when chromium is missing; with ``CI`` set they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.page_server import PageServer, first_snapshot

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
