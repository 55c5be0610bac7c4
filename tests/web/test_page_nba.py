"""The NBA panel in headless Chromium against the scripted /ws/stream (tests/page_server.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.page_server import (
    NOW_MS,
    PageServer,
    first_snapshot,
    game_view,
    nba_games,
    nba_market,
    nba_snapshot,
)

if TYPE_CHECKING:
    from tests.conftest_browser import Console

pytest_plugins = ["tests.conftest_browser"]
pytestmark = pytest.mark.browser

GAMES = '#nba [data-testid="game"]'


@pytest.fixture
def nba_server() -> Iterator[PageServer]:
    with PageServer(nba_snapshot()) as server:
        yield server


def open_nba(page: Page, server: PageServer) -> None:
    page.goto(server.url + "/")
    expect(page.locator(GAMES)).to_have_count(3)
    server.wait_for_connections(1)


def game(page: Page, gid: int) -> Locator:
    return page.locator(f'{GAMES}[data-game-id="{gid}"]')


def chart_points(page: Page, gid: int) -> int:
    return int(game(page, gid).get_by_test_id("game-chart").get_attribute("data-points") or "-1")


def wait_for_points(page: Page, gid: int, n: int) -> None:
    page.wait_for_function(
        '([id, n]) => document.querySelector(`#nba [data-game-id="${id}"] canvas`)'
        "?.dataset.points === String(n)",
        arg=[gid, n],
    )


def history(page: Page, gid: int) -> list[list[Any]]:
    """The page's own copy of a game's history, through the test hook main.js exposes."""
    return page.evaluate("id => window.flowboard.page.games.games.get(String(id)).history", gid)


def series_pixels(page: Page, gid: int) -> dict[str, int]:
    """Pixels of each series' colour on a game's chart (the lines were really drawn)."""
    return page.evaluate(
        """async (id) => {
            const { SERIES } = await import('/js/nba.js');
            const c = document.querySelector(`#nba [data-game-id="${id}"] canvas`);
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const out = {};
            for (const s of SERIES) {
                const [r, g, b] = [1, 3, 5].map((i) => parseInt(s.color.slice(i, i + 2), 16));
                let n = 0;
                for (let i = 0; i < px.length; i += 4) {
                    if (Math.abs(px[i] - r) < 40 && Math.abs(px[i + 1] - g) < 40
                        && Math.abs(px[i + 2] - b) < 40 && px[i + 3] > 200) n++;
                }
                out[s.key] = n;
            }
            return out;
        }""",
        gid,
    )


def test_panel_renders_the_snapshot_games(
    page: Page, nba_server: PageServer, console: Console
) -> None:
    open_nba(page, nba_server)
    nba = page.locator("#nba")
    expect(nba).to_be_visible()
    expect(page.locator("#nba-note")).to_have_text("2026-06-01 · 3 games · 1 live")
    # ordered by tip-off: the final game, the live one, the one still to come
    ids = page.locator(GAMES).evaluate_all("gs => gs.map(g => g.dataset.gameId)")
    assert ids == ["102", "101", "103"]
    live = game(page, 101)
    expect(live.locator(".g-teams")).to_have_text("BOS @ SAS")
    expect(live.locator(".g-score")).to_have_text("54 – 61")
    expect(live.locator(".g-clock")).to_have_text("Q3 5:12")
    expect(live.locator(".g-status")).to_have_text("Live")
    expect(live.locator(".g-keys")).to_contain_text("Model 55%")
    expect(live.locator(".g-lines")).to_have_text("SAS -3.5 · O/U 221.5 · 4 books")
    expect(game(page, 102).locator(".g-status")).to_have_text("Final")
    expect(game(page, 103).locator(".g-status")).to_have_text("Pre")
    expect(game(page, 103).locator(".g-clock")).to_have_text("19:30 ET")
    expect(game(page, 103).locator(".g-keys")).to_contain_text("Kalshi –")
    # the chart holds the snapshot's history and draws all three series
    assert [chart_points(page, g) for g in (102, 101, 103)] == [12, 30, 0]
    want = next(g for g in nba_games() if g["id"] == 101)["history"]
    assert history(page, 101) == want
    expect(live.get_by_test_id("game-chart")).to_have_attribute("data-drawn", "30")
    drawn = series_pixels(page, 101)
    assert all(n > 20 for n in drawn.values()), drawn
    assert console.errors == []


def test_game_message_moves_the_score_and_appends_a_point(
    page: Page, nba_server: PageServer, console: Console
) -> None:
    open_nba(page, nba_server)
    before = history(page, 101)
    point = [before[-1][0] + 10_000, 612_000, 598_000, 605_000]
    update = game_view(
        101, "BOS", "SAS", status="live", away_score=54, home_score=64, period=3,
        seconds_left=290, clock="Q3 4:50", home_ppm=605_000, history=[point],
    )  # fmt: skip
    nba_server.send({"type": "game", "game": update})
    wait_for_points(page, 101, 31)
    live = game(page, 101)
    expect(live.locator(".g-score")).to_have_text("54 – 64")
    expect(live.locator(".g-clock")).to_have_text("Q3 4:50")
    expect(live).to_have_attribute("data-home-score", "64")
    expect(live.locator(".g-keys")).to_contain_text("Kalshi 60.5%")
    assert json.loads(live.get_by_test_id("game-chart").get_attribute("data-last") or "") == point
    assert history(page, 101) == [*before, point]
    expect(live.get_by_test_id("game-chart")).to_have_attribute("data-drawn", "31")
    # the same timestamp again replaces the point; an older one is ignored; a newer one appends
    again = [point[0], 615_000, None, 606_000]
    stale = [before[0][0], 1_000, 1_000, 1_000]
    newer = [point[0] + 10_000, None, 600_000, 607_000]
    nba_server.send({"type": "game", "game": {**update, "history": [again, stale, newer]}})
    wait_for_points(page, 101, 32)
    assert history(page, 101)[-2:] == [again, newer]
    assert len(history(page, 101)) == 32
    # the other games did not move
    assert chart_points(page, 102) == 12
    expect(game(page, 102).locator(".g-score")).to_have_text("99 – 112")
    assert console.errors == []


def test_history_is_capped(page: Page, nba_server: PageServer) -> None:
    open_nba(page, nba_server)
    start = NOW_MS + 60_000
    points = [[start + i * 1000, 500_000, 500_000, 500_000 + i] for i in range(800)]
    update = game_view(101, "BOS", "SAS", history=points)
    nba_server.send({"type": "game", "game": update})
    page.wait_for_function(
        "() => document.querySelector('#nba [data-game-id=\"101\"] canvas').dataset.last"
        ".includes('500799')"
    )
    kept = history(page, 101)
    assert chart_points(page, 101) == len(kept) <= 720
    # thinned, not cut: the chart still starts where the game's history started
    assert kept[0] == next(g for g in nba_games() if g["id"] == 101)["history"][0]
    assert kept[-1] == points[-1]
    stamps = [p[0] for p in kept]
    assert stamps == sorted(set(stamps))
    assert sum(1 for p in kept if p[0] >= start) > 300


def test_final_game_shows_final_and_settled_results(
    page: Page, nba_server: PageServer, console: Console
) -> None:
    open_nba(page, nba_server)
    final = game(page, 102)
    expect(final.locator(".g-status")).to_have_text("Final")
    expect(final.locator(".g-status")).to_have_attribute("data-status", "final")
    expect(final.locator(".g-more")).to_be_hidden()
    final.get_by_test_id("game-toggle").click()
    expect(final.get_by_test_id("game-toggle")).to_have_attribute("aria-expanded", "true")
    rows = final.get_by_test_id("game-market")
    expect(rows).to_have_count(4)
    results = rows.evaluate_all("rs => rs.map(r => [r.dataset.ticker, r.dataset.result])")
    assert results == [
        ["KXNBAGAME-26JUN01LALDEN-DEN", "yes"],
        ["KXNBAGAME-26JUN01LALDEN-LAL", "no"],
        ["KXNBASPREAD-26JUN01LALDEN-DEN9", "yes"],
        ["KXNBATOTAL-26JUN01LALDEN-215", "no"],
    ]
    first = rows.first
    expect(first.locator(".g-market")).to_contain_text("DEN win")
    expect(first.locator(".g-result")).to_have_text("YES")
    expect(first).to_contain_text("99¢")
    expect(rows.nth(2)).to_contain_text("DEN by > 9.5")
    expect(rows.nth(3)).to_contain_text("Total > 215.5")
    # the live game ends: Final, its markets settle, and the open table follows
    game(page, 101).get_by_test_id("game-toggle").click()
    tag = "26JUN01BOSSAS"
    ended = game_view(
        101, "BOS", "SAS", status="final", away_score=101, home_score=98, period=4,
        seconds_left=0, clock="Final", home_ppm=0,
        markets=[
            nba_market(f"KXNBAGAME-{tag}-SAS", "game", "SAS", None, 100, "finalized", "no"),
            nba_market(f"KXNBAGAME-{tag}-BOS", "game", "BOS", None, 9900, "determined", "yes"),
        ],
    )  # fmt: skip
    nba_server.send({"type": "game", "game": ended})
    live = game(page, 101)
    expect(live.locator(".g-status")).to_have_text("Final")
    expect(live.locator(".g-clock")).to_have_text("")
    expect(live.locator(".g-score")).to_have_text("101 – 98")
    expect(live.locator('[data-testid="game-market"][data-result="yes"]')).to_have_attribute(
        "data-ticker", f"KXNBAGAME-{tag}-BOS"
    )
    expect(live.locator('[data-testid="game-market"][data-result="no"] .g-result')).to_have_text(
        "NO"
    )
    expect(page.locator("#nba-note")).to_have_text("2026-06-01 · 3 games")
    assert console.errors == []


def test_odds_message_updates_consensus_and_books(
    page: Page, nba_server: PageServer, console: Console
) -> None:
    open_nba(page, nba_server)
    quotes = [
        {"vendor": v, "market": "moneyline", "home_odds": h, "away_odds": a, "line_tenths": None,
         "over_odds": None, "under_odds": None, "ts_ms": NOW_MS}
        for v, h, a in (("draftkings", -180, 150), ("fanduel", -175, 145), ("kalshi", -170, 160))
    ]  # fmt: skip
    consensus = {"home_win_ppm": 631_250, "spread_tenths": -45, "total_tenths": 2230, "books": 2}
    nba_server.send({"type": "odds", "game_id": 101, "quotes": quotes, "consensus": consensus})
    live = game(page, 101)
    expect(live.locator('[data-series="consensus"]')).to_have_text("Books 63.1%")
    expect(live.locator(".g-lines")).to_have_text("SAS -4.5 · O/U 223 · 2 books")
    live.get_by_test_id("game-toggle").click()
    books = live.get_by_test_id("game-quote")
    expect(books).to_have_count(3)
    expect(books.first).to_have_text("draftkings+150-180")
    # an exchange is listed apart from the sportsbooks the consensus is made of
    expect(books.nth(2)).to_have_class("muted")
    expect(books.nth(0)).not_to_have_class("muted")
    # a later game message without consensus keeps the odds message's figures
    update = game_view(101, "BOS", "SAS", away_score=56, home_score=61, clock="Q3 4:10")
    del update["consensus"]
    nba_server.send({"type": "game", "game": update})
    expect(live.locator(".g-score")).to_have_text("56 – 61")
    expect(live.locator('[data-series="consensus"]')).to_have_text("Books 63.1%")
    # odds for a game the page has not seen yet apply once the game arrives
    nba_server.send({"type": "odds", "game_id": 104, "quotes": [], "consensus": consensus})
    nba_server.send({"type": "game", "game": game_view(104, "PHX", "GSW", home_ppm=None)})
    expect(game(page, 104).locator('[data-series="consensus"]')).to_have_text("Books 63.1%")
    assert console.errors == []


def test_panel_appears_without_moving_the_other_sections(
    page: Page, page_server: PageServer, console: Console
) -> None:
    """The default fixture's snapshot has no games: the panel stays hidden until one arrives."""
    page.goto(page_server.url + "/")
    page_server.wait_for_connections(1)
    expect(page.locator('[data-testid="hot-card"]')).to_have_count(4)
    expect(page.locator("#nba")).to_be_hidden()
    rects = (
        "() => ['analytics', 'hot', 'tape-panel'].map(id => {"
        " const r = document.getElementById(id).getBoundingClientRect();"
        " return [id, r.x, r.y, r.width, r.height]; })"
    )
    before = page.evaluate(rects)
    for g in nba_games():
        page_server.send({"type": "game", "game": g})
    expect(page.locator(GAMES)).to_have_count(3)
    expect(page.locator("#nba")).to_be_visible()
    assert page.evaluate(rects) == before
    game(page, 102).get_by_test_id("game-toggle").click()  # scrolls the panel into view
    expect(game(page, 102).get_by_test_id("game-market")).to_have_count(4)
    page.evaluate("() => window.scrollTo(0, 0)")
    assert page.evaluate(rects) == before
    assert console.errors == []


