"""The simulated catalogue: series, events and markets that look like Kalshi's (pure, seeded)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from models import SeriesInfo
from sim.nba_games import TEAMS

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
NBA_TEAMS = tuple(team[1] for team in TEAMS)
DAY_MS = 86_400_000
WINDOW_DAYS = 7  # event dates fall within this many days of the catalogue's first day
MAX_DRAWS = 64  # draws of an event before the catalogue's dates move a day forward


class Market:
    """One market's mutable state; prices in centicents, sizes in hundredths."""

    __slots__ = (
        "book_no",
        "book_yes",
        "close_ms",
        "created_ms",
        "determined_ms",
        "event_ticker",
        "floor_strike",
        "index",
        "last_price",
        "market_id",
        "no_sub_title",
        "open_interest",
        "open_ms",
        "result",
        "series_ticker",
        "settled_ms",
        "settlement_value",
        "status",
        "strike_type",
        "subtitle",
        "tick",
        "ticker",
        "title",
        "volume",
        "yes_sub_title",
    )

    def __init__(
        self,
        *,
        index: int,
        ticker: str,
        event_ticker: str,
        series_ticker: str,
        title: str,
        yes_sub_title: str,
        no_sub_title: str,
        floor_strike: str | None,
        strike_type: str,
        tick: int,
        market_id: str,
        open_ms: int,
        close_ms: int,
    ) -> None:
        self.index = index
        self.ticker = ticker
        self.event_ticker = event_ticker
        self.series_ticker = series_ticker
        self.title = title
        self.subtitle = yes_sub_title
        self.yes_sub_title = yes_sub_title
        self.no_sub_title = no_sub_title
        self.floor_strike = floor_strike
        self.strike_type = strike_type
        self.tick = tick  # 100 = whole cents, 10 = deci-cent
        self.market_id = market_id
        self.created_ms = open_ms
        self.open_ms = open_ms
        self.close_ms = close_ms
        self.status = "active"
        self.result = ""
        self.settlement_value: int | None = None
        self.determined_ms: int | None = None
        self.settled_ms: int | None = None
        self.book_yes: dict[int, int] = {}
        self.book_no: dict[int, int] = {}
        self.last_price = 0
        self.volume = 0
        self.open_interest = 0


@dataclass(frozen=True, slots=True)
class EventDef:
    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str
    category: str
    mutually_exclusive: bool


@dataclass(frozen=True, slots=True)
class MarketDef:
    ticker: str
    title: str
    yes_sub_title: str
    no_sub_title: str
    floor_strike: str | None
    strike_type: str
    tick: int
    mid: int  # starting fair YES price, centicents


@dataclass(frozen=True, slots=True)
class SeriesDef:
    info: SeriesInfo
    frequency: str


SERIES: tuple[SeriesDef, ...] = tuple(
    SeriesDef(SeriesInfo(t, title, cat, fee, mult), freq)
    for t, title, cat, fee, mult, freq in (
        ("KXNBAGAME", "Professional Basketball Game", "Sports", "quadratic", 1_000_000, "custom"),
        ("KXNBASPREAD", "Pro Basketball Spread", "Sports", "quadratic", 1_000_000, "custom"),
        ("KXNBATOTAL", "Pro Basketball Total Points", "Sports", "quadratic", 1_000_000, "custom"),
        (
            "KXHIGHNY",
            "Highest temperature in NYC",
            "Climate and Weather",
            "quadratic",
            1_000_000,
            "daily",
        ),
        ("KXBTC", "Bitcoin price range", "Crypto", "quadratic_with_maker_fees", 500_000, "hourly"),
        (
            "KXCPI",
            "CPI month over month",
            "Economics",
            "quadratic_with_maker_fees",
            1_000_000,
            "monthly",
        ),
        ("KXFED", "Fed funds rate", "Economics", "quadratic_with_maker_fees", 1_000_000, "custom"),
        (
            "KXAPPROVAL",
            "Presidential approval rating",
            "Politics",
            "quadratic",
            1_000_000,
            "weekly",
        ),
        ("KXSENATE", "Senate control", "Politics", "quadratic", 1_000_000, "custom"),
    )
)
SERIES_BY_TICKER = {s.info.ticker: s for s in SERIES}


