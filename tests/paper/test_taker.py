"""Takers: depth walks, time in force, the liquidity memory, YES/NO equivalence, latency, and
books that cannot be traded on."""

from __future__ import annotations

from models import Action, FeedGap, GapKind, Side
from paper import CancelReason, Desk, DeskConfig, OrderStatus, TimeInForce
from paper.matching import walk
from paper.records import FollowRequest, OrderEventKind, OrderUpdate
from tests.paper.feed import T0, Feed, T, c, fills, n, order, usd

BUY, SELL = Action.BUY, Action.SELL
YES, NO = Side.YES, Side.NO


def desk0(**kw: object) -> tuple[Desk, Feed]:
    desk = Desk(DeskConfig(latency_ms=0, **kw))  # type: ignore[arg-type]
    feed = Feed(desk)
    # YES bids 40 x100, 39 x50; NO bids 55 x30 (YES ask 45), 54 x40 (ask 46), 50 x100 (ask 50)
    feed.snap(yes=[(c(40), n(100)), (c(39), n(50))],
              no=[(c(55), n(30)), (c(54), n(40)), (c(50), n(100))])  # fmt: skip
    desk.drain()
    return desk, feed


def test_walk_takes_levels_best_first_and_stops_at_the_limit() -> None:
    bids = {c(55): n(30), c(54): n(40), c(50): n(100)}
    assert walk(bids, c(54), n(100), {}) == [(c(55), n(30)), (c(54), n(40))]
    assert walk(bids, c(54), n(10), {}) == [(c(55), n(10))]
    assert walk(bids, c(54), n(100), {c(55): n(30)}) == [(c(54), n(40))]
    assert walk(bids, c(56), n(100), {}) == []


def test_a_yes_buy_walks_the_no_bids_and_rests_the_rest() -> None:
    desk, _ = desk0()
    res = desk.place(order(YES, BUY, c(46), n(100)))
    (fill,) = fills(desk.drain())
    # 30 at 0.45 and 40 at 0.46 (the NO bids at 0.55, 0.54); nothing at 0.50 (past the limit)
    assert fill.legs == ((c(45), n(30)), (c(46), n(40)))
    assert fill.cost == usd(30 * 0.45 + 40 * 0.46)
    assert fill.maker is False and fill.expected_price == c(45)
    assert fill.slippage == usd(40 * 0.01)  # 40 contracts a cent worse than the touch
    assert res.order_id is not None
    left = desk.orders[res.order_id]
    assert (left.status, left.remaining, left.ahead) == (OrderStatus.RESTING, n(30), 0)
    acct = desk.ledger.accounts["manual"]
    assert acct.positions[T].net == n(70) and acct.positions[T].cost == usd(31.9)


def test_ioc_cancels_what_the_book_cannot_give() -> None:
    desk, _ = desk0()
    res = desk.place(order(YES, BUY, c(46), n(100), TimeInForce.IOC))
    out = desk.drain()
    assert [f.count for f in fills(out)] == [n(70)]
    assert res.order_id is not None
    o = desk.orders[res.order_id]
    assert (o.status, o.cancel_reason, o.remaining) == (
        OrderStatus.CANCELED,
        CancelReason.IOC,
        n(30),
    )


def test_fok_fills_whole_or_not_at_all() -> None:
    desk, _ = desk0()
    res = desk.place(order(YES, BUY, c(46), n(71), TimeInForce.FOK))  # 70 within the limit
    assert fills(desk.drain()) == []
    assert res.order_id is not None
    assert desk.orders[res.order_id].cancel_reason is CancelReason.FOK
    desk.place(order(YES, BUY, c(46), n(70), TimeInForce.FOK))
    (fill,) = fills(desk.drain())
    assert fill.count == n(70)


def test_a_sell_walks_its_own_sides_bids() -> None:
    desk, _ = desk0()
    desk.place(order(YES, SELL, c(39), n(120), TimeInForce.IOC))  # YES bids 40 x100, 39 x50
    (fill,) = fills(desk.drain())
    assert fill.legs == ((c(40), n(100)), (c(39), n(20)))
    assert desk.ledger.accounts["manual"].positions[T].net == -n(120)  # 120 NO
    # selling YES it did not hold bought NO at 0.60 and 0.61
    assert desk.ledger.accounts["manual"].positions[T].cost == usd(100 * 0.60 + 20 * 0.61)


def test_two_orders_cannot_take_the_same_liquidity() -> None:
    desk, feed = desk0(accounts={"a": usd(1000), "b": usd(1000)})
    desk.place(order(YES, BUY, c(45), n(20), TimeInForce.IOC, account="a"))
    desk.place(order(YES, BUY, c(45), n(20), TimeInForce.IOC, account="b"))
    got = fills(desk.drain())
    assert [(f.account, f.count) for f in got] == [("a", n(20)), ("b", n(10))]  # 30 shown
    desk.place(order(YES, BUY, c(45), n(5), TimeInForce.IOC, account="a"))
    assert fills(desk.drain()) == []  # the book still shows 30; the desk took them
    # the level changes: the desk takes the book as it now stands
    feed.delta(NO, c(55), n(5))
    desk.place(order(YES, BUY, c(45), n(50), TimeInForce.IOC, account="a"))
    assert [f.count for f in fills(desk.drain())] == [n(35)]


