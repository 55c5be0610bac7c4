"""A full backtest's report.html in headless Chromium, offline: every strategy's equity and
drawdown charts and the calibration chart are drawn, and the page asks for nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, Route

from backtest import cli
from tests.backtest.test_backtest import FIVE, RECORDING, TEST

if TYPE_CHECKING:
    from tests.conftest_browser import Console

pytest_plugins = ["tests.conftest_browser"]
pytestmark = pytest.mark.browser

CHART_JS = """kind => [...document.querySelectorAll(`svg[data-chart="${kind}"]`)].map(svg => ({
    strategy: svg.closest('section').dataset.strategy,
    lines: [...svg.querySelectorAll('polyline')].map(p => ({
        role: p.dataset.role, points: p.points.numberOfItems,
        width: p.getBBox().width})),
    dots: svg.querySelectorAll('circle').length,
    shown: svg.getBoundingClientRect().width}))"""


def test_a_full_backtests_report_opens_offline_with_its_charts_drawn(
    page: Page, console: Console, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    argv = [str(RECORDING), "--report", str(out), "--strategies", f"{FIVE},test_fair_edge",
            "--import", TEST]  # fmt: skip
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's loop
        assert pool.submit(cli.main, argv).result() == 0
    asked: list[str] = []

    def only_the_file(route: Route) -> None:
        asked.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_the_file)
    page.goto((out / "report.html").as_uri())
    assert page.title() == "Flowboard backtest"
    assert asked == [(out / "report.html").as_uri()]  # nothing fetched beside the page

    equity = page.evaluate(CHART_JS, "equity")
    drawdown = page.evaluate(CHART_JS, "drawdown")
    assert len(equity) == len(drawdown) == 6
    for chart in equity + drawdown:
        assert chart["shown"] > 0
        drawn = [ln for ln in chart["lines"] if ln["points"] >= 2]
        assert {ln["role"] for ln in drawn} >= {"strategy"} or not chart["lines"], chart
    traded = [c for c in equity if any(ln["points"] >= 2 and ln["width"] > 0
                                       for ln in c["lines"])]  # fmt: skip
    assert len(traded) >= 2
    roles = {ln["role"] for c in traded for ln in c["lines"]}
    assert roles == {"strategy", "reverse", "random"}
    calibration = page.evaluate(CHART_JS, "calibration")
    fair = [c for c in calibration if c["strategy"] == "test_fair_edge"]
    assert fair and fair[0]["dots"] >= 1
    rows = page.locator('section[data-strategy="test_fair_edge"] table[data-table="trades"] tr')
    assert rows.count() > 1
    page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
    assert console.errors == []
