"""momentum: a move confirmed by taker flow and volume; take-profit, stop-loss, time stop."""

from __future__ import annotations

from models import Action, FeedGap, GapKind, Side
from strategies.momentum import Momentum, MomentumConfig
from tests.strategies.world import HOME, T0, World, intents, run, snapshot, trade


def rally(world: World, s: Momentum, taker: Side = Side.YES) -> list[object]:
    """Six trades of five contracts over 50 s, 0.50 up to 0.54, all but one YES takers."""
    world.feed(snapshot(HOME, 5_400, 5_500, T0))
    out: list[object] = []
    for n, price in enumerate((5_000, 5_100, 5_150, 5_250, 5_300, 5_400)):
        side = Side.NO if n == 2 else taker
        out = list(run(s, world, trade(HOME, price, 500, side, T0 + 10_000 * n, n)))
    return out


def test_buys_a_move_that_flow_and_volume_confirm() -> None:
    world, s = World(), Momentum(MomentumConfig())
    out = intents(rally(world, s))  # type: ignore[arg-type]
    assert [(i.ticker, i.side, i.action, i.price, i.count) for i in out] == [
        (HOME, Side.YES, Action.BUY, 5_500, 500)
    ]
    assert out[0].probability_ppm is None and "move +4.0c" in out[0].signal
    assert "flow 66% yes" in out[0].signal


def test_a_move_against_the_flow_is_not_bought() -> None:
    world, s = World(), Momentum(MomentumConfig())
    assert rally(world, s, taker=Side.NO) == []
    assert "not confirmed by flow" in s.status


def test_stays_out_on_a_stale_book_and_says_why() -> None:
    world, s = World(), Momentum(MomentumConfig())
    world.feed(FeedGap(GapKind.BOOK, "orderbook_delta", 1, 2, 5, HOME, T0, T0, T0))
    for n, price in enumerate((5_000, 5_100, 5_150, 5_250, 5_300, 5_400)):
        assert run(s, world, trade(HOME, price, 500, Side.YES, T0 + 10_000 * n, n)) == []
    assert "no book" in s.status or "book stale" in s.status
    world.feed(snapshot(HOME, 5_400, 5_500, T0 + 55_000))
    world.feed(FeedGap(GapKind.BOOK, "orderbook_delta", 1, 2, 5, HOME, T0, T0, T0 + 56_000))
    assert run(s, world, trade(HOME, 5_450, 500, Side.YES, T0 + 57_000, 9)) == []
    assert "book stale" in s.status


def test_exits_on_take_profit_stop_loss_and_time() -> None:
    world, s = World(), Momentum(MomentumConfig(hold_ms=300_000))
    rally(world, s)
    world.positions[HOME] = 500
    assert run(s, world, snapshot(HOME, 5_600, 5_700, T0 + 60_000, seq=2)) == []
    out = intents(run(s, world, snapshot(HOME, 6_000, 6_100, T0 + 61_000, seq=3)))
    assert [(i.action, i.price) for i in out] == [(Action.SELL, 6_000)]
    assert "take-profit" in out[0].signal
    s.entry[HOME] = (5_500, T0 + 61_000)
    out = intents(run(s, world, snapshot(HOME, 5_200, 5_300, T0 + 62_000, seq=4)))
    assert "stop-loss" in out[0].signal
    s.entry[HOME] = (5_500, T0 + 62_000)
    out = intents(run(s, world, snapshot(HOME, 5_500, 5_600, T0 + 362_000, seq=5)))
    assert "time stop" in out[0].signal
