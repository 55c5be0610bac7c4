"""The NBA world as of the last event handled: games, sportsbook quotes, their consensus, the
matched Kalshi markets (status, result, last price) and the model's fair value of each.

Pure and synchronous: it is fed events in pipeline order (``GameState``, ``OddsQuote``,
``Trade``, ``LifecycleEvent``, and ``NbaMarketsMatched``: the markets discovery matched); it
reads no clock, its time is the events'. Probabilities are integer ppm, prices centicents,
points tenths.

Fair values all come from Stern's model (``nba.winprob``), whose drift is the pregame line: the
sportsbook consensus line last seen before tip-off, else a line ``lines`` supplies (the
simulator's), else the consensus line now. Moneyline: home wins; spread: the market's YES team
wins by more than its ``floor_strike``; total: the points go over its ``floor_strike``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from models import (
    FINISHED_STATUSES,
    STATUS_AFTER,
    Event,
    GameState,
    GameStatus,
    LifecycleEvent,
    MatchedMarket,
    NbaMarketsMatched,
    OddsQuote,
    Trade,
)
from nba import winprob
from nba.match import NbaMarket
from nba.odds import Consensus, consensus

KINDS: tuple[type, ...] = (GameState, OddsQuote, Trade, LifecycleEvent, NbaMarketsMatched)
"""The events ``NbaState.on_event`` takes (its pipeline listener's ``kinds``)."""

UNKNOWN_STATUS = "unknown"


@dataclass(frozen=True, slots=True)
class MarketState:
    """A matched market's status (Kalshi's ``Market.status`` words) and result ('' / None: none)."""

    status: str
    result: str | None


class NbaState:
    def __init__(
        self, *, lines: Callable[[int], int | None] | None = None, method: str = "multiplicative"
    ) -> None:
        self.lines = lines  # a line for the spread when no book quoted one before tip-off
        self._method = method
        self.games: dict[int, GameState] = {}
        self.quotes: dict[tuple[int, str, str], OddsQuote] = {}
        self.consensus: dict[int, dict[str, Consensus]] = {}
        self._pregame: dict[int, dict[str, int]] = {}  # game -> market -> line before tip-off
        self.markets: dict[int, list[NbaMarket]] = {}
        self._market: dict[str, tuple[int, NbaMarket]] = {}
        self.market_state: dict[str, MarketState] = {}
        self.last_trade_cc: dict[str, int] = {}
        self.odds_changed: set[int] = set()  # games whose quotes changed; the publisher clears it
        self.last_event_ms: int | None = None

    # ---- inputs ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        if type(event) is GameState:
            self._on_game(event)
        elif type(event) is OddsQuote:
            self._on_quote(event)
        elif type(event) is Trade:
            if event.ticker in self._market:
                self.last_trade_cc[event.ticker] = event.yes_price
        elif type(event) is LifecycleEvent:
            self._on_lifecycle(event)
        elif type(event) is NbaMarketsMatched:
            self._on_matched(event.markets)
        else:
            return
        self.last_event_ms = event.recv_ms

    def _on_game(self, g: GameState) -> None:
        self.games[g.game_id] = g

    def _on_quote(self, q: OddsQuote) -> None:
        self.quotes[(q.game_id, q.vendor, q.market)] = q
        self.odds_changed.add(q.game_id)
        gid = q.game_id
        by_market = {c.market: c for c in consensus(self.quotes_of(gid), self._method)}
        self.consensus[gid] = by_market
        game = self.games.get(gid)
        if game is not None and game.status is GameStatus.SCHEDULED:
            pregame = self._pregame.setdefault(gid, {})
            for market in ("spread", "total"):
                c = by_market.get(market)
                if c is not None and c.line_tenths is not None:
                    pregame[market] = c.line_tenths

    def _on_lifecycle(self, event: LifecycleEvent) -> None:
        if event.ticker not in self._market:
            return
        status = STATUS_AFTER.get(event.kind)
        if status is None:
            return
        old = self.market_state.get(event.ticker)
        result = event.result or (old.result if old is not None else None)
        self.market_state[event.ticker] = MarketState(str(status), result)

    def _on_matched(self, matched: Iterable[MatchedMarket]) -> None:
        by_game: dict[int, list[NbaMarket]] = {}
        rest: dict[str, MarketState] = {}
        for m in matched:
            by_game.setdefault(m.game_id, []).append(
                NbaMarket(
                    m.ticker,
                    m.event_ticker,
                    m.kind,
                    m.date,
                    m.away,
                    m.home,
                    m.yes_team,
                    m.strike_tenths,
                )
            )
            rest[m.ticker] = MarketState(m.status, m.result)
        self.set_markets(by_game, rest)

    def set_markets(
        self, by_game: Mapping[int, Iterable[NbaMarket]], rest: Mapping[str, MarketState]
    ) -> None:
        """The markets discovery matched, each game's complete list, with the status and result
        REST gave; a status a lifecycle event already finished is not taken back by REST."""
        self.markets = {gid: list(ms) for gid, ms in by_game.items()}
        self._market = {m.ticker: (gid, m) for gid, ms in self.markets.items() for m in ms}
        for ticker, seen in rest.items():
            old = self.market_state.get(ticker)
            if old is None or old.status not in FINISHED_STATUSES or seen.result:
                self.market_state[ticker] = MarketState(seen.status, seen.result or None)

    # ---- reads -------------------------------------------------------------------------------

    def quotes_of(self, game_id: int) -> list[OddsQuote]:
        return sorted(
            (q for (g, _, _), q in self.quotes.items() if g == game_id),
            key=lambda q: (q.vendor, q.market),
        )

    def is_followed(self, ticker: str) -> bool:
        return ticker in self._market

    def market_of(self, ticker: str) -> tuple[int, NbaMarket] | None:
        """The followed market's game and what its YES means; None when not followed."""
        return self._market.get(ticker)

    def status_of(self, ticker: str) -> MarketState:
        return self.market_state.get(ticker, MarketState(UNKNOWN_STATUS, None))

    def pregame_line(self, game_id: int, market: str) -> int | None:
        """The line (tenths) the model drifts on: ``spread`` (home) or ``total``."""
        line = self._pregame.get(game_id, {}).get(market)
        if line is not None:
            return line
        if market == "spread" and self.lines is not None:
            supplied = self.lines(game_id)
            if supplied is not None:
                return supplied
        c = self.consensus.get(game_id, {}).get(market)
        return c.line_tenths if c is not None else None

    def home_win_ppm(self, game_id: int) -> int | None:
        """The model's home win probability; None before any spread is known (unless final)."""
        g = self.games.get(game_id)
        if g is None:
            return None
        line = self.pregame_line(game_id, "spread")
        if line is None and g.status is not GameStatus.FINAL:
            return None
        return winprob.home_win_ppm(g, line or 0)

    def fair_ppm(self, ticker: str) -> int | None:
        """The model's probability of YES for a followed market; None when unknown."""
        found = self._market.get(ticker)
        if found is None:
            return None
        gid, m = found
        g = self.games.get(gid)
        if g is None:
            return None
        if m.kind == "game":
            home = self.home_win_ppm(gid)
            if home is None:
                return None
            return home if m.yes_team == g.home else winprob.PPM - home
        if m.strike_tenths is None:
            return None
        if m.kind == "spread" and m.yes_team is not None:
            line = self.pregame_line(gid, "spread")
            if line is None:
                return None
            return winprob.team_margin_over_ppm(g, m.yes_team, line, m.strike_tenths)
        if m.kind == "total":
            total = self.pregame_line(gid, "total")
            if total is None:
                return None
            return winprob.total_over_ppm(g, total, m.strike_tenths)
        return None

    def fair_values(self, game_id: int) -> dict[str, int | None]:
        """Every followed market of the game: ticker -> fair YES ppm."""
        return {m.ticker: self.fair_ppm(m.ticker) for m in self.markets.get(game_id, ())}

    def consensus_home_ppm(self, game_id: int) -> int | None:
        ml = self.consensus.get(game_id, {}).get("moneyline")
        return ml.fair_ppm if ml is not None else None

    def home_market(self, game_id: int) -> NbaMarket | None:
        """The KXNBAGAME market whose YES is the home team."""
        g = self.games.get(game_id)
        if g is None:
            return None
        for m in self.markets.get(game_id, ()):
            if m.kind == "game" and m.yes_team == g.home:
                return m
        return None

    def state_key(self, game_id: int) -> tuple[object, ...]:
        """Changes whenever a market of the game changes status or result."""
        return tuple(self.market_state.get(m.ticker) for m in self.markets.get(game_id, ()))
