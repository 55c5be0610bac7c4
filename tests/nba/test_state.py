"""NbaState, the pure NBA state: events in with explicit timestamps, state out."""

from __future__ import annotations

from models import (
    GameState,
    GameStatus,
    LifecycleEvent,
    LifecycleKind,
    MarketInfo,
    MatchedMarket,
    NbaMarketsMatched,
    OddsQuote,
    Side,
    Trade,
)
from nba.match import NbaMarket, parse_market
from nba.odds import quote_fair_ppm
from nba.state import MarketState, NbaState

T0 = 1_781_391_600_000
GID = 42
DATE = "2026-06-13"
EVENT = "26JUN13LALSAS"
GAME = f"KXNBAGAME-{EVENT}-SAS"
AWAY_GAME = f"KXNBAGAME-{EVENT}-LAL"
SPREAD = f"KXNBASPREAD-{EVENT}-SAS5"
TOTAL = f"KXNBATOTAL-{EVENT}-220"


def game(
    home: int = 0,
    away: int = 0,
    *,
    status: GameStatus = GameStatus.LIVE,
    period: int = 1,
    left: int = 720,
    ts: int = T0,
) -> GameState:
    return GameState(GID, DATE, "SAS", "LAL", home, away, status, period, left, None, ts, ts)


def moneyline(vendor: str, home: int, away: int, ts: int = T0) -> OddsQuote:
    return OddsQuote(GID, vendor, "moneyline", home, away, None, None, None, ts, ts)


def spread(vendor: str, line: int, ts: int = T0) -> OddsQuote:
    return OddsQuote(GID, vendor, "spread", -110, -110, line, None, None, ts, ts)


def total(vendor: str, line: int, ts: int = T0) -> OddsQuote:
    return OddsQuote(GID, vendor, "total", None, None, line, -110, -110, ts, ts)


def info(ticker: str, strike: str | None = None, status: str = "active") -> MarketInfo:
    series, event = ticker.split("-")[0], ticker.rsplit("-", 1)[0]
    return MarketInfo(ticker, event, series, "", "", status, None, None, floor_strike=strike)


MARKETS: list[NbaMarket] = [
    parse_market(info(GAME)),
    parse_market(info(AWAY_GAME)),
    parse_market(info(SPREAD, "5.5")),
    parse_market(info(TOTAL, "220.5")),
]
BOOKS = ("draftkings", "fanduel", "betmgm", "caesars")


def ppm(s: NbaState, ticker: str) -> int:
    fair = s.fair_ppm(ticker)
    assert fair is not None, ticker
    return fair


def followed(pregame: bool = True) -> NbaState:
    """A game with four books' lines (home favoured by 4.5, total 221.5) before tip-off, and
    its four Kalshi markets matched."""
    s = NbaState()
    s.on_event(game(status=GameStatus.SCHEDULED, period=0))
    if pregame:
        for v in BOOKS:
            s.on_event(spread(v, -45))
            s.on_event(total(v, 2215))
    s.on_event(matched())
    return s


def matched(status: str = "active", ts: int = T0) -> NbaMarketsMatched:
    return NbaMarketsMatched(
        tuple(
            MatchedMarket(
                m.ticker,
                m.event_ticker,
                GID,
                m.kind,
                m.date,
                m.away,
                m.home,
                m.yes_team,
                m.strike_tenths,
                status,
                None,
            )
            for m in MARKETS
        ),
        ts,
        ts,
    )


def test_the_matched_markets_event_sets_the_markets_as_set_markets_does() -> None:
    by_event, direct = NbaState(), NbaState()
    by_event.on_event(matched())
    direct.set_markets({GID: MARKETS}, {m.ticker: MarketState("active", None) for m in MARKETS})
    assert by_event.markets == direct.markets == {GID: MARKETS}
    assert by_event.market_state == direct.market_state
    assert by_event.is_followed(SPREAD) and by_event.last_event_ms == T0
    by_event.on_event(NbaMarketsMatched((), T0 + 1, T0 + 1))  # a later discovery found none
    assert by_event.markets == {} and not by_event.is_followed(SPREAD)


def test_consensus_of_four_books_leaves_out_the_exchanges() -> None:
    s = NbaState()
    s.on_event(game())
    quotes = [
        moneyline("draftkings", -150, 130),
        moneyline("fanduel", -160, 135),
        moneyline("betmgm", -145, 125),
        moneyline("caesars", -155, 130),
    ]
    for q in quotes:
        s.on_event(q)
    s.on_event(moneyline("kalshi", -900, 600, T0 + 1))
    s.on_event(moneyline("polymarket", 500, -700, T0 + 2))
    c = s.consensus[GID]["moneyline"]
    assert sorted(c.books) == sorted(BOOKS)
    fairs = [quote_fair_ppm(q) for q in quotes]
    assert all(f is not None for f in fairs)
    mean = sum(f for f in fairs if f is not None) / 4
    assert abs(c.fair_ppm - mean) <= 1
    assert s.consensus_home_ppm(GID) == c.fair_ppm
    # the latest quote per (game, book, market) is kept: a book moving replaces its line
    s.on_event(moneyline("draftkings", -300, 240, T0 + 10))
    assert s.quotes[(GID, "draftkings", "moneyline")].home_odds == -300
    assert s.consensus[GID]["moneyline"].fair_ppm > c.fair_ppm
    assert len(s.quotes_of(GID)) == 6
    assert s.odds_changed == {GID}


