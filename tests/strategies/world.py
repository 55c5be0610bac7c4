"""A small world for strategy unit tests: real BookStore and NbaState fed events with explicit
times, a fake account (positions, open orders) and Kalshi's default fees. No sockets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aggregator import Aggregator, MarketWindow
from kalshi.book_store import BookStore
from kalshi.orderbook import OrderBook
from models import (
    BookSnapshot,
    Event,
    GameState,
    GameStatus,
    MarketInfo,
    MatchedMarket,
    NbaMarketsMatched,
    OddsQuote,
    Side,
    Trade,
)
from nba.odds import american_from_probability
from nba.state import NbaState
from paper import Order
from paper.fees import DEFAULT_SCHEDULE, fee_micros
from strategies.base import Decision, Intent, Strategy

T0 = 1_781_391_600_000
GID = 42
DATE = "2026-06-13"
EVENT = "26JUN13LALSAS"
HOME = f"KXNBAGAME-{EVENT}-SAS"  # YES: the home team (SAS) wins
AWAY = f"KXNBAGAME-{EVENT}-LAL"
SPREAD5 = f"KXNBASPREAD-{EVENT}-SAS5"  # SAS wins by more than 5.5
SPREAD8 = f"KXNBASPREAD-{EVENT}-SAS8"  # SAS wins by more than 8.5
TOTAL210 = f"KXNBATOTAL-{EVENT}-210"
TOTAL220 = f"KXNBATOTAL-{EVENT}-220"
BOOKS = ("draftkings", "fanduel", "caesars", "betmgm")


def matched(ticker: str, kind: str, yes_team: str | None, strike: int | None) -> MatchedMarket:
    return MatchedMarket(ticker, f"{ticker.split('-')[0]}-{EVENT}", GID, kind, DATE, "LAL",
                         "SAS", yes_team, strike, "active", None)  # fmt: skip


MARKETS = (
    matched(HOME, "game", "SAS", None),
    matched(AWAY, "game", "LAL", None),
    matched(SPREAD5, "spread", "SAS", 55),
    matched(SPREAD8, "spread", "SAS", 85),
    matched(TOTAL210, "total", None, 2105),
    matched(TOTAL220, "total", None, 2205),
)


def game(ts: int, home: int = 0, away: int = 0, *, status: GameStatus = GameStatus.LIVE,
         period: int = 1, left: int = 720) -> GameState:  # fmt: skip
    return GameState(GID, DATE, "SAS", "LAL", home, away, status, period, left, None, ts, ts)


def moneyline(vendor: str, home_ppm: int, ts: int, vig: float = 0.045) -> OddsQuote:
    """A book's moneyline whose no-vig home probability is about ``home_ppm``."""
    from fractions import Fraction

    p = Fraction(home_ppm, 1_000_000)
    k = Fraction(1) + Fraction(vig)
    home = american_from_probability(min(p * k, Fraction(99, 100)))
    away = american_from_probability(min((1 - p) * k, Fraction(99, 100)))
    return OddsQuote(GID, vendor, "moneyline", home, away, None, None, None, ts, ts)


def spread_quote(vendor: str, line: int, ts: int) -> OddsQuote:
    return OddsQuote(GID, vendor, "spread", -110, -110, line, None, None, ts, ts)


def snapshot(ticker: str, yes_bid: int, yes_ask: int, ts: int, size: int = 10_000,
             seq: int = 1) -> BookSnapshot:  # fmt: skip
    """A book with one level each side: YES bid ``yes_bid``, NO bid 1 - ``yes_ask``."""
    return BookSnapshot(ticker, ((yes_bid, size),), ((10_000 - yes_ask, size),), 1, seq, ts, ts)


def trade(ticker: str, yes_price: int, count: int, taker: Side, ts: int, n: int = 0) -> Trade:
    return Trade(f"t{ts}-{n}", ticker, yes_price, count, taker, ts, ts)


@dataclass
class World:
    """The Context a strategy reads, over real books and NBA state; positions set by hand."""

    now: int = T0
    books: BookStore = field(default_factory=BookStore)
    nba_state: NbaState | None = field(default_factory=NbaState)
    aggregator: Aggregator = field(default_factory=Aggregator)
    positions: dict[str, int] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    infos: dict[str, MarketInfo] = field(default_factory=dict)

    def feed(self, event: Event) -> None:
        self.now = max(self.now, event.recv_ms)
        self.books.apply(event)
        if self.nba_state is not None:
            self.nba_state.on_event(event)
        if isinstance(event, Trade):
            self.aggregator.add_trade(event)

    def matched(self) -> None:
        self.feed(NbaMarketsMatched(MARKETS, self.now, self.now))

    # ---- Context -------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return self.now

    @property
    def nba(self) -> NbaState | None:
        return self.nba_state

    def book(self, ticker: str) -> OrderBook | None:
        return self.books.book(ticker)

    def window(self, ticker: str, window: str) -> MarketWindow | None:
        return self.aggregator.market(ticker, window)

    def market(self, ticker: str) -> MarketInfo | None:
        return self.infos.get(ticker)

    def taker_fee(self, ticker: str, count: int, price: int) -> int:
        return fee_micros(((price, count),), DEFAULT_SCHEDULE, maker=False)

    def position(self, ticker: str) -> int:
        return self.positions.get(ticker, 0)

    def open_orders(self) -> Sequence[Order]:
        return self.orders


def run(strategy: Strategy, world: World, event: Event) -> list[Decision]:
    """Feed the world, then the strategy (the pipeline's order)."""
    world.feed(event)
    return strategy.on_event(event, world)


def intents(decisions: list[Decision]) -> list[Intent]:
    out = [d for d in decisions if isinstance(d, Intent)]
    assert len(out) == len(decisions)
    return out
