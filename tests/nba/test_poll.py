import asyncio
from typing import cast

import pytest

from clock import ManualClock
from infra.retry import RetryPolicy
from models import GameState, GameStatus, OddsQuote
from nba.client import BALLDONTLIE_RETRY, NbaClient
from nba.errors import NbaAuthError, NbaHttpError
from nba.poll import TIERS, NbaPoller
from sim.balldontlie import SimBalldontlie
from sim.nba_games import NightSim
from tests.infra.sleeps import RecordedSleep

T0 = 1_767_830_400_000
DATE = "2026-01-07"


def retry() -> RetryPolicy:
    return RetryPolicy(BALLDONTLIE_RETRY, name="balldontlie", sleep=RecordedSleep())


async def test_poller_emits_changes_only_and_tracks_freshness() -> None:
    clock = ManualClock(T0 - 120_000)  # two minutes before tip-off
    night = NightSim(9, DATE, T0, 3, acceleration=10.0)
    sim = SimBalldontlie("KEY", 9, clock, night)
    await sim.start()
    stop = asyncio.Event()
    sleeps: list[int] = []
    emitted: list[GameState | OddsQuote] = []

    async def sleeper(ms: int) -> None:
        sleeps.append(ms)
        clock.advance(ms)
        if clock.now_ms() >= T0 + 60_000:
            stop.set()

    try:
        async with NbaClient(sim.url, "KEY", clock, retry=retry()) as client:
            poller = NbaPoller(client, clock, sleeper, lambda: [DATE], tier="goat")
            assert poller.freshness_ms() == {"scores": None, "odds": None}
            first = await poller.poll_due()
            assert sum(isinstance(x, GameState) for x in first) == 3
            assert poller.next_due_ms() == clock.now_ms() + 5_000
            # nothing moves before tip-off: a second scores poll emits nothing
            clock.advance(5_000)
            assert [x for x in await poller.poll_due() if isinstance(x, GameState)] == []
            async with asyncio.timeout(10):
                await poller.run(emitted.append, stop)
            assert set(sleeps) <= {5_000, 0}
            fresh = poller.freshness_ms()
            assert fresh["scores"] is not None and fresh["scores"] <= 5_000
            assert fresh["odds"] is not None and fresh["odds"] <= 10_000
    finally:
        await sim.stop()
    states = [x for x in emitted if isinstance(x, GameState)]
    assert any(s.status is GameStatus.LIVE and s.home_score + s.away_score > 0 for s in states)
    keys = [(s.game_id, s.home_score, s.away_score, s.period, s.seconds_left) for s in states]
    assert len(keys) == len(set(keys))  # no duplicate rows when nothing changed


def test_tier_plans_fit_their_request_limits() -> None:
    for plan in TIERS.values():
        per_min = 60_000 // plan.scores_every_ms
        if plan.odds_every_ms is not None:
            per_min += 60_000 // plan.odds_every_ms
        assert per_min * 2 <= plan.requests_per_min  # half the budget left for paging/retries
    assert TIERS["goat"].scores_every_ms == 5_000 and TIERS["goat"].odds_every_ms == 10_000
    assert TIERS["free"].odds_every_ms is None


async def test_free_tier_never_polls_odds_and_auth_failure_stops() -> None:
    clock = ManualClock(T0)
    sim = SimBalldontlie("KEY", 1, clock, NightSim(1, DATE, T0, 2))
    await sim.start()

    async def sleeper(ms: int) -> None:
        clock.advance(ms)

    try:
        async with NbaClient(sim.url, "KEY", clock, retry=retry()) as client:
            poller = NbaPoller(client, clock, sleeper, lambda: [DATE], tier="free")
            out = await poller.poll_due()
            assert out and not any(isinstance(x, OddsQuote) for x in out)
            assert poller.next_due_ms() == T0 + 30_000
        async with NbaClient(sim.url, "BAD", clock, retry=retry()) as client:
            poller = NbaPoller(client, clock, sleeper, lambda: [DATE])
            with pytest.raises(NbaAuthError):
                await poller.poll_due()
    finally:
        await sim.stop()


class FlakyClient:
    """Scores fail while ``down``; odds always answer (nothing)."""

    def __init__(self) -> None:
        self.down = True

    async def games(self, dates: list[str]) -> list[GameState]:
        if self.down:
            raise NbaHttpError(0, "/v1/games: HTTP 503")
        return []

    async def odds(self, *, dates: list[str]) -> list[OddsQuote]:
        return []


async def test_failures_in_a_row_are_kept_with_since_when_until_a_poll_succeeds() -> None:
    clock = ManualClock(T0)
    client = FlakyClient()

    async def sleeper(ms: int) -> None:
        clock.advance(ms)

    p = NbaPoller(cast(NbaClient, client), clock, sleeper, lambda: [DATE], tier="goat")
    for n in (1, 2, 3):
        await p.poll_due()
        assert p.failures_in_row == {"scores": n, "odds": 0}
        assert p.failing_since_ms == {"scores": T0, "odds": None}
        clock.advance(60_000)  # past the slowed-down interval
    assert p.last_error["scores"] == "balldontlie HTTP 0: /v1/games: HTTP 503"
    assert p.errors["scores"] == 3 and p.auth_error is None
    client.down = False
    await p.poll_due()
    assert p.failures_in_row == {"scores": 0, "odds": 0}
    assert p.failing_since_ms["scores"] is None and p.last_ok_ms["scores"] == clock.now_ms()
