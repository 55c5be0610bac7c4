"""Order requests, the desk's orders, and how an order meets a bids-only book.

Kalshi's books hold bids only: a YES bid at p and a NO bid at 1 - p are the two faces of one
price. So every order is, to the matcher, a pair of bid sides: the side it *takes* from when it
crosses (a YES buy at p takes NO bids at 1 - p and above) and the side it *rests* on when it
does not (a YES buy rests as a YES bid at p; a YES sell at p rests as a NO bid at 1 - p, which is
a YES ask at p). Buying NO at p and selling YES at 1 - p take and rest identically: the same
position (OpenAPI ``CreateOrder``: ``side``, ``action``, ``yes_price``/``no_price``).

Units: prices centicents of the order's own side, counts hundredths, money micro-dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models import PRICE_SCALE, Action, Side


class TimeInForce(StrEnum):
    """Kalshi's ``time_in_force`` values."""

    IOC = "immediate_or_cancel"
    FOK = "fill_or_kill"
    GTC = "good_till_canceled"


class OrderStatus(StrEnum):
    PENDING = "pending"  # decided, on its way to the book (latency)
    WAITING = "waiting"  # arrived at a market whose book is not usable yet
    RESTING = "resting"
    EXECUTED = "executed"  # filled in full
    CANCELED = "canceled"  # by request, by time in force, by expiry or by the market


OPEN_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.WAITING, OrderStatus.RESTING})


class RejectReason(StrEnum):
    """Why an order never reached the book. Validation first, then the risk gate."""

    UNKNOWN_ACCOUNT = "unknown_account"
    BAD_PRICE = "bad_price"  # outside 1..9999
    OFF_GRID = "off_grid"  # not on the market's price_ranges
    BAD_COUNT = "bad_count"  # not positive
    FRACTIONAL = "fractional"  # a fraction of a contract where the market trades whole ones
    BAD_EXPIRY = "bad_expiry"  # an expiry in the past, or on an IOC/FOK order
    BAD_PROBABILITY = "bad_probability"  # outside 0..1_000_000 ppm
    MARKET_FINISHED = "market_finished"  # determined or settled
    KILLED = "killed"  # the global kill switch
    ACCOUNT_KILLED = "account_killed"
    ORDER_RATE = "order_rate"  # orders per minute
    MARKET_CONTRACTS = "market_contracts"  # contracts per market
    GAME_RISK = "game_risk"  # dollars at risk in one game
    TOTAL_RISK = "total_risk"  # dollars at risk in all
    DAILY_LOSS = "daily_loss"
    BALANCE = "balance"  # not enough cash for what the order could cost


class CancelReason(StrEnum):
    REQUESTED = "requested"
    DECREASED = "decreased"  # decreased to nothing
    IOC = "ioc_remainder"
    FOK = "fok_unfilled"
    STALE = "book_stale"  # an IOC/FOK order that met a stale book
    EXPIRED = "expired"
    MARKET = "market_finished"
    KILLED = "killed"
    FLATTEN = "flatten"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a strategy (or the manual account) asks for. ``price`` is of ``side`` (a NO buy at
    4200 pays $0.42); ``count`` in hundredths; ``expiry_ms`` only with GTC, on the event clock.
    ``probability_ppm`` is the chance, as the order states it, that ``side`` wins (Brier);
    ``signal`` why it was placed and ``version`` the placing strategy's config version (both
    stored with the order; a strategy's fills carry the version too)."""

    account: str
    ticker: str
    side: Side
    action: Action
    price: int
    count: int
    tif: TimeInForce = TimeInForce.GTC
    expiry_ms: int | None = None
    probability_ppm: int | None = None
    client_order_id: str = ""
    signal: str = ""
    version: int | None = None


@dataclass(frozen=True, slots=True)
class PlaceResult:
    order_id: int | None
    reason: RejectReason | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.reason is None


def take_side(side: Side, action: Action) -> Side:
    """The bid side an order consumes when it crosses."""
    return side.other if action is Action.BUY else side


def yes_sign(side: Side, action: Action) -> int:
    """+1 if the order adds YES exposure (buy YES, sell NO), -1 if it adds NO exposure."""
    return 1 if (side is Side.YES) is (action is Action.BUY) else -1


@dataclass(slots=True)
class Order:
    """One order as the desk holds it. Mutable; only the desk changes it."""

    order_id: int
    account: str
    ticker: str
    side: Side
    action: Action
    price: int
    count: int
    tif: TimeInForce
    expiry_ms: int | None
    probability_ppm: int | None
    client_order_id: str
    decided_ms: int
    arrival_ms: int
    expected_price: int  # own-side price the book offered at decision time (slippage)
    reserve: int = 0  # micro-dollars the risk gate set aside for the order's opening part
    remaining: int = 0
    filled: int = 0
    fill_cost: int = 0  # micro-dollars paid (buys) or received (sells), own side
    fees: int = 0
    ahead: int = 0  # displayed contracts queued ahead of it at its resting level
    status: OrderStatus = OrderStatus.PENDING
    cancel_reason: CancelReason | None = None
    flatten: bool = False  # placed by flatten-all: past the risk gate
    signal: str = ""  # why (a strategy's signal), stored with the order
    version: int | None = None  # the strategy's config version it was placed under

    @property
    def take(self) -> Side:
        return take_side(self.side, self.action)

    @property
    def take_min(self) -> int:
        """The lowest bid on ``take`` that the order accepts."""
        return PRICE_SCALE - self.price if self.action is Action.BUY else self.price

    @property
    def rest(self) -> Side:
        """The bid side the order rests on."""
        return self.take.other

    @property
    def rest_price(self) -> int:
        """Its bid price on ``rest`` (a YES sell at p rests as a NO bid at 1 - p)."""
        return PRICE_SCALE - self.take_min

    @property
    def sign(self) -> int:
        return yes_sign(self.side, self.action)

    @property
    def open_price(self) -> int:
        """What a contract the order opens costs: a sell at p opens the other side at 1 - p."""
        return self.price if self.action is Action.BUY else PRICE_SCALE - self.price

    def own_price(self, bid: int) -> int:
        """The order's own-side price for a take at bid ``bid`` on ``take``."""
        return bid if self.action is Action.SELL else PRICE_SCALE - bid

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def current_reserve(self) -> int:
        """The part of ``reserve`` still held: released in proportion as the order fills."""
        return self.reserve * self.remaining // self.count if self.is_open else 0
