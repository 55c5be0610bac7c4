"""JSON views of NBA games for the API and the stream (the README's GameView), and US dates.

All integers: probabilities in ppm, prices in centicents, points in tenths.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kalshi.orderbook import OrderBook
from models import GameState, GameStatus, OddsQuote
from nba.match import NbaMarket
from nba.odds import Consensus

ET = ZoneInfo("America/New_York")
LATE_NIGHT_HOUR = 6  # before 6 am ET, yesterday's games are followed too


def us_date(ms: int) -> str:
    """The US (Eastern) date at epoch ms, YYYY-MM-DD."""
    return datetime.fromtimestamp(ms / 1000, ET).date().isoformat()


def follow_dates(now_ms: int) -> list[str]:
    """The game dates to follow: today (ET), and yesterday in the small hours."""
    now = datetime.fromtimestamp(now_ms / 1000, ET)
    dates = [now.date().isoformat()]
    if now.hour < LATE_NIGHT_HOUR:
        dates.append((now.date() - timedelta(days=1)).isoformat())
    return dates


def clock_text(g: GameState) -> str:
    """'19:30 ET' before tip-off, 'Q3 5:12', 'OT1 0:41', 'Half', 'Final'."""
    if g.status is GameStatus.SCHEDULED:
        if g.start_ms is None:
            return "TBD"
        return datetime.fromtimestamp(g.start_ms / 1000, ET).strftime("%H:%M ET")
    if g.status is GameStatus.HALFTIME:
        return "Half"
    if g.status is GameStatus.FINAL:
        return "Final"
    label = f"Q{g.period}" if g.period <= 4 else f"OT{g.period - 4}"
    return f"{label} {g.seconds_left // 60}:{g.seconds_left % 60:02d}"


def quote_json(q: OddsQuote) -> dict[str, Any]:
    return {
        "vendor": q.vendor,
        "market": q.market,
        "home_odds": q.home_odds,
        "away_odds": q.away_odds,
        "line_tenths": q.line_tenths,
        "over_odds": q.over_odds,
        "under_odds": q.under_odds,
        "ts_ms": q.ts_ms,
    }


def consensus_json(by_market: Mapping[str, Consensus]) -> dict[str, Any]:
    ml, sp, tot = by_market.get("moneyline"), by_market.get("spread"), by_market.get("total")
    return {
        "home_win_ppm": ml.fair_ppm if ml else None,
        "spread_tenths": sp.line_tenths if sp else None,
        "total_tenths": tot.line_tenths if tot else None,
        "books": len({b for c in by_market.values() for b in c.books}),
    }


def market_json(
    m: NbaMarket,
    book: OrderBook | None,
    last_cc: int | None,
    status: str,
    result: str | None,
    fair_ppm: int | None,
) -> dict[str, Any]:
    bid = book.best_yes_bid() if book is not None else None
    ask = book.best_yes_ask() if book is not None else None
    return {
        "ticker": m.ticker,
        "kind": m.kind,
        "yes_team": m.yes_team,
        "strike_tenths": m.strike_tenths,
        "last_cc": last_cc,
        "bid_cc": bid[0] if bid else None,
        "ask_cc": ask[0] if ask else None,
        "status": status,
        "result": result or None,
        "fair_ppm": fair_ppm,
    }


def game_json(
    s: GameState,
    *,
    fair_ppm: int | None,
    kalshi_ppm: int | None,
    consensus: dict[str, Any],
    markets: list[dict[str, Any]],
    freshness_ms: Mapping[str, int | None],
) -> dict[str, Any]:
    return {
        "id": s.game_id,
        "date": s.date,
        "home": s.home,
        "away": s.away,
        "home_score": s.home_score,
        "away_score": s.away_score,
        "status": str(s.status),
        "period": s.period,
        "seconds_left": s.seconds_left,
        "clock": clock_text(s),
        "start_ms": s.start_ms,
        "ts_ms": s.ts_ms,
        "fair": {"home_win_ppm": fair_ppm},
        "consensus": consensus,
        "kalshi": {"home_win_ppm": kalshi_ppm},
        "markets": markets,
        "freshness_ms": {"scores": freshness_ms.get("scores"), "odds": freshness_ms.get("odds")},
    }
