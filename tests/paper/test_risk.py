"""The risk gate: every rejection, recorded and counted; kill switches; flatten-all."""

from __future__ import annotations

from models import Action, MarketInfo, MarketsFetched, PriceRange, Side
from paper import CancelReason, Desk, DeskConfig, RejectReason, RiskLimits, TimeInForce
from paper.records import RiskEvent, RiskEventKind
from tests.paper.feed import T0, Feed, T, c, fills, n, order, usd

BUY, SELL = Action.BUY, Action.SELL
YES, NO = Side.YES, Side.NO
T2 = T.rpartition("-")[0] + "-LAL"  # the other market of the same game
OTHER = "KXNBAGAME-26JAN08BOSNYK-BOS"
DAY = 86_400_000


def desk_with(limits: RiskLimits, balance: int = usd(1_000), **kw: object) -> Desk:
    desk = Desk(DeskConfig(latency_ms=0, accounts={"a": balance}, limits={"a": limits}, **kw))  # type: ignore[arg-type]
    for ticker in (T, T2, OTHER):
        Feed(desk, ticker).snap(yes=[(c(40), n(1000))], no=[(c(50), n(1000))])
    desk.drain()
    return desk


def rejected(desk: Desk, reason: RejectReason, **kw: object) -> None:
    args = {"side": YES, "action": BUY, "price": c(50), "count": n(1), "account": "a", **kw}
    before = desk.rejections[(str(args["account"]), reason)]
    res = desk.place(order(**args))  # type: ignore[arg-type]
    assert res.reason is reason, res
    assert desk.rejections[(str(args["account"]), reason)] == before + 1
    out = desk.drain()
    (event,) = [r for r in out if isinstance(r, RiskEvent) and r.kind is RiskEventKind.REJECTED]
    assert (event.reason, event.account) == (reason, args["account"])


def test_orders_that_cannot_be_valid_are_rejected() -> None:
    desk = desk_with(RiskLimits())
    tapered = (PriceRange(0, 1000, 10), PriceRange(1000, 9000, 100), PriceRange(9000, 10000, 10))
    info = MarketInfo(OTHER, "E", "S", "t", "s", "active", None, None, price_ranges=tapered,
                      fractional_trading_enabled=True)  # fmt: skip
    desk.on_event(MarketsFetched((info,), T0, T0))
    rejected(desk, RejectReason.UNKNOWN_ACCOUNT, account="nobody")
    rejected(desk, RejectReason.BAD_PRICE, price=0)
    rejected(desk, RejectReason.BAD_PRICE, price=10_000)
    rejected(desk, RejectReason.OFF_GRID, price=c(50.5))  # the default cent grid
    rejected(desk, RejectReason.OFF_GRID, ticker=OTHER, price=c(50.5))  # cents in the middle
    assert desk.place(order(YES, BUY, c(5.1), n(1), account="a", ticker=OTHER)).accepted
    rejected(desk, RejectReason.OFF_GRID, ticker=OTHER, price=c(5.15))
    rejected(desk, RejectReason.BAD_COUNT, count=0)
    rejected(desk, RejectReason.FRACTIONAL, count=n(1.5))
    assert desk.place(order(YES, BUY, c(50), n(1.5), account="a", ticker=OTHER)).accepted
    rejected(desk, RejectReason.BAD_EXPIRY, expiry_ms=T0 - 1)
    rejected(desk, RejectReason.BAD_EXPIRY, tif=TimeInForce.IOC, expiry_ms=T0 + 1)
    rejected(desk, RejectReason.BAD_PROBABILITY, probability_ppm=1_000_001)
    Feed(desk, T2).settle("yes")
    rejected(desk, RejectReason.MARKET_FINISHED, ticker=T2)


def test_orders_per_minute_on_the_event_clock() -> None:
    desk = desk_with(RiskLimits(max_orders_per_minute=2))
    feed = Feed(desk)
    assert desk.place(order(YES, BUY, c(30), n(1), account="a")).accepted
    feed.trade(c(40), n(1), NO, t=T0 + 30_000)
    assert desk.place(order(YES, BUY, c(30), n(1), account="a")).accepted
    rejected(desk, RejectReason.ORDER_RATE, price=c(30))
    feed.trade(c(40), n(1), NO, t=T0 + 60_000)  # the first one is a minute old
    assert desk.place(order(YES, BUY, c(30), n(1), account="a")).accepted
    assert (
        desk.place(order(YES, BUY, c(30), n(1), account="b")).reason is RejectReason.UNKNOWN_ACCOUNT
    )


def test_contracts_per_market_count_open_orders_and_allow_reducing() -> None:
    desk = desk_with(RiskLimits(max_contracts_per_market=n(10)))
    assert desk.place(order(YES, BUY, c(30), n(6), account="a")).accepted  # rests
    rejected(desk, RejectReason.MARKET_CONTRACTS, price=c(30), count=n(5))  # 11 worst case
    assert desk.place(order(YES, BUY, c(50), n(4), account="a")).accepted  # fills: 4 + 6
    # selling 10 YES into the 0.40 bid closes the 4 and opens 6 NO: allowed
    assert desk.place(order(YES, SELL, c(40), n(10), account="a")).accepted
    rejected(desk, RejectReason.MARKET_CONTRACTS, side=NO, price=c(60), count=n(5))  # NO 11
    assert desk.place(order(NO, BUY, c(60), n(4), account="a")).accepted  # NO 10
    assert desk.ledger.accounts["a"].positions[T].net == -n(10)