def test_buying_no_is_selling_yes_at_one_minus_the_price() -> None:
    results = []
    for side, price in ((NO, c(61)), (YES, c(39))):
        desk, _ = desk0()
        desk.place(order(side, SELL if side is YES else BUY, price, n(120), TimeInForce.IOC))
        (fill,) = fills(desk.drain())
        acct = desk.ledger.accounts["manual"]
        pos = acct.positions[T]
        results.append((pos.net, pos.cost, acct.cash, fill.fee, fill.count))
    assert results[0] == results[1]
    assert results[0][0] == -n(120)


def test_latency_meets_the_book_as_it_is_on_arrival() -> None:
    desk = Desk(DeskConfig(latency_ms=150))
    feed = Feed(desk)
    feed.snap(no=[(c(55), n(30)), (c(54), n(40))])
    res = desk.place(order(YES, BUY, c(46), n(50), TimeInForce.IOC))
    assert res.order_id is not None
    feed.delta(NO, c(55), -n(30), t=T0 + 100)  # someone else takes the 0.45 offer first
    assert desk.orders[res.order_id].status is OrderStatus.PENDING
    feed.delta(NO, c(54), -n(10), t=T0 + 200)  # after arrival: the order did not see this
    (fill,) = fills(desk.drain())
    assert fill.ts_ms == T0 + 150 and fill.legs == ((c(46), n(40)),)
    assert fill.expected_price == c(45) and fill.slippage == usd(40 * 0.01)


def test_an_event_exactly_at_arrival_is_seen_after_the_order() -> None:
    desk = Desk(DeskConfig(latency_ms=150))
    feed = Feed(desk)
    feed.snap(no=[(c(55), n(30))])
    desk.place(order(YES, BUY, c(45), n(10), TimeInForce.IOC))
    feed.delta(NO, c(55), -n(30), t=T0 + 150)  # the first event at or after arrival
    assert [f.count for f in fills(desk.drain())] == [n(10)]


def test_an_unfollowed_market_asks_to_follow_and_waits_for_its_snapshot() -> None:
    desk = Desk(DeskConfig(latency_ms=0))
    res = desk.place(order(YES, BUY, c(45), n(10), TimeInForce.IOC))
    out = desk.drain()
    assert FollowRequest(0, T, "order") in out
    assert res.order_id is not None
    assert desk.orders[res.order_id].status is OrderStatus.WAITING
    Feed(desk).snap(no=[(c(55), n(30))])
    (fill,) = fills(desk.drain())
    assert fill.count == n(10) and fill.ts_ms == T0


def test_a_stale_book_refuses_fills() -> None:
    desk, feed = desk0()
    desk.on_event(FeedGap(GapKind.BOOK, "orderbook_delta", 1, 3, 5, T, T0, T0 + 1, T0 + 1))
    ioc = desk.place(order(YES, BUY, c(45), n(10), TimeInForce.IOC))
    gtc = desk.place(order(YES, BUY, c(45), n(10)))
    assert fills(desk.drain()) == []
    assert ioc.order_id is not None and gtc.order_id is not None
    assert desk.orders[ioc.order_id].cancel_reason is CancelReason.STALE
    assert desk.orders[gtc.order_id].status is OrderStatus.WAITING
    feed.snap(no=[(c(55), n(30))], t=T0 + 10)  # repaired: the GTC meets the new book
    (fill,) = fills(desk.drain())
    assert fill.count == n(10) and fill.ts_ms == T0 + 10


def test_cancel_and_decrease_take_effect_on_arrival() -> None:
    desk = Desk(DeskConfig(latency_ms=100))
    feed = Feed(desk)
    feed.snap(yes=[(c(40), n(100))])
    res = desk.place(order(YES, BUY, c(40), n(10)))
    assert res.order_id is not None
    feed.delta(YES, c(40), n(1), t=T0 + 100)
    o = desk.orders[res.order_id]
    assert o.status is OrderStatus.RESTING and o.ahead == n(100)
    assert desk.decrease(res.order_id, reduce_by=n(4))
    feed.delta(YES, c(40), n(1), t=T0 + 200)
    assert o.remaining == n(6) and o.ahead == n(100)  # keeps its place in the queue
    assert desk.decrease(res.order_id, reduce_to=n(2))
    assert desk.cancel(res.order_id)
    feed.delta(YES, c(40), n(1), t=T0 + 300)
    kinds = [r.kind for r in desk.drain() if isinstance(r, OrderUpdate)]
    assert kinds[-3:] == [OrderEventKind.DECREASED, OrderEventKind.DECREASED,
                          OrderEventKind.CANCELED]  # fmt: skip
    assert o.cancel_reason is CancelReason.REQUESTED and not desk.queues


def test_a_gtc_order_expires_on_the_event_clock() -> None:
    desk, feed = desk0()
    res = desk.place(order(YES, BUY, c(30), n(10), expiry_ms=T0 + 1_000))
    assert res.order_id is not None
    feed.trade(c(40), n(1), NO, t=T0 + 999)
    assert desk.orders[res.order_id].status is OrderStatus.RESTING
    feed.trade(c(30), n(500), NO, t=T0 + 1_000)  # expired at 1000: no fill at 1000
    assert desk.orders[res.order_id].cancel_reason is CancelReason.EXPIRED
    assert fills(desk.drain()) == []
