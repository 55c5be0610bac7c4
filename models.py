"""Domain types shared by every part of Flowboard, and the exact fixed-point helpers.

Units (DESIGN.md, "Exact numbers"):
- prices are integer **centicents** ($0.0001): 1..9999 for a tradable price;
- quantities are integer **hundredths of a contract** (fractional contracts exist);
- money is integer **micro-dollars**: price (centicents) x quantity (hundredths) = micro-dollars;
- times are integer epoch **milliseconds** UTC. Every event has ``ts_ms`` (exchange time) and
  ``recv_ms`` (when Flowboard received it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

PRICE_SCALE = 10_000  # centicents per dollar
COUNT_SCALE = 100  # hundredths per contract
MICROS_PER_DOLLAR = 1_000_000
ONE_DOLLAR_CC = PRICE_SCALE


class FixedPointError(ValueError):
    """A decimal string that does not convert exactly to the integer unit."""


def _parse_decimal(text: str, places: int, what: str) -> int:
    """Parse a plain decimal string into an integer scaled by 10**places, exactly.

    Accepts an optional leading '-', digits, and at most one '.'; extra trailing zeros beyond
    ``places`` are allowed, any other digit there is rejected (the value would not be exact).
    """
    if not isinstance(text, str):
        raise FixedPointError(f"{what}: expected a decimal string, got {type(text).__name__}")
    s = text.strip()
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    whole, _, frac = s.partition(".")
    if not whole and not frac:
        raise FixedPointError(f"{what}: not a number: {text!r}")
    for part in (whole, frac):
        if part and not (part.isascii() and part.isdigit()):
            raise FixedPointError(f"{what}: not a plain decimal: {text!r}")
    if len(frac) > places:
        if frac[places:].strip("0"):
            raise FixedPointError(f"{what}: more than {places} decimals: {text!r}")
        frac = frac[:places]
    value: int = int(whole or "0") * 10**places + int(frac.ljust(places, "0") or "0")
    return -value if neg else value


def parse_price(text: str) -> int:
    """A dollar price string ('0.5600', '0.36') to centicents; must be within 0..$1."""
    value = _parse_decimal(text, 4, "price")
    if not 0 <= value <= PRICE_SCALE:
        raise FixedPointError(f"price out of range 0..1: {text!r}")
    return value


def parse_dollars(text: str) -> int:
    """Any dollar amount string to micro-dollars (6 decimals), sign allowed."""
    return _parse_decimal(text, 6, "dollars")


def parse_count(text: str) -> int:
    """A fixed-point contract count ('10.00', '0.24', '-3.00') to hundredths."""
    return _parse_decimal(text, 2, "count")


def price_from_cents(cents: int) -> int:
    """Legacy integer cents (1..99) to centicents."""
    if isinstance(cents, bool) or not isinstance(cents, int) or not 0 <= cents <= 100:
        raise FixedPointError(f"legacy cents out of range: {cents!r}")
    return cents * 100


def count_from_int(count: int) -> int:
    """Legacy whole-contract integer count to hundredths."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise FixedPointError(f"legacy count is not an integer: {count!r}")
    return count * COUNT_SCALE


def format_price(cc: int) -> str:
    """Centicents to a 4-decimal dollar string ('0.5600'); for display and logs."""
    sign = "-" if cc < 0 else ""
    cc = abs(cc)
    return f"{sign}{cc // PRICE_SCALE}.{cc % PRICE_SCALE:04d}"


def format_count(h: int) -> str:
    sign = "-" if h < 0 else ""
    h = abs(h)
    return f"{sign}{h // COUNT_SCALE}.{h % COUNT_SCALE:02d}"


def format_micros(m: int) -> str:
    """Micro-dollars to a dollar string with cents rounded half away from zero ('$12.35')."""
    sign = "-" if m < 0 else ""
    cents = (abs(m) + 5_000) // 10_000
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


