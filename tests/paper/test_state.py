"""The desk as records and as a snapshot: JSON-ready, and rebuilt to carry on identically."""

from __future__ import annotations

import json

from models import Action, Side
from paper import Desk, DeskConfig, RiskLimits, TimeInForce, to_dict
from paper.records import Fill, FollowRequest, Record, Settlement
from tests.paper.feed import T0, Feed, T, c, n, order, usd

BUY, SELL = Action.BUY, Action.SELL
YES, NO = Side.YES, Side.NO
CONFIG = DeskConfig(
    accounts={"s": usd(500)},
    limits={"s": RiskLimits(max_orders_per_minute=50)},
    latency_ms=150,
)


def plain(value: object) -> object:
    return json.loads(json.dumps(value))


def history(desk: Desk) -> Feed:
    feed = Feed(desk)
    feed.snap(yes=[(c(40), n(100))], no=[(c(55), n(100))])
    desk.place(order(YES, BUY, c(45), n(10), TimeInForce.IOC, account="s"))  # a taker fill
    desk.place(order(YES, BUY, c(40), n(20), account="s", probability_ppm=550_000))  # rests
    desk.place(order(NO, BUY, c(50), n(5), account="s", expiry_ms=T0 + 50_000))  # rests
    feed.delta(YES, c(40), n(30), t=T0 + 200)
    feed.trade(c(40), n(110), NO, t=T0 + 300)  # 100 ahead, 10 for us
    feed.delta(YES, c(40), -n(110), t=T0 + 300)
    desk.place(order(YES, SELL, c(40), n(3), TimeInForce.IOC))  # in flight at the snapshot
    return feed


def future(desk: Desk, feed: Feed) -> None:
    feed.snap(yes=[(c(40), n(20)), (c(39), n(10))], no=[(c(55), n(100))], t=T0 + 400)
    feed.trade(c(40), n(25), NO, t=T0 + 500)  # the rest of the resting YES bid
    feed.trade(c(45), n(60), YES, t=T0 + 61_000)  # the NO bid at 0.50 expired at 50 s
    feed.settle("yes", t=T0 + 120_000)


def test_every_record_is_plain_json() -> None:
    desk = Desk(CONFIG)
    future(desk, history(desk))
    out = desk.drain()
    kinds = {type(r).__name__ for r in out}
    assert kinds >= {"OrderUpdate", "Fill", "PositionChange", "Settlement", "EquityPoint"}
    for record in out:
        assert json.loads(json.dumps(to_dict(record)))["type"] == type(record).__name__


def test_a_desk_rebuilt_from_its_snapshot_carries_on_as_the_original() -> None:
    original = Desk(CONFIG)
    feed = history(original)
    state = plain(original.snapshot())
    assert isinstance(state, dict)
    rebuilt = Desk.restore(CONFIG, state)
    asked = rebuilt.drain()
    assert asked == [FollowRequest(T0 + 300, T, "restored")]
    assert plain(rebuilt.snapshot()) == state
    original.drain()
    future(original, feed)
    replay = Feed(rebuilt)
    replay.seq, replay.trades = feed.seq - 1, feed.trades - 2
    future(rebuilt, replay)
    a: list[Record] = original.drain()
    b: list[Record] = rebuilt.drain()
    assert [to_dict(r) for r in a] == [to_dict(r) for r in b]
    assert [(f.maker, f.count) for f in a if isinstance(f, Fill)] == [
        (False, n(3)),  # the order in flight, on arrival
        (True, n(10)),  # the resting one, at the front of its queue since T0 + 300
    ]
    assert any(isinstance(r, Settlement) for r in a)
    assert plain(rebuilt.snapshot()) == plain(original.snapshot())
    assert rebuilt.metrics("s") == original.metrics("s")