def test_spread_and_total_consensus_take_the_median_line() -> None:
    s = NbaState()
    s.on_event(game(status=GameStatus.SCHEDULED, period=0))
    for v, line in zip(BOOKS, (-45, -45, -55, -35), strict=True):
        s.on_event(spread(v, line))
        s.on_event(total(v, 2215))
    s.on_event(spread("kalshi", -150))
    assert s.consensus[GID]["spread"].line_tenths == -45
    assert s.consensus[GID]["total"].line_tenths == 2215
    assert s.pregame_line(GID, "spread") == -45


def test_the_pregame_line_stays_once_the_game_is_live() -> None:
    s = followed()
    s.on_event(game(10, 20, period=2, left=300, ts=T0 + 1_000))
    for v in BOOKS:  # live lines follow the score: the model keeps drifting on the pregame one
        s.on_event(spread(v, 95, T0 + 1_001))
    assert s.consensus[GID]["spread"].line_tenths == 95
    assert s.pregame_line(GID, "spread") == -45


def test_fair_values_move_with_the_score_and_the_time() -> None:
    s = followed()
    before = {t: s.fair_ppm(t) for t in (GAME, AWAY_GAME, SPREAD, TOTAL)}
    assert all(v is not None and 0 < v < 1_000_000 for v in before.values()), before
    home = before[GAME]
    assert home is not None and home > 500_000  # favoured by 4.5
    assert before[AWAY_GAME] == 1_000_000 - home
    assert s.fair_values(GID) == before
    assert s.home_win_ppm(GID) == home

    # the home side leads by 10 in the 3rd: more likely to win and to cover 5.5
    s.on_event(game(60, 50, period=3, left=600, ts=T0 + 60_000))
    lead = ppm(s, GAME)
    assert lead > home
    assert ppm(s, SPREAD) > (before[SPREAD] or 0)
    # 110 points after 30 minutes is a slow pace for a 221.5 total: the over is less likely
    assert ppm(s, TOTAL) < (before[TOTAL] or 0)

    # same lead with less time left: surer still
    s.on_event(game(60, 50, period=4, left=60, ts=T0 + 120_000))
    assert ppm(s, GAME) > lead

    # final: moneyline and spread are certain, the total is decided by the points
    s.on_event(game(100, 90, status=GameStatus.FINAL, period=4, left=0, ts=T0 + 180_000))
    assert (s.fair_ppm(GAME), s.fair_ppm(AWAY_GAME)) == (1_000_000, 0)
    assert s.fair_ppm(SPREAD) == 1_000_000  # won by 10 > 5.5
    assert s.fair_ppm(TOTAL) == 0  # 190 < 220.5


def test_no_line_no_fair_value_until_final() -> None:
    s = followed(pregame=False)
    assert s.home_win_ppm(GID) is None
    assert s.fair_values(GID) == dict.fromkeys((GAME, AWAY_GAME, SPREAD, TOTAL))
    s.lines = lambda gid: -45 if gid == GID else None  # the simulator's line
    assert s.fair_ppm(SPREAD) is not None and s.fair_ppm(TOTAL) is None
    s.on_event(game(100, 101, status=GameStatus.FINAL, period=4, left=0))
    s.lines = None
    assert s.home_win_ppm(GID) == 0


def test_trades_of_followed_markets_give_last_prices() -> None:
    s = followed()
    s.on_event(Trade("t1", GAME, 6_100, 500, Side.YES, T0, T0 + 5))
    s.on_event(Trade("t2", "KXOTHER-X", 100, 500, Side.YES, T0, T0 + 6))
    assert s.last_trade_cc == {GAME: 6_100}
    assert s.last_event_ms == T0 + 6
    assert s.home_market(GID) == MARKETS[0]


def test_a_lifecycle_event_settles_a_market_and_rest_does_not_undo_it() -> None:
    s = followed()
    assert s.status_of(GAME) == MarketState("active", None)
    s.on_event(LifecycleEvent(GAME, LifecycleKind.DETERMINED, T0, T0, result="yes"))
    assert s.status_of(GAME) == MarketState("determined", "yes")
    key = s.state_key(GID)
    s.on_event(LifecycleEvent(GAME, LifecycleKind.SETTLED, T0 + 10, T0 + 10))
    assert s.status_of(GAME) == MarketState("finalized", "yes")
    assert s.state_key(GID) != key
    # a later discovery where REST still lists it active keeps what the lifecycle said
    s.set_markets({GID: MARKETS}, {m.ticker: MarketState("active", None) for m in MARKETS})
    assert s.status_of(GAME) == MarketState("finalized", "yes")
    assert s.status_of(TOTAL) == MarketState("active", None)
    # unfollowed markets are not kept
    s.on_event(LifecycleEvent("KXOTHER-X", LifecycleKind.SETTLED, T0, T0))
    assert s.status_of("KXOTHER-X").status == "unknown"
