"""Positions, cash and P&L; settlement of YES and NO holders and of a scalar result; marks."""

from __future__ import annotations

from models import Action, LifecycleEvent, LifecycleKind, Side
from paper import Desk, DeskConfig, TimeInForce
from paper.portfolio import Account
from paper.records import Settlement
from tests.paper.feed import T0, Feed, T, c, n, order, usd

BUY, SELL = Action.BUY, Action.SELL
YES, NO = Side.YES, Side.NO


def test_closing_realises_against_the_average_cost() -> None:
    a = Account.new("a", usd(100))
    a.fill(T, +1, [(c(40), n(10)), (c(50), n(10))], usd(0.30))  # 20 YES for $9.00
    pos = a.positions[T]
    assert (pos.net, pos.cost, pos.avg_cost()) == (n(20), usd(9), c(45))
    (trip,) = a.fill(T, -1, [(c(60), n(20))], usd(0.20))  # sold at 0.60: +$3.00 gross
    assert (a.realised, a.fees, pos.net, pos.cost) == (usd(3), usd(0.5), 0, 0)
    assert trip == usd(2.5)  # the round trip's P&L, both fees included
    assert a.cash == usd(100) - usd(9) + usd(12) - usd(0.5)


def test_a_fill_through_zero_closes_one_side_and_opens_the_other() -> None:
    a = Account.new("a", usd(100))
    a.fill(T, +1, [(c(40), n(10))], 0)  # 10 YES at 0.40
    (trip,) = a.fill(T, -1, [(c(30), n(25))], 0)  # sell 25 YES at 0.30: close 10, open 15 NO
    pos = a.positions[T]
    assert trip == -usd(1) and (pos.net, pos.cost) == (-n(15), usd(15 * 0.70))
    assert a.cash + a.cost_basis() == a.start + a.realised - a.fees


def settled_desk(result: str, value: int | None = None) -> tuple[Desk, list[Settlement]]:
    desk = Desk(DeskConfig(latency_ms=0, accounts={"y": usd(100), "n": usd(100)}))
    feed = Feed(desk)
    feed.snap(yes=[(c(40), n(100))], no=[(c(55), n(100))])
    desk.place(order(YES, BUY, c(45), n(10), TimeInForce.IOC, account="y"))  # 10 YES at 0.45
    desk.place(order(NO, BUY, c(60), n(20), TimeInForce.IOC, account="n"))  # 20 NO at 0.60
    desk.drain()
    feed.settle(result, value, t=T0 + 10)
    return desk, [r for r in desk.drain() if isinstance(r, Settlement)]


def test_settlement_pays_the_winning_side_a_dollar() -> None:
    desk, recs = settled_desk("yes")
    y, no = desk.ledger.accounts["y"], desk.ledger.accounts["n"]
    assert [(r.account, r.net, r.payout) for r in recs] == [
        ("y", n(10), usd(10)),
        ("n", -n(20), 0),
    ]
    assert y.positions[T].net == 0 and y.realised == usd(10 - 4.5)
    assert no.positions[T].net == 0 and no.realised == -usd(12)
    for acct in (y, no):
        assert acct.cash == acct.start + acct.realised - acct.fees
    assert y.fees == usd(0.1733)  # 0.07 * 10 * .45 * .55 = 0.17325, rounded up
    assert recs[0].pnl == usd(5.5) - usd(0.1733)


def test_settlement_pays_no_holders_when_no_wins() -> None:
    desk, recs = settled_desk("no")
    assert [(r.account, r.payout) for r in recs] == [("y", 0), ("n", usd(20))]
    assert desk.ledger.accounts["n"].realised == usd(20 - 12)


def test_a_scalar_result_pays_its_value_and_the_rest_to_no() -> None:
    desk, recs = settled_desk("", c(30))
    assert [(r.account, r.payout) for r in recs] == [("y", usd(3)), ("n", usd(14))]
    assert desk.ledger.accounts["y"].realised == usd(3 - 4.5)


def test_a_market_that_closes_without_a_result_stays_open_at_its_last_book() -> None:
    desk = Desk(DeskConfig(latency_ms=0))
    feed = Feed(desk)
    feed.snap(yes=[(c(40), n(100))], no=[(c(55), n(100))])
    desk.place(order(YES, BUY, c(45), n(10), TimeInForce.IOC))
    desk.on_event(LifecycleEvent(T, LifecycleKind.DEACTIVATED, T0 + 5, T0 + 5))
    desk.on_event(LifecycleEvent(T, LifecycleKind.DETERMINED, T0 + 6, T0 + 6, result=""))
    m = desk.metrics("manual")
    assert desk.ledger.accounts["manual"].positions[T].net == n(10)
    assert m.unrealised_mid == n(10) * (c(40) + c(45)) // 2 - usd(4.5)  # mid 0.425
    assert m.unrealised_exit == n(10) * c(40) - usd(4.5)  # sold into the 0.40 bid


def test_the_exit_mark_walks_the_bids_for_the_whole_holding() -> None:
    desk = Desk(DeskConfig(latency_ms=0))
    feed = Feed(desk)
    feed.snap(yes=[(c(40), n(5)), (c(38), n(3))], no=[(c(55), n(100))])
    desk.place(order(YES, BUY, c(45), n(10), TimeInForce.IOC))
    m = desk.metrics()
    # 5 at 0.40, 3 at 0.38, the last 2 unsellable now
    assert m.equity_exit - m.cash == usd(5 * 0.40 + 3 * 0.38)


def test_a_no_holding_is_marked_against_the_no_bids() -> None:
    desk = Desk(DeskConfig(latency_ms=0))
    feed = Feed(desk)
    feed.snap(yes=[(c(40), n(100))], no=[(c(55), n(100))])
    desk.place(order(NO, BUY, c(60), n(20), TimeInForce.IOC))  # from the YES bid at 0.40
    m = desk.metrics()
    assert m.equity_exit - m.cash == usd(20 * 0.55)
    assert m.equity_mid - m.cash == usd(20 * (1 - 0.425))


def test_a_market_settles_once() -> None:
    desk, first = settled_desk("yes")
    cash = {k: a.cash for k, a in desk.ledger.accounts.items()}
    desk.on_event(LifecycleEvent(T, LifecycleKind.SETTLED, T0 + 20, T0 + 20, result="yes"))
    assert desk.drain() == [] and {k: a.cash for k, a in desk.ledger.accounts.items()} == cash
    assert len(first) == 2
