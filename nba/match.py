"""Kalshi NBA tickers and their matching to balldontlie games.

Ticker forms (Kalshi recordings): ``KXNBAGAME-26JAN07LALSAS-SAS`` = series, date (yy MON dd), away
team then home team, then the YES team; ``KXNBASPREAD-26JUN13NYKSAS-NYK5`` (YES = NYK wins by over
the market's ``floor_strike``, 5.5 there: the suffix digits are not the strike);
``KXNBATOTAL-26JUN13NYKSAS-217`` (YES = total over ``floor_strike``, 217.5 there).

Matching is exact on (date, away, home); anything else is reported unmatched, never guessed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from models import EventInfo, GameState, MarketInfo
from nba.errors import NbaWireError
from nba.wire import parse_tenths

log = logging.getLogger(__name__)

SERIES_KIND = {"KXNBAGAME": "game", "KXNBASPREAD": "spread", "KXNBATOTAL": "total"}

TEAMS = frozenset(
    {
        "ATL",
        "BKN",
        "BOS",
        "CHA",
        "CHI",
        "CLE",
        "DAL",
        "DEN",
        "DET",
        "GSW",
        "HOU",
        "IND",
        "LAC",
        "LAL",
        "MEM",
        "MIA",
        "MIL",
        "MIN",
        "NOP",
        "NYK",
        "OKC",
        "ORL",
        "PHI",
        "PHX",
        "POR",
        "SAC",
        "SAS",
        "TOR",
        "UTA",
        "WAS",
    }
)
"""balldontlie's abbreviations. Kalshi's KXNBA-27 futures recording uses exactly these 30 too."""

ALIASES = {
    "BRK": "BKN",
    "BRO": "BKN",
    "CHO": "CHA",
    "GS": "GSW",
    "NO": "NOP",
    "NOR": "NOP",
    "NY": "NYK",
    "PHO": "PHX",
    "SA": "SAS",
    "UTAH": "UTA",
    "WSH": "WAS",
}
"""Other spellings seen at sportsbooks and older feeds, mapped to balldontlie's."""

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_TICKER = re.compile(r"(KXNBA[A-Z]+)-(\d{2})([A-Z]{3})(\d{2})([A-Z]{4,8})(?:-([A-Z0-9.]+))?")


class TickerError(ValueError):
    """Not a Kalshi NBA game/spread/total ticker this module understands."""


def canonical_team(code: str) -> str | None:
    c = code.upper()
    if c in TEAMS:
        return c
    return ALIASES.get(c)


def _split_teams(pair: str) -> tuple[str, str]:
    splits = {(canonical_team(pair[:i]), canonical_team(pair[i:])) for i in range(2, len(pair) - 1)}
    found = [(a, h) for a, h in splits if a and h and a != h]
    if len(found) != 1:
        raise TickerError(f"cannot split {pair!r} into two teams ({len(found)} readings)")
    return found[0]


@dataclass(frozen=True, slots=True)
class NbaTicker:
    series: str
    kind: str  # "game" | "spread" | "total"
    event_ticker: str
    date: str  # YYYY-MM-DD
    away: str
    home: str
    suffix: str | None  # the market part after the event ticker, if any


def parse_nba_ticker(ticker: str) -> NbaTicker:
    """An event or market ticker of KXNBAGAME/KXNBASPREAD/KXNBATOTAL."""
    m = _TICKER.fullmatch(ticker.strip().upper())
    if not m:
        raise TickerError(f"not an NBA game ticker: {ticker!r}")
    series, yy, mon, dd, pair, suffix = m.groups()
    if series not in SERIES_KIND:
        raise TickerError(f"not a game/spread/total series: {series}")
    if mon not in _MONTHS:
        raise TickerError(f"bad month in {ticker!r}")
    away, home = _split_teams(pair)
    event = f"{series}-{yy}{mon}{dd}{pair}"
    return NbaTicker(
        series, SERIES_KIND[series], event, f"20{yy}-{_MONTHS[mon]:02d}-{dd}", away, home, suffix
    )


