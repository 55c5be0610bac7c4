"""A simulated game night end to end: the real app on the built-in simulator (Kalshi exchange and
balldontlie driven by one NightSim), the page in headless Chromium.

Games tip off at boot and run fast; the test waits on page conditions only (no sleeps): games
start, scores move, Kalshi NBA markets trade, and once every game is final its markets carry a
result that agrees with the final score, on the page and in ``/api/games/{id}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

if TYPE_CHECKING:
    from tests.conftest_browser import Console

pytest_plugins = ["tests.conftest_browser"]
pytestmark = pytest.mark.browser

GAMES = '#nba [data-testid="game"]'
N_GAMES = 3
# game seconds per wall second: a game with its breaks lasts ~16 s, so that balldontlie polls
# (every 5 s at the default tier) see each game live more than once
GAME_SPEED = 250.0
NIGHT_TIMEOUT_MS = 120_000
# Chromium reports a refused connection while the app shuts down as a console error.
SHUTDOWN_NOISE = ("WebSocket connection to", "Failed to load resource", "ERR_CONNECTION_REFUSED")

SCORES_JS = """() => [...document.querySelectorAll('#nba [data-testid="game"]')].map(g => ({
    id: g.dataset.gameId, status: g.dataset.status, home: g.dataset.home, away: g.dataset.away,
    home_score: Number(g.dataset.homeScore), away_score: Number(g.dataset.awayScore),
    points: Number(g.querySelector('canvas').dataset.points)}))"""

MARKETS_JS = """(id) => [...document.querySelectorAll(
    `#nba [data-game-id="${id}"] [data-testid="game-market"]`)].map(r => ({
    ticker: r.dataset.ticker, kind: r.dataset.kind, status: r.dataset.status,
    result: r.dataset.result}))"""


def wait(page: Page, js: str, *, arg: Any = None, timeout: float) -> None:
    """``page.wait_for_function`` that says what the page showed when it timed out."""
    try:
        page.wait_for_function(js, arg=arg, timeout=timeout)
    except PlaywrightTimeout:
        games = page.evaluate(SCORES_JS)
        tape = page.locator('[data-testid="tape-row"]').evaluate_all(
            "rs => rs.slice(0, 5).map(r => r.dataset.ticker)"
        )
        raise AssertionError(f"timed out on {js!r}; games {games}; tape {tape}") from None


def expected_result(market: dict[str, Any], game: dict[str, Any]) -> str:
    """YES when the market's proposition holds on the final score (strikes are half points)."""
    home, away = int(game["home_score"]), int(game["away_score"])
    if market["kind"] == "game":
        winner = game["home"] if home > away else game["away"]
        return "yes" if market["yes_team"] == winner else "no"
    if market["kind"] == "spread":
        margin = home - away if market["yes_team"] == game["home"] else away - home
        return "yes" if margin * 10 > int(market["strike_tenths"]) else "no"
    if market["kind"] == "total":
        return "yes" if (home + away) * 10 > int(market["strike_tenths"]) else "no"
    raise AssertionError(f"unknown market kind {market['kind']!r}")


def test_a_simulated_game_night_on_the_page(page: Page, console: Console, tmp_path: Path) -> None:
    from config import Settings
    from tests.conftest_browser import AppServer

    settings = Settings(
        source="sim",
        db_path=str(tmp_path / "night.db"),
        port=0,
        sim_rate=20.0,
        sim_markets=40,
        sim_games=N_GAMES,
        sim_game_speed=GAME_SPEED,
        sim_tipoff_s=0,
    )
    with AppServer(settings) as app:
        page.goto(app.url + "/")
        expect(page.locator(GAMES)).to_have_count(N_GAMES, timeout=30_000)
        # the tape shows only NBA trades from here on (the filter reaches the app's hub)
        page.get_by_test_id("filter-search").fill("KXNBA")

        # games start and their scores move on the page
        wait(
            page,
            f"() => ({SCORES_JS})().some(g => (g.status === 'live' || g.status === 'halftime')"
            " && g.home_score + g.away_score > 0)",
            timeout=30_000,
        )
        seen = sum(g["home_score"] + g["away_score"] for g in page.evaluate(SCORES_JS))
        wait(
            page,
            f"seen => ({SCORES_JS})().reduce((s, g) => s + g.home_score + g.away_score, 0) > seen",
            arg=seen,
            timeout=30_000,
        )

        # Kalshi's NBA markets trade: NBA trades on the tape, a Kalshi price on a game's chart
        wait(
            page,
            "() => [...document.querySelectorAll('[data-testid=\"tape-row\"]')]"
            ".some(r => r.dataset.ticker.startsWith('KXNBA'))",
            timeout=30_000,
        )
        wait(
            page,
            "() => [...window.flowboard.page.games.games.values()]"
            ".some(r => r.history.some(p => p[1] !== null))",
            timeout=30_000,
        )

        # the night ends: every game final, every matched market settled with a result
        wait(
            page,
            f"() => ({SCORES_JS})().every(g => g.status === 'final')",
            timeout=NIGHT_TIMEOUT_MS,
        )
        final = page.evaluate(SCORES_JS)
        for g in final:
            page.locator(f'{GAMES}[data-game-id="{g["id"]}"]').get_by_test_id("game-toggle").click()
        wait(
            page,
            f"""() => ({SCORES_JS})().every(g => {{
                const ms = ({MARKETS_JS})(g.id);
                return ms.length > 0 && ms.every(m => m.result === 'yes' || m.result === 'no');
            }})""",
            timeout=60_000,
        )

        for g in final:
            assert g["home_score"] != g["away_score"], g
            assert g["points"] > 2, g  # the chart followed the game
            body = page.request.get(f"{app.url}/api/games/{g['id']}").json()
            assert (body["home_score"], body["away_score"], body["status"]) == (
                g["home_score"],
                g["away_score"],
                "final",
            )
            shown = {m["ticker"]: m for m in page.evaluate(MARKETS_JS, g["id"])}
            markets = {m["ticker"]: m for m in body["markets"]}
            assert set(shown) == set(markets)
            kinds = {m["kind"] for m in markets.values()}
            assert "game" in kinds, markets
            for ticker, m in markets.items():
                want = expected_result(m, body)
                assert m["result"] == want, (ticker, m, body["home_score"], body["away_score"])
                assert shown[ticker]["result"] == want, shown[ticker]
                assert m["status"] in ("determined", "finalized"), m
            # exactly one of the two winner markets pays
            winners = [m for m in markets.values() if m["kind"] == "game" and m["result"] == "yes"]
            assert len(winners) == 1, markets
        page.screenshot(path=str(tmp_path / "night.png"), full_page=True)
    assert [e for e in console.errors if not any(n in e for n in SHUTDOWN_NOISE)] == []
