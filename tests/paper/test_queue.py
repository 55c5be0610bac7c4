"""Resting orders: a place in the queue behind the displayed size, consumed by trades and by
decreases, a trade and its delta counted once, trade-throughs, never a fill on a quote."""

from __future__ import annotations

import pytest

from models import Action, Side
from paper import CancelModel, Desk, DeskConfig, OrderStatus
from tests.paper.feed import T0, Feed, T, c, fills, n, order

BUY, SELL = Action.BUY, Action.SELL
YES, NO = Side.YES, Side.NO


def resting(model: CancelModel = CancelModel.BEHIND, **kw: object) -> tuple[Desk, Feed, int]:
    """A YES bid for 10 at 0.40 behind the 100 displayed there, and 50 more behind it."""
    desk = Desk(DeskConfig(latency_ms=0, cancel_model=model, **kw))  # type: ignore[arg-type]
    feed = Feed(desk)
    feed.snap(yes=[(c(40), n(100)), (c(39), n(50))], no=[(c(58), n(100))])
    res = desk.place(order(YES, BUY, c(40), n(10)))
    assert res.order_id is not None
    assert desk.orders[res.order_id].ahead == n(100)
    feed.delta(YES, c(40), n(50))
    desk.drain()
    return desk, feed, res.order_id


def test_trades_at_the_level_consume_the_queue_then_fill() -> None:
    desk, feed, oid = resting()
    o = desk.orders[oid]
    feed.trade(c(40), n(60), NO, t=T0 + 1)  # a NO taker sells into YES bids at 0.40
    feed.delta(YES, c(40), -n(60))  # ... and the book shows it: one event, not two
    assert (o.ahead, o.filled) == (n(40), 0)
    feed.trade(c(40), n(45), NO, t=T0 + 2)  # 40 ahead, then 5 for us
    feed.delta(YES, c(40), -n(45))
    assert (o.ahead, o.filled, o.remaining) == (0, n(5), n(5))
    (fill,) = fills(desk.drain())
    assert fill.maker and fill.legs == ((c(40), n(5)),) and fill.ts_ms == T0 + 2
    feed.trade(c(40), n(20), NO, t=T0 + 3)
    assert o.status is OrderStatus.EXECUTED and o.filled == n(10)


def test_a_trade_on_the_other_side_or_another_price_does_not_touch_the_queue() -> None:
    desk, feed, oid = resting()
    feed.trade(c(42), n(500), YES)  # a YES taker buys from NO bids at 0.58
    feed.trade(c(41), n(500), NO)  # a sale at 0.41 is above our bid: not through it
    assert desk.orders[oid].ahead == n(100) and fills(desk.drain()) == []


def test_a_trade_through_the_price_fills_up_to_its_size() -> None:
    desk, feed, oid = resting()
    feed.trade(c(39), n(4), NO)  # someone sold at 0.39: our 0.40 bid would have come first
    o = desk.orders[oid]
    assert (o.filled, o.ahead) == (n(4), 0)  # and nothing real can be ahead of it now
    feed.trade(c(38), n(50), NO)
    assert o.status is OrderStatus.EXECUTED
    assert [f.legs for f in fills(desk.drain())] == [((c(40), n(4)),), ((c(40), n(6)),)]


def test_a_quote_alone_never_fills() -> None:
    desk, feed, oid = resting()
    feed.delta(NO, c(62), n(100))  # a NO bid at 0.62: a YES ask at 0.38, through our bid
    feed.delta(YES, c(40), -n(150))  # the whole level cancels
    o = desk.orders[oid]
    assert o.filled == 0 and o.ahead == 0 and fills(desk.drain()) == []


