"""What the desk emits: one record for every order change, fill, position change, settlement,
risk event and equity point, and its requests to the async edge (follow a market's book).

The desk appends records to its outbox in the order things happened; the edge drains them and
persists or forwards them. ``to_dict`` gives each one as plain JSON-ready data, with its type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from models import Action, Side


class OrderEventKind(StrEnum):
    ACCEPTED = "accepted"  # passed the risk gate; on its way (latency)
    WAITING = "waiting"  # arrived; waits for the market's first (or repaired) book
    RESTING = "resting"
    DECREASED = "decreased"
    CANCELED = "canceled"
    EXECUTED = "executed"


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    ts_ms: int
    kind: OrderEventKind
    order_id: int
    account: str
    ticker: str
    side: Side
    action: Action
    price: int
    count: int
    remaining: int
    filled: int
    reason: str = ""
    signal: str = ""  # the order's, on every update (the store keeps the first)
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one order at one event: ``legs`` are (own-side price, hundredths);
    ``cost`` is what was paid (buys) or received (sells), micro-dollars, before ``fee``."""

    fill_id: int
    order_id: int
    ts_ms: int
    account: str
    ticker: str
    side: Side
    action: Action
    count: int
    cost: int
    fee: int
    maker: bool
    legs: tuple[tuple[int, int], ...]
    expected_price: int  # own-side price the book offered when the order was decided
    version: int | None = None  # the order's strategy config version

    @property
    def avg_price(self) -> float:
        """Realised average price, centicents (display)."""
        return self.cost / self.count

    @property
    def slippage(self) -> int:
        """Micro-dollars worse than the decision-time price (negative: better)."""
        expected = self.expected_price * self.count
        return self.cost - expected if self.action is Action.BUY else expected - self.cost


@dataclass(frozen=True, slots=True)
class PositionChange:
    ts_ms: int
    account: str
    ticker: str
    net: int  # hundredths, + YES / - NO
    cost: int
    realised: int  # this market's realised P&L, gross
    cash: int  # the account's cash after the change


@dataclass(frozen=True, slots=True)
class Settlement:
    ts_ms: int
    account: str
    ticker: str
    yes_value: int  # centicents a YES contract paid
    net: int  # the position settled
    payout: int
    pnl: int  # the round trip's net P&L, fees included


class RiskEventKind(StrEnum):
    REJECTED = "rejected"
    KILL = "kill"
    REVIVE = "revive"
    FLATTEN = "flatten"


@dataclass(frozen=True, slots=True)
class RiskEvent:
    ts_ms: int
    kind: RiskEventKind
    account: str  # "" for the desk as a whole
    ticker: str = ""
    reason: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class EquityPoint:
    ts_ms: int
    account: str
    cash: int
    equity_mid: int  # cash + positions at the mid
    equity_exit: int  # cash + positions at what selling them now would fetch
    at_risk: int  # cost of the positions held


@dataclass(frozen=True, slots=True)
class FollowRequest:
    """Asks the edge to follow (or re-snapshot) a market's book."""

    ts_ms: int
    ticker: str
    reason: str


Record = OrderUpdate | Fill | PositionChange | Settlement | RiskEvent | EquityPoint | FollowRequest


def to_dict(record: Record) -> dict[str, Any]:
    return {"type": type(record).__name__, **asdict(record)}
