"""The NBA side of the app: polls balldontlie, stores what changed, matches Kalshi's NBA events
to the games, follows their order books and publishes ``game``/``odds`` messages.

Probabilities are integer ppm, prices centicents, points tenths (contract of issue 5). The model
fair value is Stern's (``strategies.winprob``) on the pregame spread: the sportsbook consensus
spread seen before tip-off, else the line a simulator supplies, else the consensus spread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clock import Clock
from infra.coalesce import CoalescedCall
from kalshi_client import KalshiError
from models import Event, GameState, GameStatus, OddsQuote
from nba import winprob
from nba.client import NbaClient, Sleeper
from nba.errors import NbaAuthError, NbaError
from nba.kalshi_markets import KalshiSide, NbaMarkets
from nba.odds import Consensus, consensus
from nba.poll import ODDS, SCORES, NbaPoller
from nba.store import NbaStore
from nba.views import consensus_json, follow_dates, game_json, quote_json
from websocket_handler import Hub

log = logging.getLogger(__name__)

HISTORY_MAX = 720
PUBLISH_EVERY_MS = 1_000
DISCOVER_EVERY_MS = 120_000
REFRESH_EVERY_MS = 10_000


@dataclass
class _Game:
    state: GameState
    consensus: dict[str, Consensus] = field(default_factory=dict)
    pregame_spread: int | None = None
    history: list[list[int | None]] = field(default_factory=list)
    step_ms: int = PUBLISH_EVERY_MS
    sent_ts: int = -1
    last_pub_ms: int | None = None
    last_key: tuple[object, ...] | None = None


class NbaService:
    def __init__(
        self,
        *,
        client: NbaClient,
        store: NbaStore,
        hub: Hub,
        clock: Clock,
        kalshi: KalshiSide | None = None,
        tier: str = "goat",
        sleeper: Sleeper | None = None,
        dates: Callable[[], list[str]] | None = None,
        lines: Callable[[int], int | None] | None = None,
        discover_every_ms: int = DISCOVER_EVERY_MS,
        refresh_every_ms: int = REFRESH_EVERY_MS,
    ) -> None:
        self._client = client
        self._store = store
        self._hub = hub
        self._clock = clock
        self.markets = NbaMarkets(kalshi or KalshiSide(), store)
        self._sleep = sleeper or _sleep_ms
        self._dates = dates or (lambda: follow_dates(clock.now_ms()))
        self._lines = lines
        self._discover_every_ms = discover_every_ms
        self.poller = NbaPoller(client, clock, self._sleep, self._dates, tier=tier)
        self.games: dict[int, _Game] = {}
        self._quotes: dict[tuple[int, str, str], OddsQuote] = {}
        self._odds_changed: set[int] = set()
        self.next_discover_ms = 0
        self.disabled_reason: str | None = None
        self.refresher = CoalescedCall(
            self.refresh, clock=clock, min_interval_ms=refresh_every_ms, name="NBA refresh"
        )

    # ---- inputs ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Today's games and their latest odds from storage, before the first poll."""
        items: list[GameState | OddsQuote] = []
        for date in self._dates():
            items += await self._store.games_on(date)
        items += await self._store.latest_odds([g.game_id for g in items])
        self._apply(items)
        self._odds_changed.clear()

    def _apply_game(self, g: GameState) -> None:
        self._store.add_game(g)
        game = self.games.get(g.game_id)
        if game is None:
            self.games[g.game_id] = _Game(g)
            if g.game_id not in self.markets.report.matched.values():
                self.next_discover_ms = min(self.next_discover_ms, self._clock.now_ms())
        else:
            game.state = g

    def _apply_quote(self, q: OddsQuote) -> None:
        self._store.add_quote(q)
        self._quotes[(q.game_id, q.vendor, q.market)] = q
        self._odds_changed.add(q.game_id)

    def _apply(self, items: list[GameState | OddsQuote]) -> None:
        for item in items:
            if isinstance(item, GameState):
                self._apply_game(item)
            else:
                self._apply_quote(item)
        for gid in self._odds_changed:
            game = self.games.get(gid)
            if game is None:
                continue
            quotes = [q for (g, _, _), q in self._quotes.items() if g == gid]
            game.consensus = {c.market: c for c in consensus(quotes)}
            spread = game.consensus.get("spread")
            if spread is not None and game.state.status is GameStatus.SCHEDULED:
                game.pregame_spread = spread.line_tenths

    def on_event(self, event: Event) -> None:
        """Pipeline listener: trades and lifecycle of the matched markets."""
        self.markets.on_event(event)

    # ---- polling and matching ----------------------------------------------------------------

    async def poll(self) -> int:
        """Poll the sources that are due; returns how many games and quotes changed."""
        items = await self.poller.poll_due()
        self._apply(items)
        return len(items)

    async def refresh(self) -> dict[str, Any]:
        """Poll balldontlie now (scores and odds), then match Kalshi's events again."""
        dates = self._dates()
        poller = self.poller
        try:
            items: list[GameState | OddsQuote] = list(await self._client.games(dates))
        except NbaError as exc:
            poller.record_failure(SCORES, exc)
            raise
        poller.record_ok(SCORES)
        if poller.plan.odds_every_ms is not None and poller.odds_disabled_reason is None:
            try:
                items += await self._client.odds(dates=dates)
                poller.record_ok(ODDS)
            except NbaError as exc:
                poller.record_failure(ODDS, exc)
                log.warning("odds refresh failed: %s", exc)
        self._apply(items)
        await self.discover()
        report = self.markets.report
        return {
            "games": len(self._today()),
            "matched": len(report.matched),
            "games_matched": len(set(report.matched.values())),
            "unmatched": [
                {"event_ticker": u.event_ticker, "reason": u.reason} for u in report.unmatched
            ],
        }

    async def refresh_shared(self) -> dict[str, Any]:
        """A refresh someone asked for (``POST /api/games/refresh``): it joins the refresh in
        progress if there is one, and gets its summary; otherwise it starts one, unless one
        started less than ``refresh_every_ms`` ago (``infra.coalesce.TooSoon``)."""
        return await self.refresher()

    async def aclose(self) -> None:
        """Cancel a refresh still running (the app's teardown)."""
        await self.refresher.aclose()

    async def discover(self) -> None:
        """Find Kalshi's NBA events of the followed dates, match them, follow their books."""
        now = self._clock.now_ms()
        self.next_discover_ms = now + self._discover_every_ms
        await self.markets.discover(set(self._dates()), [g.state for g in self._today()], now)

    async def run(self) -> None:
        """Poll on the tier's schedule and re-match every few minutes, until cancelled. A key
        balldontlie rejects stops the NBA side with a log line; the app keeps running."""
        while True:
            try:
                await self.poll()
            except NbaAuthError as exc:
                self.disabled_reason = str(exc)
                log.error("NBA side stopped: %s", exc)
                return
            if self._clock.now_ms() >= self.next_discover_ms:
                try:
                    await self.discover()
                except (KalshiError, ValueError) as exc:  # REST failed or answered garbage
                    log.warning("Kalshi NBA event discovery failed: %r", exc)
            due = min(self.poller.next_due_ms(), self.next_discover_ms)
            await self._sleep(max(0, due - self._clock.now_ms()))

    # ---- views and publishing ----------------------------------------------------------------

    def _today(self) -> list[_Game]:
        dates = set(self._dates())
        games = [g for g in self.games.values() if g.state.date in dates]
        return sorted(games, key=lambda g: (g.state.start_ms or 0, g.state.game_id))

    def _line(self, game: _Game) -> int | None:
        if game.pregame_spread is not None:
            return game.pregame_spread
        if self._lines is not None and (line := self._lines(game.state.game_id)) is not None:
            return line
        spread = game.consensus.get("spread")
        return spread.line_tenths if spread is not None else None

    def _probs(self, game: _Game) -> tuple[int | None, int | None, int | None]:
        """(kalshi, consensus, fair) home win ppm."""
        s = game.state
        ml = game.consensus.get("moneyline")
        line = self._line(game)
        fair: int | None = None
        if s.status is GameStatus.FINAL or line is not None:
            fair = winprob.home_win_ppm(s, line or 0)
        return self.markets.home_win_ppm(s), (ml.fair_ppm if ml else None), fair

    def view(self, game_id: int, *, history: bool = True) -> dict[str, Any] | None:
        game = self.games.get(game_id)
        return None if game is None else self._view(game, history=history)

    def _view(
        self,
        game: _Game,
        *,
        history: bool,
        probs: tuple[int | None, int | None, int | None] | None = None,
    ) -> dict[str, Any]:
        probs = probs or self._probs(game)
        kalshi, _, fair = probs
        if history and not game.history:
            self._add_point(game, self._clock.now_ms(), probs)
        out = game_json(
            game.state,
            fair_ppm=fair,
            kalshi_ppm=kalshi,
            consensus=consensus_json(game.consensus),
            markets=self.markets.markets_json(game.state.game_id),
            freshness_ms=self.poller.freshness_ms(),
        )
        if history:
            out["history"] = [list(p) for p in game.history]
        return out

    def views(self, *, history: bool = True, date: str | None = None) -> list[dict[str, Any]]:
        games = (
            self._today()
            if date is None
            else sorted(
                (g for g in self.games.values() if g.state.date == date),
                key=lambda g: (g.state.start_ms or 0, g.state.game_id),
            )
        )
        return [self._view(g, history=history) for g in games]

    async def views_on(self, date: str) -> list[dict[str, Any]]:
        """Games of any date without history: those followed now, then stored ones."""
        views = self.views(history=False, date=date)
        known = {v["id"] for v in views}
        for g in await self._store.games_on(date):
            if g.game_id not in known:
                views.append(self._view(_Game(g), history=False))
        return views

    async def detail(self, game_id: int) -> dict[str, Any] | None:
        """One game with history, odds per book and what did not match; None if unknown."""
        game = self.games.get(game_id)
        quotes = self.quotes(game_id)
        if game is None:
            state = await self._store.game(game_id)
            if state is None:
                return None
            game = _Game(state)
            quotes = await self._store.latest_odds([game_id])
            game.consensus = {c.market: c for c in consensus(quotes)}
        view = self._view(game, history=True)
        view["odds"] = [quote_json(q) for q in quotes]
        view["unmatched"] = self.markets.unmatched_for(game_id, game.state.date)
        return view

    def quotes(self, game_id: int) -> list[OddsQuote]:
        return sorted(
            (q for (g, _, _), q in self._quotes.items() if g == game_id),
            key=lambda q: (q.vendor, q.market),
        )

    def _add_point(self, game: _Game, now_ms: int, probs: tuple[int | None, ...]) -> None:
        hist = game.history
        if hist and list(probs) == hist[-1][1:]:
            return
        if hist and now_ms - int(hist[-1][0] or 0) < game.step_ms:
            return
        hist.append([now_ms, *probs])
        if len(hist) > HISTORY_MAX:
            # keep the whole game in view: every other point goes, points come half as often
            game.history = [*hist[:-1:2], hist[-1]]
            game.step_ms *= 2

    def tick(self) -> int:
        """Publish a ``game`` message for each game that changed, at most once per second per
        game, and an ``odds`` message for each game whose quotes changed; returns messages."""
        now = self._clock.now_ms()
        sent = 0
        for game in self._today():
            probs = self._probs(game)
            self._add_point(game, now, probs)
            s = game.state
            key = (
                s.home_score,
                s.away_score,
                s.status,
                s.period,
                s.seconds_left,
                probs,
                tuple(game.consensus.items()),
                self.markets.state_key(s.game_id),
            )
            if key == game.last_key:
                continue
            if game.last_pub_ms is not None and now - game.last_pub_ms < PUBLISH_EVERY_MS:
                continue
            view = self._view(game, history=False, probs=probs)
            view["history"] = [list(p) for p in game.history if int(p[0] or 0) > game.sent_ts]
            if game.history:
                game.sent_ts = int(game.history[-1][0] or 0)
            game.last_key, game.last_pub_ms = key, now
            self._hub.publish({"type": "game", "game": view})
            sent += 1
        for gid in sorted(self._odds_changed):
            changed = self.games.get(gid)
            if changed is not None:
                self._hub.publish(
                    {
                        "type": "odds",
                        "game_id": gid,
                        "quotes": [quote_json(q) for q in self.quotes(gid)],
                        "consensus": consensus_json(changed.consensus),
                    }
                )
                sent += 1
        self._odds_changed.clear()
        return sent

    async def run_publisher(self) -> None:
        while True:
            now = self._clock.now_ms()
            await self._sleep(PUBLISH_EVERY_MS - now % PUBLISH_EVERY_MS)
            self.tick()


async def _sleep_ms(ms: int) -> None:
    await asyncio.sleep(ms / 1000)
