"""Whether the app is doing its job: what ``/api/health`` answers (503 naming the reasons when
not) and the per-source details ``/api/stats`` shows.

Red when any of these holds, each read on the app's clock:

- a background task died (its owner kept the exception);
- the Kalshi feed (sim or live) has received no frame for ``stale_after_ms``: disconnected and
  reconnecting, or connected and silent (Kalshi's trade channel is never quiet that long, and a
  feed that hears nothing for ``--silence-timeout`` reconnects and gets its acks again); or it
  stopped on an auth error. The limit counts from start-up at the earliest, so the first
  connection has that long;
- the NBA side is on and balldontlie is failing: the key was refused for scores, or one of its
  sources (scores, odds) failed ``NBA_FAILED_POLLS`` polls or refreshes in a row.

A warm start under way is said (check ``warm_start``, state ``warming``) but is not a failure:
the app serves while the windows fill.

A replay has no feed to watch: it is healthy while it plays and once it has finished (the
recording is all there is); only a dead task turns it red.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from clock import Clock
from infra.tasks import TaskOwner
from ingest.warm import WarmProgress
from kalshi_client import FeedStats
from models import FeedState
from nba.poll import NbaPoller
from trade_processor import PipelineStats

NBA_FAILED_POLLS = 3  # failures in a row of one balldontlie source that turn health red


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NbaSide(Protocol):
    """What health reads of the NBA side (``nba.service.NbaService`` has it)."""

    @property
    def poller(self) -> NbaPoller: ...

    @property
    def disabled_reason(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Check:
    """One source's state: ``since_ms`` is when it entered ``state`` (None: unknown or n/a);
    ``reason`` says why it is not ok (None when ok)."""

    ok: bool
    state: str
    since_ms: int | None
    detail: dict[str, Any]
    reason: str | None = None

    def json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "state": self.state,
            "since_ms": self.since_ms,
            "reason": self.reason,
            **self.detail,
        }


class Health:
    def __init__(
        self,
        *,
        clock: Clock,
        source: str,
        tasks: TaskOwner,
        pipeline: PipelineStats,
        feed: FeedStats | None,
        nba: NbaSide | None,
        stale_after_ms: int,
        warm: Callable[[], WarmProgress] | None = None,
    ) -> None:
        """``pipeline`` is the pipeline's stats (the feed state as the pipeline has seen it),
        ``feed`` the Kalshi feed's own (None for a replay); ``nba`` None: NBA side off."""
        self._clock = clock
        self._source = source
        self._tasks = tasks
        self._pipeline = pipeline
        self._feed = feed
        self._nba = nba
        self.stale_after_ms = stale_after_ms
        self._warm = warm
        self._started_ms = clock.now_ms()

    def checks(self) -> dict[str, Check]:
        now = self._clock.now_ms()
        out = {"tasks": self._check_tasks()}
        if self._source == "replay":
            out["replay"] = self._check_replay()
        elif self._feed is not None:
            out["kalshi_feed"] = self._check_feed(self._feed, now)
        if self._nba is not None:
            out["balldontlie"] = self._check_nba(self._nba)
        if self._warm is not None:
            w = self._warm()
            out["warm_start"] = Check(True, "warming" if w.warming else "done", None,
                                      {"rebuilt": w.rebuilt, "total": w.total})  # fmt: skip
        return out

    def warm(self) -> WarmProgress:
        """The warm start's progress (done at once when the app was built without one)."""
        return self._warm() if self._warm is not None else WarmProgress(False, 0, 0)

    def report(self) -> dict[str, Any]:
        """``{ok, reasons, checks: {name: {ok, state, since_ms, reason, ...}}}``."""
        checks = self.checks()
        reasons = [c.reason for c in checks.values() if c.reason is not None]
        return {
            "ok": not reasons,
            "reasons": reasons,
            "checks": {name: c.json() for name, c in checks.items()},
        }

    def _check_tasks(self) -> Check:
        failures = self._tasks.failures
        detail = {"running": self._tasks.running(), "failed": [n for n, _ in failures]}
        if not failures:
            return Check(True, "running", None, detail)
        died = ", ".join(f"{name} ({exc!r})" for name, exc in failures)
        return Check(False, "failed", None, detail, f"background task died: {died}")

    def _check_replay(self) -> Check:
        p = self._pipeline
        state = "finished" if p.state is FeedState.STOPPED else "replaying"
        return Check(True, state, None, {"detail": p.state_detail})

    def _check_feed(self, feed: FeedStats, now: int) -> Check:
        p = self._pipeline
        heard_ms = max(feed.last_frame_recv_ms or self._started_ms, self._started_ms)
        quiet_ms = now - heard_ms
        detail = {
            "connected": feed.connected,
            "last_frame_ms": feed.last_frame_recv_ms,
            "quiet_ms": quiet_ms,
            "stale_after_ms": self.stale_after_ms,
            "reconnects": feed.reconnects,
            "last_error": feed.last_error,
        }
        state, since = ("connected" if feed.connected else p.state.value), feed.since_ms
        if p.state is FeedState.FAILED:
            why = feed.last_error or p.state_detail
            return Check(False, "failed", since, detail, f"kalshi feed stopped: {why}")
        if quiet_ms < self.stale_after_ms:
            return Check(True, state, since, detail)
        limit = f"{quiet_ms / 1000:.0f} s (limit {self.stale_after_ms / 1000:g} s)"
        if feed.connected:
            reason = f"kalshi feed silent: connected but no frame for {limit}"
        else:
            down = _iso(since) if since is not None else "start-up"
            last = f"; last error: {feed.last_error}" if feed.last_error else ""
            reason = (
                f"kalshi feed disconnected since {down} and {p.state.value}: "
                f"no frame for {limit}, {feed.reconnects} reconnects{last}"
            )
        return Check(False, state, since, detail, reason)

    def _check_nba(self, nba: NbaSide) -> Check:
        poller = nba.poller
        detail: dict[str, Any] = {
            "failures_in_row": dict(poller.failures_in_row),
            "last_ok_ms": dict(poller.last_ok_ms),
            "last_error": {s: e for s, e in poller.last_error.items() if e},
            "odds_off": poller.odds_disabled_reason,
        }
        refused = nba.disabled_reason or poller.auth_error
        if refused is not None:
            return Check(False, "auth_error", poller.failing_since_ms.get("scores"), detail,
                         f"balldontlie: {refused}")  # fmt: skip
        for source, failed in poller.failures_in_row.items():
            if failed >= NBA_FAILED_POLLS:
                since = poller.failing_since_ms[source]
                when = _iso(since) if since is not None else "?"
                reason = (
                    f"balldontlie {source}: the last {failed} requests failed (since {when}): "
                    f"{poller.last_error[source]}"
                )
                return Check(False, "failing", since, detail, reason)
        if any(poller.failures_in_row.values()):
            since = min(t for t in poller.failing_since_ms.values() if t is not None)
            return Check(True, "retrying", since, detail)
        return Check(True, "ok", poller.last_ok_ms.get("scores"), detail)
