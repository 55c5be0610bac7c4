"""Polls balldontlie on a schedule set by the key's tier; emits only what changed.

Tier request limits (balldontlie account tiers): Free 5/min, ALL-STAR 60/min, GOAT 600/min.
Scores come from ``/v1/games?dates[]=`` (it carries score, period and clock with the game id);
odds from ``/v2/odds?dates[]=``. A 429 that outlasts the client's retries doubles that source's
interval (up to 8x) until a request succeeds; odds refused for the key's tier are switched off.
Each source's failures in a row (polls and refreshes alike) are kept with since-when and the last
error, for the app's health; a key refused for scores is kept as ``auth_error``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from clock import Clock
from models import GameState, OddsQuote
from nba.client import NbaClient, Sleeper
from nba.errors import NbaAuthError, NbaError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TierPlan:
    name: str
    requests_per_min: int
    scores_every_ms: int
    odds_every_ms: int | None  # None: odds not polled at this tier


TIERS: dict[str, TierPlan] = {
    "free": TierPlan("free", 5, 30_000, None),
    "all-star": TierPlan("all-star", 60, 10_000, 30_000),
    "goat": TierPlan("goat", 600, 5_000, 10_000),
}


def budget_for(tier: str, rate_per_s: float, burst: int) -> tuple[float, int]:
    """The request budget (rate a second, burst) for a key of ``tier``: what is asked for, but
    never more than half the tier's limit, the headroom the poll schedules keep too."""
    half_per_min = TIERS[tier].requests_per_min / 2
    return min(rate_per_s, half_per_min / 60), max(1, min(burst, int(half_per_min)))


SCORES = "scores"
ODDS = "odds"
MAX_SLOWDOWN = 8


def _game_key(g: GameState) -> tuple[object, ...]:
    return (g.home_score, g.away_score, g.status, g.period, g.seconds_left, g.start_ms)


def _odds_key(q: OddsQuote) -> tuple[object, ...]:
    return (q.home_odds, q.away_odds, q.line_tenths, q.over_odds, q.under_odds)


class Changes:
    """What changed since the last games and quotes seen: the poller emits only these, and a
    replay of recorded responses filters them the same way, so it applies what the live run did."""

    def __init__(self) -> None:
        self._games: dict[int, tuple[object, ...]] = {}
        self._odds: dict[tuple[int, str, str], tuple[object, ...]] = {}

    def changed(self, items: Iterable[GameState | OddsQuote]) -> list[GameState | OddsQuote]:
        out: list[GameState | OddsQuote] = []
        for item in items:
            if type(item) is GameState:
                key = _game_key(item)
                if self._games.get(item.game_id) != key:
                    self._games[item.game_id] = key
                    out.append(item)
            elif type(item) is OddsQuote:
                k, key = (item.game_id, item.vendor, item.market), _odds_key(item)
                if self._odds.get(k) != key:
                    self._odds[k] = key
                    out.append(item)
        return out


class NbaPoller:
    """``dates()`` says which US dates to follow (e.g. today and yesterday near midnight)."""

    def __init__(
        self,
        client: NbaClient | None,  # None: nothing to poll (a replay)
        clock: Clock,
        sleeper: Sleeper,
        dates: Callable[[], list[str]],
        *,
        tier: str = "goat",
    ) -> None:
        if tier not in TIERS:
            raise ValueError(f"unknown balldontlie tier {tier!r}; one of {sorted(TIERS)}")
        self.plan = TIERS[tier]
        self._client = client
        self._clock = clock
        self._sleep = sleeper
        self._dates = dates
        self.changes = Changes()
        self._next: dict[str, int] = {SCORES: 0}
        if self.plan.odds_every_ms is not None:
            self._next[ODDS] = 0
        self._slowdown = {SCORES: 1, ODDS: 1}
        self.last_ok_ms: dict[str, int | None] = {SCORES: None, ODDS: None}
        self.errors: dict[str, int] = {SCORES: 0, ODDS: 0}
        self.failures_in_row: dict[str, int] = {SCORES: 0, ODDS: 0}
        self.failing_since_ms: dict[str, int | None] = {SCORES: None, ODDS: None}
        self.last_error: dict[str, str] = {SCORES: "", ODDS: ""}
        self.auth_error: str | None = None  # balldontlie refused the key for scores
        self.odds_disabled_reason: str | None = None

    def record_ok(self, source: str) -> None:
        """A request to ``source`` (a poll or a refresh) succeeded now."""
        self.last_ok_ms[source] = self._clock.now_ms()
        self.failures_in_row[source] = 0
        self.failing_since_ms[source] = None
        if source == SCORES:
            self.auth_error = None

    def record_failure(self, source: str, exc: NbaError) -> None:
        """A request to ``source`` failed now (after the client's own retries)."""
        self.failures_in_row[source] += 1
        if self.failing_since_ms[source] is None:
            self.failing_since_ms[source] = self._clock.now_ms()
        self.last_error[source] = str(exc)
        if source == SCORES and isinstance(exc, NbaAuthError):
            self.auth_error = str(exc)

    def interval_ms(self, source: str) -> int:
        base = self.plan.scores_every_ms if source == SCORES else self.plan.odds_every_ms
        assert base is not None
        return base * self._slowdown[source]

    def next_due_ms(self) -> int:
        return min(self._next.values())

    def freshness_ms(self) -> dict[str, int | None]:
        """Per source, ms since its last good update (None: never)."""
        now = self._clock.now_ms()
        return {s: None if t is None else now - t for s, t in self.last_ok_ms.items()}

    async def _fetch(self, source: str) -> list[GameState | OddsQuote]:
        if self._client is None:
            raise NbaError("no balldontlie client to poll")
        dates = self._dates()
        if source == SCORES:
            return self.changes.changed(await self._client.games(dates))
        return self.changes.changed(await self._client.odds(dates=dates))

    async def poll_due(self) -> list[GameState | OddsQuote]:
        """Run every source that is due now; returns only new or changed games and quotes."""
        out: list[GameState | OddsQuote] = []
        for source in list(self._next):
            now = self._clock.now_ms()
            if self._next[source] > now:
                continue
            try:
                out.extend(await self._fetch(source))
            except NbaAuthError as exc:
                if source == SCORES:
                    self.record_failure(source, exc)
                    raise
                self.odds_disabled_reason = str(exc)
                del self._next[ODDS]
                log.warning("odds polling off: %s", exc)
                continue
            except NbaError as exc:
                self.errors[source] += 1
                self.record_failure(source, exc)
                self._slowdown[source] = min(MAX_SLOWDOWN, self._slowdown[source] * 2)
                log.warning(
                    "balldontlie %s poll failed (%s); interval now %d ms",
                    source,
                    exc,
                    self.interval_ms(source),
                )
            else:
                self._slowdown[source] = 1
                self.record_ok(source)
            self._next[source] = now + self.interval_ms(source)
        return out

    async def run(self, emit: Callable[[GameState | OddsQuote], None], stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; auth failure on scores propagates."""
        while not stop.is_set():
            for item in await self.poll_due():
                emit(item)
            wait = max(0, self.next_due_ms() - self._clock.now_ms())
            if stop.is_set():
                return
            await self._sleep(wait)