@dataclass(frozen=True, slots=True)
class NbaMarket:
    """One Kalshi NBA market, read. YES means: ``yes_team`` wins (game), ``yes_team`` wins by more
    than the strike (spread), or the total is over the strike (total, ``yes_team`` None)."""

    ticker: str
    event_ticker: str
    kind: str
    date: str
    away: str
    home: str
    yes_team: str | None
    strike_tenths: int | None


def _suffix_team(t: NbaTicker) -> str:
    code = re.match(r"[A-Z]+", t.suffix or "")
    team = canonical_team(code.group(0)) if code else None
    if team not in (t.home, t.away):
        raise TickerError(f"YES team {t.suffix!r} is not {t.away} or {t.home}")
    assert team is not None
    return team


def parse_market(info: MarketInfo) -> NbaMarket:
    t = parse_nba_ticker(info.ticker)
    if t.suffix is None:
        raise TickerError(f"{info.ticker} is an event ticker, not a market")
    strike: int | None = None
    yes_team: str | None = None
    if t.kind in ("spread", "total"):
        try:
            strike = parse_tenths(info.floor_strike)
        except NbaWireError as exc:
            raise TickerError(f"{info.ticker}: bad floor_strike {info.floor_strike!r}") from exc
        if strike is None:
            raise TickerError(f"{info.ticker}: no floor_strike")
    if t.kind in ("game", "spread"):
        yes_team = _suffix_team(t)
    return NbaMarket(info.ticker, t.event_ticker, t.kind, t.date, t.away, t.home, yes_team, strike)


@dataclass(frozen=True, slots=True)
class Unmatched:
    event_ticker: str
    reason: str


@dataclass(frozen=True, slots=True)
class MatchReport:
    matched: dict[str, int]  # event ticker -> balldontlie game id
    unmatched: tuple[Unmatched, ...]
    games_without_events: tuple[int, ...]


def match_events(event_tickers: Iterable[str], games: Iterable[GameState]) -> MatchReport:
    """Match each event to the single game with the same date, away and home team. Market
    tickers are reduced to their event ticker; the report is keyed by event ticker."""
    by_key: dict[tuple[str, str, str], list[int]] = {}
    game_ids: list[int] = []
    for g in games:
        away, home = canonical_team(g.away), canonical_team(g.home)
        game_ids.append(g.game_id)
        if away and home:
            by_key.setdefault((g.date, away, home), []).append(g.game_id)
    matched: dict[str, int] = {}
    unmatched: list[Unmatched] = []
    parsed: dict[str, NbaTicker] = {}
    for ticker in sorted(set(event_tickers)):
        try:
            t = parse_nba_ticker(ticker)
        except TickerError as exc:
            unmatched.append(Unmatched(ticker, str(exc)))
            continue
        parsed[t.event_ticker] = t
    for ticker, t in sorted(parsed.items()):
        candidates = by_key.get((t.date, t.away, t.home), [])
        if len(candidates) == 1:
            matched[ticker] = candidates[0]
        elif not candidates:
            unmatched.append(Unmatched(ticker, f"no game {t.away}@{t.home} on {t.date}"))
        else:
            unmatched.append(
                Unmatched(ticker, f"{len(candidates)} games {t.away}@{t.home} on {t.date}")
            )
    for u in unmatched:
        log.warning("unmatched Kalshi NBA event %s: %s", u.event_ticker, u.reason)
    used = set(matched.values())
    return MatchReport(matched, tuple(unmatched), tuple(g for g in game_ids if g not in used))


def match_event_infos(events: Iterable[EventInfo], games: Iterable[GameState]) -> MatchReport:
    """The same, for events from Kalshi's /events endpoint (NBA game series only)."""
    tickers = [e.event_ticker for e in events if e.series_ticker in SERIES_KIND]
    return match_events(tickers, games)