def test_new_snapshot_replaces_the_games(
    page: Page, nba_server: PageServer, console: Console
) -> None:
    open_nba(page, nba_server)
    nba_server.snapshot = first_snapshot()  # a restarted app with the NBA side off
    nba_server.close_clients()
    page.wait_for_function("() => document.body.dataset.snapshots === '2'")
    expect(page.locator("#nba")).to_be_hidden()
    expect(page.locator(GAMES)).to_have_count(0)
    nba_server.wait_for_connections(2)
    nba_server.send({"type": "game", "game": game_view(105, "UTA", "POR")})
    expect(page.locator(GAMES)).to_have_count(1)
    assert chart_points(page, 105) == 0
    assert [e for e in console.errors if "WebSocket" not in e] == []


FORMAT_CASES: list[tuple[str, Any, str]] = [
    ("percentPpm", 623_456, "62.3%"),
    ("percentPpm", 1_000_000, "100%"),
    ("percentPpm", 0, "0%"),
    ("percentPpm", 999_951, "100%"),
    ("percentPpm", None, "–"),
    ("points", 55, "5.5"),
    ("points", -30, "-3"),
    ("points", 2215, "221.5"),
    ("american", 150, "+150"),
    ("american", -180, "-180"),
    ("american", 1200, "+1,200"),
]


