"""The NBA side of the app at its edge: polls balldontlie and puts what changed on the pipeline's
queue as events, matches Kalshi's NBA events to the games, follows their order books, stores
games and odds as the pipeline hands them back, and publishes ``game``/``odds`` messages.

What the app knows of the games is ``NbaState`` (``nba.state``), fed by the pipeline; this
service reads it for its views and messages. Probabilities are integer ppm, prices centicents,
points tenths.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clock import Clock
from infra.coalesce import CoalescedCall
from kalshi_client import KalshiError
from models import Event, GameState, MatchedMarket, NbaMarketsMatched, OddsQuote
from nba.client import NbaClient, Sleeper
from nba.errors import NbaAuthError, NbaError
from nba.kalshi_markets import KalshiSide, NbaMarkets
from nba.poll import ODDS, SCORES, NbaPoller
from nba.state import NbaState
from nba.store import NbaStore
from nba.views import consensus_json, follow_dates, game_json, quote_json
from websocket_handler import Hub

log = logging.getLogger(__name__)

HISTORY_MAX = 720
PUBLISH_EVERY_MS = 1_000
DISCOVER_EVERY_MS = 120_000
REFRESH_EVERY_MS = 10_000
STORE_KINDS: tuple[type, ...] = (GameState, OddsQuote)
"""The events ``NbaService.on_event`` stores (its pipeline listener's ``kinds``)."""

Probs = tuple[int | None, int | None, int | None]


@dataclass
class _Published:
    """What the publisher has drawn and sent of one game (its chart's points)."""

    history: list[list[int | None]] = field(default_factory=list)
    step_ms: int = PUBLISH_EVERY_MS
    sent_ts: int = -1
    last_pub_ms: int | None = None
    last_key: tuple[object, ...] | None = None


class NbaService:
    """``emit`` puts an event on the pipeline's queue without waiting (``put_nowait``): a full
    queue (``asyncio.QueueFull``) is counted in ``events_dropped`` and logged, never waited on.
    The pipeline hands the events back to ``state`` and to ``on_event`` (storage); what discovery
    matched goes the same way, as an ``NbaMarketsMatched`` event.

    Without a ``client`` (a replay: the recording holds balldontlie's answers and the matches,
    and the pipeline applies them) nothing is polled: ``run`` returns, ``refresh`` raises."""

    def __init__(
        self,
        *,
        client: NbaClient | None,
        store: NbaStore,
        hub: Hub,
        clock: Clock,
        emit: Callable[[Event], None],
        state: NbaState | None = None,
        kalshi: KalshiSide | None = None,
        tier: str = "goat",
        sleeper: Sleeper | None = None,
        dates: Callable[[], list[str]] | None = None,
        discover_every_ms: int = DISCOVER_EVERY_MS,
        refresh_every_ms: int = REFRESH_EVERY_MS,
    ) -> None:
        self._client = client
        self.store = store  # the NBA tables, on the database's one writer
        self._hub = hub
        self._clock = clock
        self._emit = emit
        self.state = state if state is not None else NbaState()
        self.markets = NbaMarkets(kalshi or KalshiSide(), store, self.state, self._matched)
        self._sleep = sleeper or _sleep_ms
        self._dates = dates or (lambda: follow_dates(clock.now_ms()))
        self._discover_every_ms = discover_every_ms
        self.poller = NbaPoller(client, clock, self._sleep, self._dates, tier=tier)
        self._published: dict[int, _Published] = {}
        # games polled but maybe not applied yet (the pipeline applies them after the poll
        # returns): discovery matches them too
        self._fresh: dict[int, GameState] = {}
        self.next_discover_ms = 0
        self.events_dropped = 0
        self.disabled_reason: str | None = None
        self.refresher = CoalescedCall(
            self.refresh, clock=clock, min_interval_ms=refresh_every_ms, name="NBA refresh"
        )

    # ---- inputs ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Today's games and their latest odds from storage into the state, before the first
        poll (they are stored already: they do not go through the pipeline again)."""
        items: list[GameState | OddsQuote] = []
        for date in self._dates():
            items += await self.store.games_on(date)
        items += await self.store.latest_odds([g.game_id for g in items])
        for item in items:
            self.state.on_event(item)
        self.state.odds_changed.clear()

    def _matched(self, markets: tuple[MatchedMarket, ...]) -> None:
        now = self._clock.now_ms()  # after discovery's requests: when the answer is in
        self._put([NbaMarketsMatched(markets, now, now)])

    def _put(self, items: Sequence[Event]) -> None:
        for item in items:
            try:
                self._emit(item)
            except asyncio.QueueFull:
                self.events_dropped += 1
                if self.events_dropped == 1 or self.events_dropped % 100 == 0:
                    log.warning(
                        "event queue full: NBA %s dropped (%d so far)",
                        type(item).__name__,
                        self.events_dropped,
                    )

    def on_event(self, event: Event) -> None:
        """Pipeline listener (``STORE_KINDS``): stores games and odds in event order; a game not
        matched to Kalshi yet brings the next discovery forward."""
        if type(event) is GameState:
            known = event.game_id in self.state.games
            self.store.add_game(event)
            if not known and event.game_id not in self.markets.report.matched.values():
                self.next_discover_ms = min(self.next_discover_ms, event.recv_ms)
        elif type(event) is OddsQuote:
            self.store.add_quote(event)

    # ---- polling and matching ----------------------------------------------------------------

    async def poll(self) -> int:
        """Poll the sources that are due; returns how many games and quotes changed."""
        items = await self.poller.poll_due()
        self._put(items)
        self._fresh.update((i.game_id, i) for i in items if type(i) is GameState)
        return len(items)

    async def refresh(self) -> dict[str, Any]:
        """Poll balldontlie now (scores and odds), then match Kalshi's events again."""
        if self._client is None:
            raise NbaError("no balldontlie in a replay: the recording holds the night")
        dates = self._dates()
        poller = self.poller
        try:
            games = await self._client.games(dates)
        except NbaError as exc:
            poller.record_failure(SCORES, exc)
            raise
        poller.record_ok(SCORES)
        items: list[GameState | OddsQuote] = list(games)
        if poller.plan.odds_every_ms is not None and poller.odds_disabled_reason is None:
            try:
                items += await self._client.odds(dates=dates)
                poller.record_ok(ODDS)
            except NbaError as exc:
                poller.record_failure(ODDS, exc)
                log.warning("odds refresh failed: %s", exc)
        self._put(poller.changes.changed(items))  # as the poller would: a replay filters alike
        self._fresh.update((g.game_id, g) for g in games)
        await self.discover()
        report = self.markets.report
        return {
            "games": len({g.game_id for g in games if g.date in set(dates)}),
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
        """Find Kalshi's NBA events of the followed dates, match them to the games of those
        dates (the state's, and those just polled), follow their books."""
        now = self._clock.now_ms()
        self.next_discover_ms = now + self._discover_every_ms
        dates = set(self._dates())
        games = {g.game_id: g for g in self._fresh.values() if g.date in dates}
        games |= {g.game_id: g for g in self._today()}
        self._fresh.clear()
        await self.markets.discover(dates, list(games.values()), now)

    async def run(self) -> None:
        """Poll on the tier's schedule and re-match every few minutes, until cancelled. A key
        balldontlie rejects stops the NBA side with a log line; the app keeps running."""
        if self._client is None:
            return
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

    def _on(self, date: str | None = None) -> list[GameState]:
        dates = set(self._dates()) if date is None else {date}
        games = [g for g in self.state.games.values() if g.date in dates]
        return sorted(games, key=lambda g: (g.start_ms or 0, g.game_id))

    def _today(self) -> list[GameState]:
        return self._on()

    def _probs(self, state: NbaState, game_id: int) -> Probs:
        """(kalshi, consensus, fair) home win ppm."""
        kalshi = self.markets.home_win_ppm(game_id)  # markets are followed for live games only
        return kalshi, state.consensus_home_ppm(game_id), state.home_win_ppm(game_id)

    def view(self, game_id: int, *, history: bool = True) -> dict[str, Any] | None:
        if game_id not in self.state.games:
            return None
        return self._view(self.state, game_id, history=history)

    def _view(
        self, state: NbaState, game_id: int, *, history: bool, probs: Probs | None = None
    ) -> dict[str, Any]:
        probs = probs or self._probs(state, game_id)
        kalshi, _, fair = probs
        # a stored game that is not followed has no chart kept: its one point is drawn now
        pub = (
            self._published.setdefault(game_id, _Published())
            if state is self.state
            else _Published()
        )
        if history and not pub.history:
            self._add_point(pub, self._clock.now_ms(), probs)
        out = game_json(
            state.games[game_id],
            fair_ppm=fair,
            kalshi_ppm=kalshi,
            consensus=consensus_json(state.consensus.get(game_id, {})),
            markets=self.markets.markets_json(game_id),
            freshness_ms=self.poller.freshness_ms(),
        )
        if history:
            out["history"] = [list(p) for p in pub.history]
        return out

    def views(self, *, history: bool = True, date: str | None = None) -> list[dict[str, Any]]:
        return [self._view(self.state, g.game_id, history=history) for g in self._on(date)]

    async def views_on(self, date: str) -> list[dict[str, Any]]:
        """Games of any date without history: those followed now, then stored ones."""
        views = self.views(history=False, date=date)
        known = {v["id"] for v in views}
        for g in await self.store.games_on(date):
            if g.game_id not in known:
                views.append(self._view(_stored(g, [], self.state), g.game_id, history=False))
        return views

    async def detail(self, game_id: int) -> dict[str, Any] | None:
        """One game with history, odds per book and what did not match; None if unknown."""
        state = self.state
        if game_id not in state.games:
            stored = await self.store.game(game_id)
            if stored is None:
                return None
            state = _stored(stored, await self.store.latest_odds([game_id]), self.state)
        view = self._view(state, game_id, history=True)
        view["odds"] = [quote_json(q) for q in state.quotes_of(game_id)]
        view["unmatched"] = self.markets.unmatched_for(game_id, state.games[game_id].date)
        return view

    def quotes(self, game_id: int) -> list[OddsQuote]:
        return self.state.quotes_of(game_id)

    def _add_point(self, pub: _Published, now_ms: int, probs: Probs) -> None:
        hist = pub.history
        if hist and list(probs) == hist[-1][1:]:
            return
        if hist and now_ms - int(hist[-1][0] or 0) < pub.step_ms:
            return
        hist.append([now_ms, *probs])
        if len(hist) > HISTORY_MAX:
            # keep the whole game in view: every other point goes, points come half as often
            pub.history = [*hist[:-1:2], hist[-1]]
            pub.step_ms *= 2

    def tick(self) -> int:
        """Publish a ``game`` message for each game that changed, at most once per second per
        game, and an ``odds`` message for each game whose quotes changed; returns messages."""
        now = self._clock.now_ms()
        state = self.state
        sent = 0
        for s in self._today():
            gid = s.game_id
            pub = self._published.setdefault(gid, _Published())
            probs = self._probs(state, gid)
            self._add_point(pub, now, probs)
            key = (
                s.home_score,
                s.away_score,
                s.status,
                s.period,
                s.seconds_left,
                probs,
                tuple(state.consensus.get(gid, {}).items()),
                state.state_key(gid),
            )
            if key == pub.last_key:
                continue
            if pub.last_pub_ms is not None and now - pub.last_pub_ms < PUBLISH_EVERY_MS:
                continue
            view = self._view(state, gid, history=False, probs=probs)
            view["history"] = [list(p) for p in pub.history if int(p[0] or 0) > pub.sent_ts]
            if pub.history:
                pub.sent_ts = int(pub.history[-1][0] or 0)
            pub.last_key, pub.last_pub_ms = key, now
            self._hub.publish({"type": "game", "game": view})
            sent += 1
        for gid in sorted(state.odds_changed):
            if gid in state.games:
                self._hub.publish(
                    {
                        "type": "odds",
                        "game_id": gid,
                        "quotes": [quote_json(q) for q in state.quotes_of(gid)],
                        "consensus": consensus_json(state.consensus.get(gid, {})),
                    }
                )
                sent += 1
        state.odds_changed.clear()
        return sent

    async def run_publisher(self) -> None:
        while True:
            now = self._clock.now_ms()
            await self._sleep(PUBLISH_EVERY_MS - now % PUBLISH_EVERY_MS)
            self.tick()


def _stored(game: GameState, quotes: list[OddsQuote], live: NbaState) -> NbaState:
    """A state of one stored game (not followed now) and its stored quotes, for its view."""
    state = NbaState(lines=live.lines)
    state.on_event(game)
    for q in quotes:
        state.on_event(q)
    return state


async def _sleep_ms(ms: int) -> None:
    await asyncio.sleep(ms / 1000)