def test_dollars_at_risk_per_game_and_in_total() -> None:
    desk = desk_with(RiskLimits(max_game_risk=usd(5), max_total_risk=usd(8)))
    # 10 YES at 0.50: $5 less what the fee could be ($0.175): the limit counts it
    rejected(desk, RejectReason.GAME_RISK, count=n(10))
    assert desk.place(order(YES, BUY, c(50), n(9), account="a")).accepted  # 4.5 + .1575
    rejected(desk, RejectReason.GAME_RISK, ticker=T2, count=n(1))  # the same game
    assert desk.place(order(YES, BUY, c(50), n(6), account="a", ticker=OTHER)).accepted
    rejected(desk, RejectReason.TOTAL_RISK, ticker=OTHER, count=n(1))  # 4.66 + 3.1 + 0.5+
    # a game the caller maps: T2 joins OTHER's game
    mapped = desk_with(RiskLimits(max_game_risk=usd(5)), games={T2: "G"})
    assert mapped.place(order(YES, BUY, c(50), n(9), account="a")).accepted
    assert mapped.place(order(YES, BUY, c(50), n(9), account="a", ticker=T2)).accepted


def test_daily_loss_stops_new_risk_until_the_next_day() -> None:
    desk = desk_with(RiskLimits(max_daily_loss=usd(1)))
    feed = Feed(desk)
    assert desk.place(order(YES, BUY, c(50), n(10), account="a")).accepted  # 10 at 0.50
    feed.snap(yes=[(c(30), n(100))], no=[(c(60), n(100))], t=T0 + 1)  # mid 0.35: -$1.50
    rejected(desk, RejectReason.DAILY_LOSS, price=c(40))
    assert desk.place(order(YES, SELL, c(30), n(5), account="a")).accepted  # reducing
    feed.trade(c(40), n(1), NO, t=T0 - T0 % DAY + DAY)  # a new UTC day
    assert desk.place(order(YES, BUY, c(30), n(1), account="a")).accepted


def test_cash_must_cover_what_an_order_could_cost() -> None:
    desk = desk_with(RiskLimits(), balance=usd(1))
    rejected(desk, RejectReason.BALANCE, count=n(2))  # $1.00 + up to $0.035 of fees
    assert desk.place(order(YES, BUY, c(40), n(2), account="a")).accepted  # $0.80 + 0.035
    # $0.835 is set aside for the resting order: $0.165 free
    rejected(desk, RejectReason.BALANCE, price=c(20), count=n(1))  # $0.20 + $0.0175
    assert desk.place(order(YES, BUY, c(10), n(1), account="a")).accepted


def test_kill_switches_stop_orders_and_cancel_what_is_open() -> None:
    desk = desk_with(RiskLimits())
    res = desk.place(order(YES, BUY, c(30), n(1), account="a"))
    assert res.order_id is not None
    desk.kill("a")
    assert desk.orders[res.order_id].cancel_reason is CancelReason.KILLED
    rejected(desk, RejectReason.ACCOUNT_KILLED)
    assert desk.place(order(YES, BUY, c(30), n(1))).accepted  # manual is not killed
    desk.kill()
    rejected(desk, RejectReason.KILLED, account="manual")
    desk.revive()
    rejected(desk, RejectReason.ACCOUNT_KILLED)
    desk.revive("a")
    assert desk.place(order(YES, BUY, c(30), n(1), account="a")).accepted
    kinds = [r.kind for r in desk.drain() if isinstance(r, RiskEvent)]
    assert kinds == [RiskEventKind.REVIVE]


def test_flatten_closes_every_position_at_the_book_even_when_killed() -> None:
    desk = desk_with(RiskLimits())
    desk.place(order(YES, BUY, c(50), n(10), account="a"))
    desk.place(order(NO, BUY, c(60), n(5), account="a", ticker=OTHER))
    resting = desk.place(order(YES, BUY, c(30), n(3), account="a", ticker=T2))
    desk.drain()
    desk.kill("a")
    ids = desk.flatten("a")
    assert len(ids) == 2
    got = fills(desk.drain())
    assert [(f.ticker, f.side, f.action, f.legs) for f in got] == [
        (T, YES, SELL, ((c(40), n(10)),)),  # into the YES bids
        (OTHER, NO, SELL, ((c(50), n(5)),)),  # into the NO bids
    ]
    assert all(p.net == 0 for p in desk.ledger.accounts["a"].positions.values())
    assert resting.order_id is not None
    assert desk.orders[resting.order_id].cancel_reason is CancelReason.KILLED  # kill came first