def test_nba_format_helpers(page: Page, page_server: PageServer) -> None:
    page.goto(page_server.url + "/")
    got = page.evaluate(
        "async (cases) => { const f = await import('/js/format.js');"
        " return cases.map(([fn, v]) => f[fn](v)); }",
        FORMAT_CASES,
    )
    assert got == [want for _, _, want in FORMAT_CASES]
    signed = page.evaluate("async () => (await import('/js/format.js')).points(35, true)")
    assert signed == "+3.5"


def test_charts_off_screen_are_drawn_when_scrolled_to(
    page: Page, nba_server: PageServer, console: Console
) -> None:
    page.set_viewport_size({"width": 1440, "height": 500})  # the panel starts below the fold
    open_nba(page, nba_server)
    chart = game(page, 101).get_by_test_id("game-chart")
    expect(chart).to_have_attribute("data-points", "30")
    assert chart.get_attribute("data-drawn") == "0"  # not drawn while nobody can see it
    point = [NOW_MS + 5_000, 700_000, 650_000, 690_000]
    nba_server.send({"type": "game", "game": game_view(101, "BOS", "SAS", history=[point])})
    expect(chart).to_have_attribute("data-points", "31")
    assert chart.get_attribute("data-drawn") == "0"
    chart.scroll_into_view_if_needed()
    expect(chart).to_have_attribute("data-drawn", "31")
    assert min(series_pixels(page, 101).values()) > 20
    assert console.errors == []
