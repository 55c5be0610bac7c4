"""The health rules on a ManualClock, with the feed's and the poller's own stats objects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from clock import ManualClock
from infra.tasks import TaskOwner
from kalshi_client import FeedStats
from models import FeedState
from nba.client import NbaClient
from nba.errors import NbaAuthError, NbaHttpError
from nba.poll import NbaPoller
from trade_processor import PipelineStats
from web.health import NBA_FAILED_POLLS, Health

T0 = 1_781_391_600_000  # 2026-06-13T23:00:00Z
LIMIT = 60_000


async def _no_sleep(ms: int) -> None:
    return None


@dataclass
class Nba:
    poller: NbaPoller
    disabled_reason: str | None = None


def poller(clock: ManualClock) -> NbaPoller:
    return NbaPoller(cast(NbaClient, None), clock, _no_sleep, lambda: ["2026-06-13"])


def health(
    clock: ManualClock,
    *,
    source: str = "live",
    feed: FeedStats | None = None,
    pipeline: PipelineStats | None = None,
    nba: Nba | None = None,
    tasks: TaskOwner | None = None,
) -> Health:
    return Health(clock=clock, source=source, tasks=tasks or TaskOwner(),
                  pipeline=pipeline or PipelineStats(), feed=feed, nba=nba,
                  stale_after_ms=LIMIT)  # fmt: skip


def connected(p: PipelineStats, feed: FeedStats, at_ms: int) -> None:
    feed.connected, feed.since_ms, feed.last_frame_recv_ms = True, at_ms, at_ms
    p.state = FeedState.CONNECTED


def test_a_feed_hearing_frames_is_healthy_and_silence_past_the_limit_is_not() -> None:
    clock, feed, p = ManualClock(T0), FeedStats(), PipelineStats()
    h = health(clock, feed=feed, pipeline=p)
    connected(p, feed, T0)
    clock.advance(LIMIT - 1)
    report = h.report()
    assert report["ok"] is True and report["reasons"] == []
    check = report["checks"]["kalshi_feed"]
    assert (check["state"], check["since_ms"], check["quiet_ms"]) == ("connected", T0, LIMIT - 1)
    clock.advance(1)
    assert h.report()["reasons"] == [
        "kalshi feed silent: connected but no frame for 60 s (limit 60 s)"
    ]
    feed.last_frame_recv_ms = clock.now_ms()  # a frame: healthy again
    assert h.report()["ok"] is True


def test_a_disconnected_feed_says_since_when_and_why() -> None:
    clock, feed, p = ManualClock(T0), FeedStats(), PipelineStats()
    h = health(clock, feed=feed, pipeline=p)
    connected(p, feed, T0)
    clock.advance(5_000)
    feed.connected, feed.since_ms, feed.reconnects = False, clock.now_ms(), 4
    feed.last_error = "ConnectionRefusedError: [Errno 111] Connect call failed"
    p.state, p.state_detail = FeedState.RECONNECTING, "attempt 4"
    assert h.report()["ok"] is True  # within the limit, a reconnect is the feed's business
    clock.advance(55_000)
    report = h.report()
    assert report["reasons"] == [
        "kalshi feed disconnected since 2026-06-13T23:00:05Z and reconnecting: no frame for 60 s "
        "(limit 60 s), 4 reconnects; last error: ConnectionRefusedError: [Errno 111] Connect "
        "call failed"
    ]
    check = report["checks"]["kalshi_feed"]
    assert (check["ok"], check["state"], check["since_ms"]) == (False, "reconnecting", T0 + 5_000)


def test_the_limit_counts_from_start_up_and_an_auth_failure_is_red_at_once() -> None:
    clock, feed, p = ManualClock(T0), FeedStats(), PipelineStats()
    h = health(clock, feed=feed, pipeline=p)
    clock.advance(LIMIT - 1)
    assert h.report()["ok"] is True  # never connected yet, but the first try has the limit
    clock.advance(1)
    assert h.report()["reasons"][0].startswith("kalshi feed disconnected since start-up")
    clock, feed, p = ManualClock(T0), FeedStats(), PipelineStats()
    h = health(clock, feed=feed, pipeline=p)
    feed.last_error = "websocket handshake rejected: HTTP 401: bad key"
    p.state = FeedState.FAILED
    assert h.report()["reasons"] == [
        "kalshi feed stopped: websocket handshake rejected: HTTP 401: bad key"
    ]


def test_a_replay_has_no_feed_to_watch() -> None:
    clock, p = ManualClock(T0), PipelineStats()
    h = health(clock, source="replay", pipeline=p)
    clock.advance(10 * LIMIT)
    assert h.report()["ok"] is True
    assert h.report()["checks"]["replay"]["state"] == "replaying"
    p.state = FeedState.STOPPED
    assert h.report()["checks"]["replay"]["state"] == "finished"
    assert "kalshi_feed" not in h.report()["checks"]


async def test_a_dead_task_is_named() -> None:
    clock, tasks = ManualClock(T0), TaskOwner()

    async def boom() -> None:
        raise RuntimeError("disk full")

    task = tasks.start("db-writer", boom())
    await asyncio.wait([task])
    report = health(clock, source="replay", tasks=tasks).report()
    assert report["reasons"] == ["background task died: db-writer (RuntimeError('disk full'))"]
    assert report["checks"]["tasks"]["failed"] == ["db-writer"]


def test_balldontlie_failing_n_polls_in_a_row_is_red_until_one_succeeds() -> None:
    clock = ManualClock(T0)
    nba = Nba(poller(clock))
    h = health(clock, source="replay", nba=nba)
    nba.poller.record_ok("scores")
    assert h.report()["checks"]["balldontlie"]["state"] == "ok"
    for n in range(1, NBA_FAILED_POLLS):
        clock.advance(5_000)
        nba.poller.record_failure("scores", NbaHttpError(0, "/v1/games: HTTP 503"))
        check: dict[str, Any] = h.report()["checks"]["balldontlie"]
        assert (check["ok"], check["state"], check["since_ms"]) == (True, "retrying", T0 + 5_000)
        assert check["failures_in_row"]["scores"] == n
    clock.advance(5_000)
    nba.poller.record_failure("scores", NbaHttpError(0, "/v1/games: HTTP 503"))
    report = h.report()
    assert report["reasons"] == [
        "balldontlie scores: the last 3 requests failed (since 2026-06-13T23:00:05Z): "
        "balldontlie HTTP 0: /v1/games: HTTP 503"
    ]
    assert report["checks"]["balldontlie"]["failures_in_row"] == {"scores": 3, "odds": 0}
    nba.poller.record_ok("scores")
    assert h.report()["ok"] is True


def test_balldontlie_refusing_the_key_is_red_and_odds_off_for_the_tier_is_not() -> None:
    clock = ManualClock(T0)
    nba = Nba(poller(clock))
    h = health(clock, source="replay", nba=nba)
    nba.poller.odds_disabled_reason = "odds are not in this tier"
    assert h.report()["ok"] is True
    nba.poller.record_failure("odds", NbaAuthError("odds refused"))
    assert h.report()["ok"] is True  # only scores decide whether the key works
    nba.poller.record_failure("scores", NbaAuthError("balldontlie rejected the API key"))
    assert h.report()["reasons"] == ["balldontlie: balldontlie rejected the API key"]
    assert h.report()["checks"]["balldontlie"]["state"] == "auth_error"
    nba.disabled_reason = "balldontlie rejected the API key"  # the poll loop stopped on it
    nba.poller.record_ok("scores")
    assert h.report()["ok"] is False
