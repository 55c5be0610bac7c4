"""Parsers for balldontlie's JSON (the only code that knows its fields), into the domain types."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from models import GameState, GameStatus, OddsQuote
from nba.errors import NbaWireError

QUARTER_SECONDS = 720
OVERTIME_SECONDS = 300


_CLOCK_MS = re.compile(r"(\d{1,2}):(\d{2})(?:\.\d+)?")
_CLOCK_S = re.compile(r"(\d{1,2})(?:\.\d+)?")
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}T")
_QUARTER = re.compile(r"(?:end of )?([1-4])(?:st|nd|rd|th) qtr", re.IGNORECASE)
_OT = re.compile(r"(?:end of )?(?:(\d*)ot(\d*))", re.IGNORECASE)


def parse_clock(text: str | None) -> int | None:
    """Game clock text to whole seconds left in the period ('5:32' -> 332, '45.2' -> 45).

    Returns None when the text holds no clock (None, '', 'Final', 'Half')."""
    if text is None:
        return None
    s = text.strip()
    m = _CLOCK_MS.fullmatch(s)
    if m:
        return int(m.group(1)) * 60 + int(m.group(2))
    m = _CLOCK_S.fullmatch(s)
    if m:
        return int(m.group(1))
    return None


def parse_iso_ms(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise NbaWireError(f"not an ISO time: {text!r}") from exc
    if dt.tzinfo is None:
        raise NbaWireError(f"ISO time without a zone: {text!r}")
    return int(dt.timestamp() * 1000)


def _period_seconds(period: int) -> int:
    return QUARTER_SECONDS if period <= 4 else OVERTIME_SECONDS


def _ot_number(status: str) -> int | None:
    """'OT' -> 1, '2OT' -> 2, 'OT3' -> 3; None if not an overtime label."""
    m = _OT.fullmatch(status.strip())
    if not m:
        return None
    digits = m.group(1) or m.group(2)
    return int(digits) if digits else 1


@dataclass(frozen=True, slots=True)
class ParsedStatus:
    status: GameStatus
    period: int
    seconds_left: int
    start_ms: int | None


def parse_status(status: str | None, period: int | None, clock: str | None) -> ParsedStatus:
    """Every form balldontlie uses for ``status``: an ISO start time before tip-off, '1st Qtr'..
    '4th Qtr', 'Halftime', 'OT'/'2OT'..., 'Final', 'Final/OT' (also 'End of 3rd Qtr')."""
    text = (status or "").strip()
    p = period or 0
    secs = parse_clock(clock)
    if not text:
        return ParsedStatus(GameStatus.SCHEDULED, 0, QUARTER_SECONDS, None)
    if _ISO_START.match(text):
        return ParsedStatus(GameStatus.SCHEDULED, 0, QUARTER_SECONDS, parse_iso_ms(text))
    low = text.lower()
    if low.startswith("final"):
        _, _, suffix = text.partition("/")
        final_period = 4 + (_ot_number(suffix) or 0) if suffix else 4
        return ParsedStatus(GameStatus.FINAL, max(p, final_period), 0, None)
    if low in ("halftime", "half"):
        return ParsedStatus(GameStatus.HALFTIME, 2, 0, None)
    ended = low.startswith("end of ")
    m = _QUARTER.fullmatch(text)
    if m:
        q = int(m.group(1))
    else:
        ot = _ot_number(text[7:] if ended else text)
        if ot is None:
            raise NbaWireError(f"unknown game status: {status!r}")
        q = 4 + ot
    if ended:
        return ParsedStatus(GameStatus.LIVE, q, 0, None)
    left = secs if secs is not None else _period_seconds(q)
    return ParsedStatus(GameStatus.LIVE, q, min(left, _period_seconds(q)), None)


def _team_abbr(team: Any) -> str:
    if not isinstance(team, dict) or not isinstance(team.get("abbreviation"), str):
        raise NbaWireError(f"team without abbreviation: {team!r}")
    return str(team["abbreviation"])


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise NbaWireError(f"{key} is not an integer: {value!r}")
    return value


def parse_game(obj: dict[str, Any], now_ms: int) -> GameState:
    """One NBAGame object to a GameState; ``ts_ms`` = ``recv_ms`` = now (games carry no
    update time)."""
    try:
        game_id = obj["id"]
        date = str(obj["date"])[:10]
    except (KeyError, TypeError) as exc:
        raise NbaWireError(f"game without id/date: {obj!r}") from exc
    st = parse_status(obj.get("status"), obj.get("period"), obj.get("time"))
    start_ms = st.start_ms
    if isinstance(obj.get("datetime"), str):
        start_ms = parse_iso_ms(obj["datetime"])
    return GameState(
        game_id=int(game_id),
        date=date,
        home=_team_abbr(obj.get("home_team")),
        away=_team_abbr(obj.get("visitor_team")),
        home_score=_int(obj, "home_team_score"),
        away_score=_int(obj, "visitor_team_score"),
        status=st.status,
        period=st.period,
        seconds_left=st.seconds_left,
        start_ms=start_ms,
        ts_ms=now_ms,
        recv_ms=now_ms,
    )


@dataclass(frozen=True, slots=True)
class LiveScore:
    """One row of ``/box_scores/live`` (which carries no game id: match it by date and teams)."""

    date: str
    home: str
    away: str
    home_score: int
    away_score: int
    status: GameStatus
    period: int
    seconds_left: int


def _box_team(side: Any) -> Any:
    """The team of a box score's ``home_team``/``visitor_team``. The OpenAPI spec nests it
    (``{"team": NBATeam, "players": [...]}``); the service, and balldontlie's own SDK, put the
    NBATeam fields on the side itself, beside ``players``. Both are accepted."""
    if isinstance(side, dict) and "abbreviation" not in side and isinstance(side.get("team"), dict):
        return side["team"]
    return side


def parse_live_box_score(obj: dict[str, Any]) -> LiveScore:
    st = parse_status(obj.get("status"), obj.get("period"), obj.get("time"))
    return LiveScore(
        date=str(obj.get("date", ""))[:10],
        home=_team_abbr(_box_team(obj.get("home_team"))),
        away=_team_abbr(_box_team(obj.get("visitor_team"))),
        home_score=_int(obj, "home_team_score"),
        away_score=_int(obj, "visitor_team_score"),
        status=st.status,
        period=st.period,
        seconds_left=st.seconds_left,
    )


def parse_tenths(text: str | None) -> int | None:
    """A line such as '-5.5' or '221' to tenths of a point, exactly; None stays None."""
    if text is None:
        return None
    s = str(text).strip()
    m = re.fullmatch(r"([+-]?)(\d+)(?:\.(\d))?0*", s)
    if not m:
        raise NbaWireError(f"not a line in tenths: {text!r}")
    value = int(m.group(2)) * 10 + int(m.group(3) or 0)
    return -value if m.group(1) == "-" else value


def _opt_int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise NbaWireError(f"{key} is not an integer: {value!r}")
    return value


def parse_odds_row(obj: dict[str, Any], recv_ms: int) -> list[OddsQuote]:
    """One NBABettingOdd row to up to three quotes (moneyline, spread, total)."""
    try:
        game_id = int(obj["game_id"])
        vendor = str(obj["vendor"])
    except (KeyError, TypeError, ValueError) as exc:
        raise NbaWireError(f"odds row without game_id/vendor: {obj!r}") from exc
    ts = parse_iso_ms(obj["updated_at"]) if isinstance(obj.get("updated_at"), str) else recv_ms
    out: list[OddsQuote] = []
    ml_home, ml_away = _opt_int(obj, "moneyline_home_odds"), _opt_int(obj, "moneyline_away_odds")
    if ml_home is not None or ml_away is not None:
        out.append(
            OddsQuote(game_id, vendor, "moneyline", ml_home, ml_away, None, None, None, ts, recv_ms)
        )
    spread = parse_tenths(obj.get("spread_home_value"))
    if spread is not None:
        out.append(
            OddsQuote(
                game_id,
                vendor,
                "spread",
                _opt_int(obj, "spread_home_odds"),
                _opt_int(obj, "spread_away_odds"),
                spread,
                None,
                None,
                ts,
                recv_ms,
            )
        )
    total = parse_tenths(obj.get("total_value"))
    if total is not None:
        out.append(
            OddsQuote(
                game_id,
                vendor,
                "total",
                None,
                None,
                total,
                _opt_int(obj, "total_over_odds"),
                _opt_int(obj, "total_under_odds"),
                ts,
                recv_ms,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Team:
    team_id: int
    abbreviation: str
    full_name: str
    conference: str
    division: str


def parse_team(obj: dict[str, Any]) -> Team:
    return Team(
        int(obj["id"]),
        _team_abbr(obj),
        str(obj.get("full_name", "")),
        str(obj.get("conference", "")),
        str(obj.get("division", "")),
    )


def events_from_response(path: str, body: bytes, recv_ms: int) -> list[GameState | OddsQuote]:
    """The games or quotes of one balldontlie response (one page), as the poller emits them:
    ``path`` is the request's path with its query (``/v1/games?dates[]=...``, under a prefix such
    as ``/nba`` or not), ``recv_ms`` when it was received. A live poll and a replay of a recorded
    response go through here alike. Other paths have no events (``[]``)."""
    route = urlsplit(path).path.rstrip("/")
    games = route.endswith("/v1/games")
    if not games and not route.endswith("/v2/odds"):
        return []
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise NbaWireError(f"{route}: not JSON: {body[:200]!r}") from exc
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        raise NbaWireError(f"{route}: no data list in {body[:200]!r}")
    out: list[GameState | OddsQuote] = []
    for row in data:
        if not isinstance(row, dict):
            raise NbaWireError(f"{route}: row is not an object: {row!r}")
        if games:
            out.append(parse_game(row, recv_ms))
        else:
            out.extend(parse_odds_row(row, recv_ms))
    return out
