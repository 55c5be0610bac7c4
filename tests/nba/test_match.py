import json
from pathlib import Path

import pytest

from models import GameState, GameStatus, MarketInfo
from nba.match import (
    TickerError,
    canonical_team,
    match_events,
    parse_market,
    parse_nba_ticker,
)
from sim.nba_games import NightSim

FIX = Path(__file__).parents[1] / "fixtures" / "nba"


def _game(gid: int, date: str, away: str, home: str) -> GameState:
    return GameState(gid, date, home, away, 0, 0, GameStatus.SCHEDULED, 0, 720, None, 0, 0)


def _market(ticker: str, floor: str | None = None) -> MarketInfo:
    event = ticker.rsplit("-", 1)[0]
    return MarketInfo(ticker, event, ticker.split("-")[0], "", "", "active", None, None, floor)


def test_real_kalshi_game_tickers_from_recordings() -> None:
    rows = [
        json.loads(x)
        for x in (FIX / "kalshi_nba_trades_excerpt.jsonl").read_text().split("\n")
        if x
    ]
    parsed = {r["ticker"]: parse_nba_ticker(r["ticker"]) for r in rows}
    t = parsed["KXNBAGAME-26MAY04MINSAS-SAS"]
    assert (t.date, t.away, t.home, t.suffix) == ("2026-05-04", "MIN", "SAS", "SAS")
    assert t.event_ticker == "KXNBAGAME-26MAY04MINSAS"
    t = parsed["KXNBAGAME-26MAY10SASMIN-MIN"]
    assert (t.date, t.away, t.home) == ("2026-05-10", "SAS", "MIN")
    games = [
        _game(1, "2026-05-04", "MIN", "SAS"),
        _game(2, "2026-05-10", "SAS", "MIN"),
        _game(3, "2026-05-13", "DET", "CLE"),
        _game(4, "2026-05-14", "DET", "CLE"),
        _game(5, "2026-04-18", "MIA", "BOS"),
    ]
    report = match_events(parsed, games)
    assert report.unmatched == () and report.games_without_events == ()
    assert report.matched["KXNBAGAME-26MAY04MINSAS"] == 1
    assert report.matched["KXNBAGAME-26MAY10SASMIN"] == 2
    market = parse_market(_market("KXNBAGAME-26MAY04MINSAS-SAS"))
    assert market.kind == "game" and market.yes_team == "SAS" and market.strike_tenths is None


def test_spread_and_total_strikes_come_from_floor_strike() -> None:
    combo = json.loads((FIX / "kalshi_demo_nba_combo_market.json").read_text())
    spread_ticker, total_ticker = (leg["market_ticker"] for leg in combo["mve_selected_legs"])
    # the recorded titles say "New York wins by over 5.5 points" and "Over 217.5 points"
    assert "over 5.5" in combo["no_sub_title"] and "217.5" in combo["no_sub_title"]
    spread = parse_market(_market(spread_ticker, "5.5"))
    assert (spread.kind, spread.yes_team, spread.strike_tenths) == ("spread", "NYK", 55)
    assert (spread.away, spread.home, spread.date) == ("NYK", "SAS", "2026-06-13")
    total = parse_market(_market(total_ticker, "217.5"))
    assert (total.kind, total.yes_team, total.strike_tenths) == ("total", None, 2175)
    with pytest.raises(TickerError):
        parse_market(_market(total_ticker, None))


def test_abbreviations_and_bad_tickers() -> None:
    assert canonical_team("GS") == "GSW" and canonical_team("PHO") == "PHX"
    assert canonical_team("XYZ") is None
    t = parse_nba_ticker("KXNBAGAME-26JAN07GSNY-NY")
    assert (t.away, t.home) == ("GSW", "NYK")
    for bad in (
        "KXNBA-27-SAS",
        "KXNBAMENTION-26MAY09OKCLAL-WING",
        "KXNBAGAME-26XYZ07LALSAS",
        "KXNBAGAME-26JAN07LALXXX-LAL",
    ):
        with pytest.raises(TickerError):
            parse_nba_ticker(bad)
    with pytest.raises(TickerError):
        parse_market(_market("KXNBAGAME-26JAN07LALSAS-BOS"))


def _event(series: str, g: GameState) -> str:
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    y, m, d = g.date.split("-")
    return f"{series}-{y[2:]}{months[int(m) - 1]}{d}{g.away}{g.home}"


def test_full_simulated_night_matches_and_a_missing_event_is_reported() -> None:
    night = NightSim(7, "2026-01-07", 0, 15)
    games = night.states()
    assert len(games) == 15 and len({g.home for g in games} | {g.away for g in games}) == 30
    missing = games[3]
    events = [
        _event(s, g)
        for g in games
        if g is not missing
        for s in ("KXNBAGAME", "KXNBASPREAD", "KXNBATOTAL")
    ]
    events.append("KXNBAGAME-26JAN08LALSAS")  # a game on another night: must not be guessed
    report = match_events(events, games)
    assert len(report.matched) == 14 * 3
    assert set(report.matched.values()) == {g.game_id for g in games} - {missing.game_id}
    assert report.games_without_events == (missing.game_id,)
    assert [u.event_ticker for u in report.unmatched] == ["KXNBAGAME-26JAN08LALSAS"]


def test_ambiguous_match_is_not_guessed() -> None:
    games = [_game(1, "2026-01-07", "LAL", "SAS"), _game(2, "2026-01-07", "LAL", "SAS")]
    report = match_events(["KXNBAGAME-26JAN07LALSAS"], games)
    assert report.matched == {} and "2 games" in report.unmatched[0].reason