class Side(StrEnum):
    YES = "yes"
    NO = "no"

    @property
    def other(self) -> Side:
        return Side.NO if self is Side.YES else Side.YES


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class Trade:
    """One public Kalshi trade. ``taker_side`` is the taker's outcome side (taker_outcome_side)."""

    trade_id: str
    ticker: str
    yes_price: int  # centicents
    count: int  # hundredths of a contract
    taker_side: Side
    ts_ms: int
    recv_ms: int

    @property
    def no_price(self) -> int:
        return PRICE_SCALE - self.yes_price

    @property
    def taker_price(self) -> int:
        """What the taker paid per contract for the side they took."""
        return self.yes_price if self.taker_side is Side.YES else PRICE_SCALE - self.yes_price

    @property
    def notional(self) -> int:
        """Money the taker paid, micro-dollars (taker price x count)."""
        return self.taker_price * self.count


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Full L2 book. Levels are (price centicents, quantity hundredths), bids only per side:
    ``yes`` are YES bids, ``no`` are NO bids (a NO bid at p is a YES ask at 1-p)."""

    ticker: str
    yes: tuple[tuple[int, int], ...]
    no: tuple[tuple[int, int], ...]
    sid: int
    seq: int
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class BookDelta:
    ticker: str
    side: Side
    price: int  # centicents
    delta: int  # hundredths, signed
    sid: int
    seq: int
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class BookUnfollowed:
    """A market's book is no longer followed: its levels stop being kept."""

    ticker: str
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class TickerUpdate:
    """The `ticker` channel: best prices and volume for one market."""

    ticker: str
    price: int | None  # last traded YES price
    yes_bid: int | None
    yes_ask: int | None
    volume: int | None  # hundredths
    open_interest: int | None  # hundredths
    ts_ms: int
    recv_ms: int


class LifecycleKind(StrEnum):
    CREATED = "created"
    ACTIVATED = "activated"
    DEACTIVATED = "deactivated"
    CLOSE_DATE_UPDATED = "close_date_updated"
    DETERMINED = "determined"
    SETTLED = "settled"
    PRICE_LEVEL_STRUCTURE_UPDATED = "price_level_structure_updated"
    METADATA_UPDATED = "metadata_updated"


class MarketStatus(StrEnum):
    """A market's ``status`` as Kalshi's REST API states it (OpenAPI ``Market.status``); the
    lifecycle channel's ``settled`` event leaves a market ``finalized``."""

    INITIALIZED = "initialized"
    INACTIVE = "inactive"
    ACTIVE = "active"
    CLOSED = "closed"
    DETERMINED = "determined"
    DISPUTED = "disputed"
    AMENDED = "amended"
    FINALIZED = "finalized"


STATUS_AFTER: dict[LifecycleKind, MarketStatus] = {
    LifecycleKind.ACTIVATED: MarketStatus.ACTIVE,
    LifecycleKind.DEACTIVATED: MarketStatus.INACTIVE,
    LifecycleKind.DETERMINED: MarketStatus.DETERMINED,
    LifecycleKind.SETTLED: MarketStatus.FINALIZED,
}
"""The market status a lifecycle event leaves behind (kinds that change no status are absent)."""

FINISHED_STATUSES = frozenset(
    {MarketStatus.DETERMINED, MarketStatus.DISPUTED, MarketStatus.AMENDED, MarketStatus.FINALIZED}
)
"""Statuses after trading ended with an outcome; REST may lag behind them."""


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    ticker: str
    kind: LifecycleKind
    ts_ms: int
    recv_ms: int
    open_ts_ms: int | None = None
    close_ts_ms: int | None = None
    result: str | None = None  # "yes" / "no" / "" once determined
    settlement_value: int | None = None  # centicents paid per YES contract
    price_level_structure: str | None = None  # on created and price_level_structure_updated


@dataclass(frozen=True, slots=True)
class EventCreated:
    """An event's creation on the lifecycle channel (``event_lifecycle``)."""

    event_ticker: str
    series_ticker: str
    title: str
    subtitle: str
    ts_ms: int
    recv_ms: int


class GapKind(StrEnum):
    TRADE = "trade"
    BOOK = "book"
    RECONNECT = "reconnect"


@dataclass(frozen=True, slots=True)
class FeedGap:
    """A hole in the feed, noticed at ``ts_ms``: a skipped seq or a lost connection."""

    kind: GapKind
    channel: str
    sid: int | None
    expected_seq: int | None
    got_seq: int | None
    ticker: str | None
    from_ms: int  # start of the window that may be missing
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class GapRecovered:
    """A gap repaired: trades backfilled over REST, or a book re-snapshotted."""

    kind: GapKind
    from_ms: int
    to_ms: int
    trades_recovered: int
    ticker: str | None
    ts_ms: int
    recv_ms: int


class FeedState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FeedStatus:
    state: FeedState
    detail: str
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class PriceRange:
    """One band of a market's price grid (Kalshi's ``price_ranges``): orders may be placed at
    ``start``, ``start + step``, ... up to ``end``; all in centicents."""

    start: int
    end: int
    step: int


