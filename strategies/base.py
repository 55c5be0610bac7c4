"""What a strategy is: a small class with a frozen, validated config, fed pipeline events with a
read-only view of the world, returning order intents. Pure: no I/O, no clock but the events',
no positions of its own (the desk holds them), no randomness that is not seeded from its config.

The contract every strategy, the live runner and the backtest share:

- ``Strategy.name`` is its registered name; ``Strategy.Config`` a frozen dataclass whose
  defaults are documented on its fields and whose ``validate()`` raises ``ValueError`` naming
  the field; ``Strategy(config)`` builds one.
- ``kinds`` are the event types it reacts to; ``on_event(event, ctx)`` is called after the
  pipeline (books, windows, NBA state) and the desk have applied ``event``, and returns a list
  of ``Intent`` (orders to place, through the desk's risk gate, for the strategy's own account)
  and ``Cancel`` (its own open orders to cancel). It may return nothing.
- ``status`` says in a few words what it is doing or why it stays out ("stale odds: 45 s",
  "book gap on KX..."); a strategy that refuses to trade on stale inputs says so there.
- Every ``Intent`` states the probability (``probability_ppm``, of its side winning) or the
  signal behind it (``signal``, short text); both are stored with the order.

Units as everywhere: prices centicents of the intent's side, counts hundredths of a contract,
probabilities ppm, times epoch ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from models import Action, Event, MarketInfo, Side
from paper.orders import TimeInForce

if TYPE_CHECKING:
    from aggregator import MarketWindow
    from kalshi.orderbook import OrderBook
    from nba.state import NbaState
    from paper.orders import Order


@dataclass(frozen=True, slots=True)
class Intent:
    """An order a strategy wants placed for its account."""

    ticker: str
    side: Side
    action: Action
    count: int  # hundredths
    price: int  # centicents of ``side``: the limit
    tif: TimeInForce = TimeInForce.IOC
    probability_ppm: int | None = None  # the chance ``side`` wins, as the strategy sees it
    signal: str = ""  # why: short text, stored with the order
    expiry_ms: int | None = None  # GTC only, on the event clock


@dataclass(frozen=True, slots=True)
class Cancel:
    """One of the strategy's own open orders to cancel."""

    order_id: int
    reason: str = ""


Decision = Intent | Cancel


class Context(Protocol):
    """The world as of the event being handled, read-only, for one strategy's account."""

    @property
    def now_ms(self) -> int: ...

    @property
    def nba(self) -> NbaState | None:
        """Games, quotes, consensus and fair values (None when the NBA side is off)."""
        ...

    def book(self, ticker: str) -> OrderBook | None:
        """The pipeline's book (``stale`` after a gap until repaired); read, never change."""
        ...

    def window(self, ticker: str, window: str) -> MarketWindow | None:
        """The market's sliding-window figures: "1m", "5m", "15m", "1h", "24h"."""
        ...

    def market(self, ticker: str) -> MarketInfo | None:
        """Kalshi's details of the market (tick grid, fractional trading, strike)."""
        ...

    def taker_fee(self, ticker: str, count: int, price: int) -> int:
        """Kalshi's taker fee (micro-dollars) for ``count`` at ``price`` on this market."""
        ...

    def position(self, ticker: str) -> int:
        """The account's net position (hundredths: + YES, - NO)."""
        ...

    def open_orders(self) -> Sequence[Order]:
        """The account's open orders."""
        ...


class StrategyConfig(Protocol):
    def validate(self) -> None: ...


class Strategy:
    """Base of the five; subclasses set ``name``, ``Config``, ``kinds`` and ``on_event``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    kinds: ClassVar[tuple[type, ...]] = ()

    def __init__(self, config: StrategyConfig) -> None:
        config.validate()
        self.config = config
        self.status = "waiting for data"

    def on_event(self, event: Event, ctx: Context) -> list[Decision]:
        raise NotImplementedError


REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: the strategy under its ``name``."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"strategy name {cls.name!r} is empty or taken")
    REGISTRY[cls.name] = cls
    return cls
