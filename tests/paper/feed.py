"""Builders for the desk's tests: events with explicit times and seqs, readable units."""

from __future__ import annotations

from models import Action, BookDelta, BookSnapshot, LifecycleEvent, LifecycleKind, Side, Trade
from paper import Desk, OrderRequest, TimeInForce
from paper.records import Fill, Record

T = "KXNBAGAME-26JAN07LALSAS-SAS"
T0 = 1_767_225_600_000 + 3_600_000  # 2026-01-01T01:00Z


def c(cents: float) -> int:
    """Cents to centicents: c(45) == 4500, c(45.5) == 4550."""
    return round(cents * 100)


def n(contracts: float) -> int:
    """Contracts to hundredths."""
    return round(contracts * 100)


def usd(dollars: float) -> int:
    """Dollars to micro-dollars."""
    return round(dollars * 1_000_000)


class Feed:
    """Feeds one market's events to a desk at explicit times."""

    def __init__(self, desk: Desk, ticker: str = T, t: int = T0) -> None:
        self.desk = desk
        self.ticker = ticker
        self.t = t
        self.seq = 0
        self.trades = 0

    def at(self, t: int | None) -> int:
        if t is not None:
            self.t = t
        return self.t

    def snap(
        self,
        yes: list[tuple[int, int]] = (),  # type: ignore[assignment]
        no: list[tuple[int, int]] = (),  # type: ignore[assignment]
        t: int | None = None,
    ) -> None:
        self.seq += 1
        ts = self.at(t)
        self.desk.on_event(BookSnapshot(self.ticker, tuple(yes), tuple(no), 1, self.seq, ts, ts))

    def delta(self, side: Side, price: int, change: int, t: int | None = None) -> None:
        self.seq += 1
        ts = self.at(t)
        self.desk.on_event(BookDelta(self.ticker, side, price, change, 1, self.seq, ts, ts))

    def trade(self, yes_price: int, count: int, taker: Side, t: int | None = None) -> None:
        self.trades += 1
        ts = self.at(t)
        self.desk.on_event(Trade(f"tr-{self.trades}", self.ticker, yes_price, count, taker, ts, ts))

    def settle(self, result: str, value: int | None = None, t: int | None = None) -> None:
        ts = self.at(t)
        self.desk.on_event(
            LifecycleEvent(self.ticker, LifecycleKind.DETERMINED, ts, ts, result=result,
                           settlement_value=value)
        )  # fmt: skip


def order(
    side: Side,
    action: Action,
    price: int,
    count: int,
    tif: TimeInForce = TimeInForce.GTC,
    *,
    account: str = "manual",
    ticker: str = T,
    **kw: object,
) -> OrderRequest:
    return OrderRequest(account, ticker, side, action, price, count, tif, **kw)  # type: ignore[arg-type]


def fills(records: list[Record]) -> list[Fill]:
    return [r for r in records if isinstance(r, Fill)]