CENT_GRID = (PriceRange(0, PRICE_SCALE, 100),)  # Kalshi's "linear_cent" structure
STRUCTURE_GRIDS: dict[str, tuple[PriceRange, ...]] = {
    "linear_cent": CENT_GRID,
    "deci_cent": (PriceRange(0, PRICE_SCALE, 10),),
    # a tenth of a cent in the tails, whole cents between
    "tapered_deci_cent": (
        PriceRange(0, 1_000, 10),
        PriceRange(1_000, 9_000, 100),
        PriceRange(9_000, PRICE_SCALE, 10),
    ),
}
"""The grid each named price level structure stands for, for a structure change announced on the
lifecycle channel (which names the structure only) until REST describes the market's ranges."""


@dataclass(frozen=True, slots=True)
class MarketInfo:
    ticker: str
    event_ticker: str
    series_ticker: str
    title: str
    subtitle: str
    status: str
    open_ts_ms: int | None
    close_ts_ms: int | None
    floor_strike: str | None = None  # kept as Kalshi's decimal text
    result: str | None = None
    yes_sub_title: str = ""
    no_sub_title: str = ""
    # the tick structure: "linear_cent", "deci_cent", "tapered_deci_cent", ...; "" if unknown
    price_level_structure: str = ""
    price_ranges: tuple[PriceRange, ...] = ()
    fractional_trading_enabled: bool = False


@dataclass(frozen=True, slots=True)
class MarketsFetched:
    """Market details as Kalshi's REST markets endpoint answered a lookup: in a recording, so a
    replay names and describes markets as the live run did, at the same point of the stream."""

    markets: tuple[MarketInfo, ...]
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    ticker: str
    title: str
    category: str
    fee_type: str  # "quadratic", "quadratic_with_maker_fees", "flat"
    fee_multiplier_ppm: int  # fee multiplier in parts per million (1.0 -> 1_000_000)


@dataclass(frozen=True, slots=True)
class SeriesFetched:
    """Series details (fee structure) as Kalshi's REST series endpoint answered a lookup."""

    series: tuple[SeriesInfo, ...]
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class EventFeeUpdate:
    """An event-level fee override set (or, with both fields None, cleared) on the lifecycle
    channel; it layers over the series' fee structure for the event's markets."""

    event_ticker: str
    fee_type: str | None
    fee_multiplier_ppm: int | None
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class EventInfo:
    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str
    markets: tuple[MarketInfo, ...] = field(default=())


class GameStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    HALFTIME = "halftime"
    FINAL = "final"


@dataclass(frozen=True, slots=True)
class GameState:
    """One NBA game as balldontlie reports it, normalised."""

    game_id: int
    date: str  # YYYY-MM-DD (US date of the game)
    home: str  # team abbreviation, e.g. "SAS"
    away: str
    home_score: int
    away_score: int
    status: GameStatus
    period: int  # 0 before tip-off, 1..4, 5+ overtime
    seconds_left: int  # in the current period
    start_ms: int | None
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class OddsQuote:
    """One sportsbook's line for one game. American odds as integers (-150, +130)."""

    game_id: int
    vendor: str
    market: str  # "moneyline" | "spread" | "total"
    home_odds: int | None
    away_odds: int | None
    line_tenths: int | None  # spread for home / total points, in tenths of a point
    over_odds: int | None
    under_odds: int | None
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class MatchedMarket:
    """One Kalshi NBA market discovery matched to a game, with the status and result REST gave
    (``nba.match.NbaMarket``'s fields plus ``game_id``; YES as there)."""

    ticker: str
    event_ticker: str
    game_id: int
    kind: str  # "game" | "spread" | "total"
    date: str
    away: str
    home: str
    yes_team: str | None
    strike_tenths: int | None
    status: str
    result: str | None


@dataclass(frozen=True, slots=True)
class NbaMarketsMatched:
    """What a discovery of Kalshi's NBA events matched: every matched game's complete list of
    markets (games absent from it have none)."""

    markets: tuple[MatchedMarket, ...]
    ts_ms: int
    recv_ms: int


Event = (
    Trade
    | BookSnapshot
    | BookDelta
    | BookUnfollowed
    | TickerUpdate
    | LifecycleEvent
    | FeedGap
    | GapRecovered
    | FeedStatus
    | MarketsFetched
    | SeriesFetched
    | EventFeeUpdate
    | EventCreated
    | GameState
    | OddsQuote
    | NbaMarketsMatched
)