def date_code(ms: int) -> str:
    """Kalshi's ticker date: 26NOV25 for 2026-11-25 (UTC)."""
    t = time.gmtime(ms // 1000)
    return f"{t.tm_year % 100:02d}{MONTHS[t.tm_mon - 1]}{t.tm_mday:02d}"


def _clamp_mid(cc: int, tick: int) -> int:
    cc = max(tick * 3, min(10_000 - tick * 3, cc))
    return cc - cc % tick


Builder = Callable[[random.Random, int, int], tuple[EventDef, list[MarketDef]]]


def _nba_teams(rng: random.Random) -> tuple[str, str]:
    away, home = rng.sample(NBA_TEAMS, 2)
    return away, home


def _nba_game(rng: random.Random, day_ms: int, n: int) -> tuple[EventDef, list[MarketDef]]:
    away, home = _nba_teams(rng)
    ev = f"KXNBAGAME-{date_code(day_ms)}{away}{home}"
    p_home = rng.randint(15, 85) * 100
    title = f"{away} at {home} Winner?"
    mk = [
        MarketDef(
            f"{ev}-{team}", title, team, team, None, "", 100, p if team == home else 10_000 - p
        )
        for team, p in ((away, p_home), (home, p_home))
    ]
    return EventDef(ev, "KXNBAGAME", title, f"{away} at {home}", "Sports", True), mk


def _nba_spread(rng: random.Random, day_ms: int, n: int) -> tuple[EventDef, list[MarketDef]]:
    away, home = _nba_teams(rng)
    ev = f"KXNBASPREAD-{date_code(day_ms)}{away}{home}"
    title = f"{away} at {home}: Spread"
    base = rng.randint(1, 9)
    mk = []
    for i in range(3):
        pts = base + 3 * i
        mk.append(
            MarketDef(
                f"{ev}-{home}{pts}",
                f"{home} wins by over {pts - 0.5} points?",
                f"{home} wins by over {pts - 0.5} Points",
                f"{home} wins by over {pts - 0.5} Points",
                f"{pts - 0.5}",
                "greater",
                100,
                _clamp_mid(6_000 - 1_500 * i + rng.randint(-8, 8) * 100, 100),
            )
        )
    return EventDef(ev, "KXNBASPREAD", title, f"{away} at {home}", "Sports", False), mk


def _nba_total(rng: random.Random, day_ms: int, n: int) -> tuple[EventDef, list[MarketDef]]:
    away, home = _nba_teams(rng)
    ev = f"KXNBATOTAL-{date_code(day_ms)}{away}{home}"
    title = f"{away} at {home}: Total Points"
    base = rng.randint(205, 225)
    mk = []
    for i in range(3):
        pts = base + 5 * i
        mk.append(
            MarketDef(
                f"{ev}-{pts}",
                f"Over {pts - 0.5} points scored?",
                f"Over {pts - 0.5} points scored",
                f"Over {pts - 0.5} points scored",
                f"{pts - 0.5}",
                "greater",
                100,
                _clamp_mid(7_000 - 2_000 * i + rng.randint(-5, 5) * 100, 100),
            )
        )
    return EventDef(ev, "KXNBATOTAL", title, f"{away} at {home}", "Sports", False), mk


def _high_ny(rng: random.Random, day_ms: int, n: int) -> tuple[EventDef, list[MarketDef]]:
    ev = f"KXHIGHNY-{date_code(day_ms)}"
    lo = rng.randint(30, 80)
    mk = []
    for i in range(6):
        a = lo + 2 * i
        mk.append(
            MarketDef(
                f"{ev}-B{a}.5",
                "Highest temperature in NYC today?",
                f"{a}° to {a + 1}°",
                f"{a}° to {a + 1}°",
                f"{a}",
                "between",
                100,
                _clamp_mid(rng.randint(3, 40) * 100, 100),
            )
        )
    return EventDef(
        ev, "KXHIGHNY", "Highest temperature in NYC today?", "", "Climate and Weather", True
    ), mk


def _btc(rng: random.Random, day_ms: int, n: int) -> tuple[EventDef, list[MarketDef]]:
    hour = 10 + n % 12
    ev = f"KXBTC-{date_code(day_ms)}{hour:02d}"
    centre = rng.randint(80, 120) * 1000
    mk = []
    for i in range(8):
        low = centre + (i - 4) * 500
        mk.append(
            MarketDef(
                f"{ev}-B{low + 250}",
                f"Bitcoin price at {hour}:00 EDT?",
                f"${low:,} to {low + 499.99:,.2f}",
                f"${low:,} to {low + 499.99:,.2f}",
                f"{low}",
                "between",
                10,
                _clamp_mid(rng.randint(20, 2_500) * 10, 10),
            )
        )
    return EventDef(ev, "KXBTC", f"Bitcoin price range at {hour}:00 EDT", "", "Crypto", True), mk


def _cpi(rng: random.Random, day_ms: int, n: int) -> tuple[EventDef, list[MarketDef]]:
    t = time.gmtime(day_ms // 1000 + 30 * 86_400 * (n % 6))
    ev = f"KXCPI-{t.tm_year % 100:02d}{MONTHS[t.tm_mon - 1]}"
    mk = [
        MarketDef(
            f"{ev}-T{v / 10:.1f}",
            "CPI month over month?",
            f"Above {v / 10:.1f}%",
            f"Above {v / 10:.1f}%",
            f"{v / 10:.1f}",
            "greater",
            100,
            _clamp_mid(9_000 - 1_800 * i, 100),
        )
        for i, v in enumerate(range(0, 5))
    ]
    return EventDef(ev, "KXCPI", "CPI month over month", "", "Economics", False), mk


def _fed(rng: random.Random, day_ms: int, n: int) -> tuple[EventDef, list[MarketDef]]:
    t = time.gmtime(day_ms // 1000 + 45 * 86_400 * (n % 8))
    ev = f"KXFED-{t.tm_year % 100:02d}{MONTHS[t.tm_mon - 1]}"
    mk = [
        MarketDef(
            f"{ev}-T{r / 100:.2f}",
            "Fed funds upper bound?",
            f"Above {r / 100:.2f}%",
            f"Above {r / 100:.2f}%",
            f"{r / 100:.2f}",
            "greater",
            100,
            _clamp_mid(9_500 - 2_200 * i, 100),
        )
        for i, r in enumerate(range(350, 475, 25))
    ]
    return EventDef(ev, "KXFED", "Fed funds rate after the meeting", "", "Economics", False), mk


def _approval(rng: random.Random, day_ms: int, n: int) -> tuple[EventDef, list[MarketDef]]:
    ev = f"KXAPPROVAL-{date_code(day_ms + 7 * DAY_MS * (n % 10))}"
    mk = [
        MarketDef(
            f"{ev}-T{v}",
            "Approval rating above?",
            f"Above {v}%",
            f"Above {v}%",
            f"{v}",
            "greater",
            100,
            _clamp_mid(9_000 - 2_000 * i, 100),
        )
        for i, v in enumerate(range(40, 48, 2))
    ]
    return EventDef(ev, "KXAPPROVAL", "Presidential approval rating", "", "Politics", False), mk


def _senate(rng: random.Random, day_ms: int, n: int) -> tuple[EventDef, list[MarketDef]]:
    year = 26 + 2 * (n % 4)
    ev = f"KXSENATE-{year}"
    p = rng.randint(30, 70) * 100
    mk = [
        MarketDef(
            f"{ev}-{party}", "Which party will control the Senate?", party, party, None, "", 100, q
        )
        for party, q in (("R", p), ("D", 10_000 - p))
    ]
    return EventDef(ev, "KXSENATE", f"Senate control after 20{year}", "", "Politics", True), mk


BUILDERS: tuple[tuple[Builder, int], ...] = (
    (_nba_game, 6),
    (_nba_spread, 4),
    (_nba_total, 4),
    (_high_ny, 1),
    (_btc, 2),
    (_cpi, 1),
    (_fed, 1),
    (_approval, 1),
    (_senate, 1),
)


NBA_BUILDERS = (_nba_game, _nba_spread, _nba_total)


def generate_events(
    rng: random.Random, start_ms: int, *, nba: bool = True
) -> Iterator[tuple[EventDef, list[MarketDef]]]:
    """An endless, seeded stream of events with their markets; tickers never repeat. With
    ``nba=False`` it holds no NBA game events (a simulated night supplies those).

    Event dates fall in a window of ``WINDOW_DAYS`` days starting at ``start_ms``. A window holds
    a finite set of event tickers (without NBA games, under 200), so a draw that repeats one is
    drawn again, at most ``MAX_DRAWS`` times. When all of those repeat, the window moves a day
    forward and the event is the NYC high temperature of the window's new last day. That ticker
    is new: only the KXHIGHNY builder writes KXHIGHNY tickers, every one drawn before named a day
    of an earlier window, and an earlier window ends at least a day before this one. So each event
    costs at most ``MAX_DRAWS + 1`` builds, and the dates move forward as the markets turn over,
    only as fast as the tickers run out. (This holds while two-digit years name a day uniquely,
    for a century of window moves: without NBA games a move comes every dozen events or so, so a
    century is some 400,000 events, about two billion trades, far more than a run can hold.)"""
    seen: set[str] = set()
    deck = [b for b, w in BUILDERS for _ in range(w) if nba or b not in NBA_BUILDERS]
    first_ms = start_ms
    n = 0
    while True:  # one event per pass, each pass bounded
        for _ in range(MAX_DRAWS):
            builder = deck[rng.randrange(len(deck))]
            day_ms = first_ms + DAY_MS * rng.randint(0, WINDOW_DAYS - 1)
            ev, markets = builder(rng, day_ms, n)
            n += 1
            if ev.event_ticker not in seen:
                break
        else:
            first_ms += DAY_MS
            ev, markets = _high_ny(rng, first_ms + DAY_MS * (WINDOW_DAYS - 1), n)
            n += 1
        seen.add(ev.event_ticker)
        yield ev, markets
