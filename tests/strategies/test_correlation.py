"""correlation: bundles that pay $1 whatever happens, bought when they cost less after fees."""

from __future__ import annotations

from models import Action, FeedGap, GapKind, Side
from strategies.correlation import Correlation, CorrelationConfig
from tests.strategies.world import (
    AWAY,
    HOME,
    SPREAD5,
    SPREAD8,
    T0,
    TOTAL210,
    TOTAL220,
    World,
    game,
    intents,
    run,
    snapshot,
)


def setup(world: World) -> None:
    world.matched()
    world.feed(game(T0))


def test_buys_both_winners_when_their_asks_sum_under_a_dollar() -> None:
    world, s = World(), Correlation(CorrelationConfig())
    setup(world)
    world.feed(snapshot(HOME, 4_300, 4_500, T0))
    out = intents(run(s, world, snapshot(AWAY, 4_800, 5_000, T0 + 1)))
    assert sorted((i.ticker, i.side, i.action, i.price, i.count) for i in out) == [
        (AWAY, Side.YES, Action.BUY, 5_000, 500),
        (HOME, Side.YES, Action.BUY, 4_500, 500),
    ]
    assert "sum to $1" in out[0].signal and out[0].signal == out[1].signal
    # bought: no second bundle on those legs
    world.positions.update({HOME: 500, AWAY: 500})
    assert run(s, world, snapshot(AWAY, 4_800, 5_000, T0 + 2, seq=2)) == []


def test_consistent_prices_are_left_alone() -> None:
    world, s = World(), Correlation(CorrelationConfig())
    setup(world)
    world.feed(snapshot(HOME, 4_900, 5_100, T0))
    assert run(s, world, snapshot(AWAY, 4_900, 5_100, T0 + 1)) == []
    assert "consistent" in s.status


def test_a_spread_priced_above_the_win_is_sold_against_it() -> None:
    world, s = World(), Correlation(CorrelationConfig(game_pair=False, ladders=False))
    setup(world)
    world.feed(snapshot(HOME, 4_800, 5_000, T0))
    out = intents(run(s, world, snapshot(SPREAD5, 5_500, 5_700, T0 + 1)))
    assert sorted((i.ticker, i.side, i.price) for i in out) == [
        (HOME, Side.YES, 5_000),
        (SPREAD5, Side.NO, 4_500),
    ]
    assert "implies SAS wins" in out[0].signal


def test_ladders_must_fall_with_the_strike() -> None:
    world, s = World(), Correlation(CorrelationConfig(game_pair=False, win_vs_spread=False))
    setup(world)
    world.feed(snapshot(SPREAD5, 3_900, 4_100, T0))
    out = intents(run(s, world, snapshot(SPREAD8, 4_800, 5_000, T0 + 1)))
    assert sorted((i.ticker, i.side, i.price) for i in out) == [
        (SPREAD5, Side.YES, 4_100),
        (SPREAD8, Side.NO, 5_200),
    ]
    world2, s2 = World(), Correlation(CorrelationConfig(game_pair=False, win_vs_spread=False))
    setup(world2)
    world2.feed(snapshot(TOTAL210, 4_000, 4_200, T0))
    out = intents(run(s2, world2, snapshot(TOTAL220, 4_700, 4_900, T0 + 1)))
    assert sorted((i.ticker, i.side) for i in out) == [(TOTAL210, Side.YES), (TOTAL220, Side.NO)]


def test_stays_out_when_a_legs_book_is_stale_and_says_why() -> None:
    world, s = World(), Correlation(CorrelationConfig())
    setup(world)
    world.feed(snapshot(HOME, 4_300, 4_500, T0))
    world.feed(snapshot(AWAY, 4_800, 5_000, T0))
    world.feed(FeedGap(GapKind.BOOK, "orderbook_delta", 1, 2, 5, AWAY, T0, T0 + 1, T0 + 1))
    assert run(s, world, snapshot(HOME, 4_300, 4_500, T0 + 2, seq=2)) == []
    assert "book stale" in s.status
