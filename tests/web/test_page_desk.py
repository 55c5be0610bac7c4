"""The paper desk on the page, against the real app on the simulator in headless Chromium:
place an order from the ticket, see the fill and the position, cancel a resting order, press
kill."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.conftest_browser import Console

pytest_plugins = ["tests.conftest_browser"]
pytestmark = pytest.mark.browser

MARKETS_JS = """() => [...window.flowboard.page.games.games.values()]
    .flatMap(r => (r.view?.markets || []).map(m => m.ticker))"""


def ticket(page: Page, ticker: str, count: str, price: str, tif: str) -> None:
    page.get_by_test_id("desk-ticker").fill(ticker)
    page.get_by_test_id("desk-action").select_option("buy")
    page.get_by_test_id("desk-side").select_option("yes")
    page.get_by_test_id("desk-count").fill(count)
    page.get_by_test_id("desk-price").fill(price)
    page.get_by_test_id("desk-tif").select_option(tif)
    page.get_by_test_id("desk-place").click()


def test_the_desk_takes_an_order_shows_its_fill_cancels_and_kills(
    page: Page, console: Console, tmp_path: Path
) -> None:
    from config import Settings
    from tests.conftest_browser import AppServer

    settings = Settings(source="sim", db_path=str(tmp_path / "desk.db"), port=0, sim_rate=5.0,
                        sim_markets=30, sim_games=1, sim_tipoff_s=0)  # fmt: skip
    with AppServer(settings) as app:
        page.goto(app.url + "/")
        expect(page.locator("#desk")).to_be_visible()
        page.wait_for_function(f"() => ({MARKETS_JS})().length > 0", timeout=30_000)
        ticker = page.evaluate(MARKETS_JS)[0]

        # an IOC buy through the ticket fills at the book; the fill and the position show
        ticket(page, ticker, "1", "0.99", "ioc")
        expect(page.get_by_test_id("desk-message")).to_contain_text("sent")
        fill = page.locator(f'[data-testid="desk-fill"][data-ticker="{ticker}"]')
        expect(fill).to_have_count(1, timeout=15_000)
        expect(fill).to_contain_text("taker")
        position = page.locator(f'[data-testid="desk-position"][data-ticker="{ticker}"]')
        expect(position).to_have_attribute("data-net", "100")
        expect(page.get_by_test_id("desk-book-level").first).to_be_visible()

        # a GTC bid far below the touch rests; its Cancel takes it off
        ticket(page, ticker, "2", "0.01", "gtc")
        resting = page.locator('[data-testid="desk-order"][data-status="resting"]')
        expect(resting).to_have_count(1, timeout=15_000)
        resting.get_by_test_id("desk-cancel").click()
        expect(page.get_by_test_id("desk-order")).to_have_count(0, timeout=15_000)

        # a refused ticket names the field
        ticket(page, ticker, "0", "0.50", "ioc")
        expect(page.get_by_test_id("desk-message")).to_contain_text("(count)")

        # kill: the account stops trading, the risk events say so, and new orders are refused
        page.get_by_test_id("desk-kill").click()
        expect(page.get_by_test_id("desk-summary")).to_have_attribute("data-killed", "true",
                                                                       timeout=15_000)  # fmt: skip
        expect(page.locator('[data-testid="desk-risk-event"][data-kind="kill"]')).to_have_count(
            1, timeout=15_000
        )
        ticket(page, ticker, "1", "0.99", "ioc")
        expect(page.get_by_test_id("desk-message")).to_contain_text("killed")
    # the browser logs each refused request; those two are the test's own refused tickets
    refused = ("status of 400 (Bad Request)", "status of 422 (Unprocessable Entity)")
    assert [e for e in console.errors if not e.endswith(refused)] == []
    assert len(console.errors) <= 2