@pytest.mark.parametrize(
    ("model", "ahead"),
    [
        (CancelModel.BEHIND, n(100)),  # pessimistic: the 30 cancelled were behind us
        (CancelModel.PROPORTIONAL, n(80)),  # 100 of the 150 were ahead: 30 * 100/150 = 20
        (CancelModel.AHEAD, n(70)),
    ],
)
def test_decreases_are_cancellations_shared_as_the_model_says(
    model: CancelModel, ahead: int
) -> None:
    desk, feed, oid = resting(model)
    feed.delta(YES, c(40), -n(30))
    assert desk.orders[oid].ahead == ahead


def test_a_decrease_below_the_queue_clamps_it_even_when_pessimistic() -> None:
    desk, feed, oid = resting()
    feed.delta(YES, c(40), -n(120))  # only 30 left on the level: at most 30 ahead
    assert desk.orders[oid].ahead == n(30)


@pytest.mark.parametrize(
    ("model", "ahead"),
    [
        (CancelModel.BEHIND, n(70)),
        (CancelModel.PROPORTIONAL, n(70) - n(10) * n(70) // n(120)),  # of 120 displayed
        (CancelModel.AHEAD, n(60)),
    ],
)
def test_a_trade_and_its_delta_are_counted_once(model: CancelModel, ahead: int) -> None:
    desk, feed, oid = resting(model)
    feed.trade(c(40), n(30), NO)
    feed.delta(YES, c(40), -n(30))  # the trade's echo: no cancellation, whatever the model
    assert desk.orders[oid].ahead == n(70)
    feed.delta(YES, c(40), -n(10))  # a real cancellation
    assert desk.orders[oid].ahead == ahead


def test_paper_orders_at_one_level_share_a_trade_in_arrival_order() -> None:
    desk, feed, first = resting(accounts={"a": 10**9})
    res = desk.place(order(YES, BUY, c(40), n(10), account="a"))
    assert res.order_id is not None
    second = res.order_id
    assert desk.orders[second].ahead == n(150)  # the first's 100 and the 50 behind it
    feed.trade(c(40), n(105), NO)  # 100 ahead of both, 5 beyond: the first order's
    assert desk.orders[first].filled == n(5) and desk.orders[second].filled == 0
    assert desk.orders[second].ahead == n(45)
    feed.delta(YES, c(40), -n(105))
    # the queue: [first's 5] [45 real] [second]: 55 fill the first, go through the 45, and
    # leave 5 for the second
    feed.trade(c(40), n(55), NO)
    assert desk.orders[first].filled == n(10) and desk.orders[second].filled == n(5)


def test_a_sell_rests_on_the_no_side_and_fills_on_yes_takers() -> None:
    desk = Desk(DeskConfig(latency_ms=0))
    feed = Feed(desk)
    feed.snap(yes=[(c(40), n(100))], no=[(c(55), n(20))])  # YES ask 0.45 x20
    res = desk.place(order(YES, SELL, c(45), n(10)))  # joins the NO bids at 0.55 behind 20
    assert res.order_id is not None
    o = desk.orders[res.order_id]
    assert (o.rest, o.rest_price, o.ahead) == (NO, c(55), n(20))
    feed.trade(c(45), n(25), YES)  # a YES taker buys 25 at 0.45
    assert o.filled == n(5)
    (fill,) = fills(desk.drain())
    assert fill.legs == ((c(45), n(5)),) and fill.cost == n(5) * c(45)


def test_a_resting_no_buy_is_a_resting_yes_sell_at_one_minus_the_price() -> None:
    seen = []
    for side, action, price in ((NO, BUY, c(55)), (YES, SELL, c(45))):
        desk = Desk(DeskConfig(latency_ms=0))
        feed = Feed(desk)
        feed.snap(yes=[(c(40), n(100))], no=[(c(55), n(20))])
        res = desk.place(order(side, action, price, n(10)))
        assert res.order_id is not None
        o = desk.orders[res.order_id]
        feed.trade(c(45), n(25), YES)
        pos = desk.ledger.accounts["manual"].positions[T]
        seen.append((o.rest, o.rest_price, o.filled, pos.net, pos.cost))
    assert seen[0] == seen[1] == (NO, c(55), n(5), -n(5), n(5) * c(55))
