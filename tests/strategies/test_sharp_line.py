"""sharp_line: Kalshi against the no-vig consensus of fresh sportsbooks."""

from __future__ import annotations

from models import Action, FeedGap, GapKind, Side
from strategies.sharp_line import SharpLine, SharpLineConfig
from tests.strategies.world import (
    BOOKS,
    HOME,
    T0,
    World,
    game,
    intents,
    moneyline,
    run,
    snapshot,
)


def setup(world: World, strategy: SharpLine, home_ppm: int = 600_000) -> None:
    world.matched()
    run(strategy, world, game(T0))
    for i, vendor in enumerate(BOOKS):
        run(strategy, world, moneyline(vendor, home_ppm, T0 + i))


def test_buys_the_side_the_books_rate_eight_points_above_kalshi() -> None:
    world, s = World(), SharpLine(SharpLineConfig())
    setup(world, s)
    # Kalshi: SAS YES 0.50 / 0.52; the four books say about 0.60
    out = intents(run(s, world, snapshot(HOME, 5_000, 5_200, T0 + 1_000)))
    assert len(out) == 1
    i = out[0]
    assert (i.ticker, i.side, i.action, i.price, i.count) == (
        HOME,
        Side.YES,
        Action.BUY,
        5_200,
        500,
    )
    assert i.probability_ppm is not None and abs(i.probability_ppm - 600_000) < 3_000
    assert "4 books" in i.signal and "edge" in i.signal
    assert "buy yes" in s.status


def test_no_trade_when_the_edge_does_not_cover_fee_and_spread() -> None:
    world, s = World(), SharpLine(SharpLineConfig())
    setup(world, s, home_ppm=540_000)
    # fair 0.54 against an ask of 0.52: 2 cents less a 1.75-cent fee is under 3 cents
    assert run(s, world, snapshot(HOME, 5_000, 5_200, T0 + 1_000)) == []
    assert "best edge" in s.status


def test_stays_out_on_stale_odds_and_says_why() -> None:
    world, s = World(), SharpLine(SharpLineConfig(max_odds_age_ms=120_000))
    setup(world, s)
    assert run(s, world, snapshot(HOME, 5_000, 5_200, T0 + 121_000)) == []
    assert s.status.startswith("stale odds")


def test_stays_out_with_too_few_books() -> None:
    world, s = World(), SharpLine(SharpLineConfig(min_books=5))
    setup(world, s)
    assert run(s, world, snapshot(HOME, 5_000, 5_200, T0 + 1_000)) == []
    assert "want 5" in s.status


def test_stays_out_on_a_book_with_a_gap() -> None:
    world, s = World(), SharpLine(SharpLineConfig())
    setup(world, s)
    world.feed(snapshot(HOME, 5_000, 5_200, T0 + 500))
    gap = FeedGap(GapKind.BOOK, "orderbook_delta", 1, 2, 5, HOME, T0, T0 + 600, T0 + 600)
    world.feed(gap)
    assert run(s, world, moneyline("fanduel", 601_000, T0 + 700)) == []
    assert "book stale" in s.status


def test_exits_on_convergence_and_at_the_stop() -> None:
    world, s = World(), SharpLine(SharpLineConfig())
    setup(world, s)
    intents(run(s, world, snapshot(HOME, 5_000, 5_200, T0 + 1_000)))
    world.positions[HOME] = 500
    assert run(s, world, snapshot(HOME, 5_500, 5_700, T0 + 2_000, seq=2)) == []
    out = intents(run(s, world, snapshot(HOME, 6_000, 6_100, T0 + 3_000, seq=3)))
    assert [(i.side, i.action, i.price, i.count) for i in out] == [
        (Side.YES, Action.SELL, 6_000, 500)
    ]
    assert "converged" in out[0].signal
    # a new entry, then the price falls through the stop
    world.positions.clear()
    intents(run(s, world, snapshot(HOME, 5_000, 5_200, T0 + 4_000, seq=4)))
    world.positions[HOME] = 500
    out = intents(run(s, world, snapshot(HOME, 4_400, 4_500, T0 + 5_000, seq=5)))
    assert out[0].action is Action.SELL and "stop" in out[0].signal
