"""LoopWatchdog: a thread that notices when the event loop stops turning and says where it is stuck.

Contract:

- A heartbeat on the loop (a ``call_later`` chain the watchdog owns) stamps the time every
  ``threshold / 4``. A thread wakes as often; when the last stamp is older than ``threshold`` the
  loop is stalled, and the thread counts the stall and logs the loop thread's stack once, at
  WARNING, while the blocking code is most likely still on it.
- The first beat after a stall ends it. The stall lasted from the last beat before it to that
  first beat after: this over-reads the block by up to one beat interval and never under-reads it,
  so every stall counted is longer than ``threshold``.
- A block only a little longer than ``threshold`` (less than one check interval over) can end
  between two checks and go uncounted; the watchdog counts what it saw, each with its stack.
- The clock is ``time.monotonic`` unless one is injected: stalls are real time, not event time.
- The loop thread (``beat``, ``stats``) and the watchdog thread (``check``) share the counts under
  one lock, held for a few assignments and a walk of frame objects, never while logging.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

# The shape web.metrics reads (kind, name, help, read); infra does not import web.
Sample = tuple[str, str, str, Callable[[], float | int | None]]


@dataclass(frozen=True, slots=True)
class WatchdogStats:
    stalls: int
    longest_stall_ms: float  # of the stalls that have ended
    current_stall_ms: float  # 0 when the loop is turning
    last_stall_stack: str  # the loop thread's frames, outermost first, when the last stall was seen


class LoopWatchdog:
    """Counts and reports stalls of the event loop it was started on.

    ``start`` and ``stop`` are called on the loop thread (from a coroutine or a callback there).
    ``beat`` and ``check`` are what the heartbeat and the thread call; they are public so a test
    can drive them with an injected clock and no loop or thread at all.
    """

    def __init__(
        self,
        threshold: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        stack_frames: int = 20,
    ) -> None:
        if threshold <= 0:
            raise ValueError(f"threshold must be positive, got {threshold!r}")
        self.threshold = threshold
        self.interval = threshold / 4
        self._monotonic = monotonic
        self._stack_frames = stack_frames
        self._lock = threading.Lock()
        self._last_beat = monotonic()
        self._stall_since: float | None = None  # the last beat before the stall in progress
        self._stalls = 0
        self._longest_ms = 0.0
        self._last_stack = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._heartbeat: asyncio.TimerHandle | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._failure: BaseException | None = None

    def start(self) -> None:
        """Start the heartbeat on the running loop and the watchdog thread."""
        if self._thread is not None:
            raise RuntimeError("loop watchdog already started")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping.clear()
        self._failure = None
        self._tick()
        self._thread = threading.Thread(target=self._run, name="loop-watchdog", daemon=True)
        self._thread.start()
        log.info("loop watchdog started: threshold %.0f ms", self.threshold * 1000)

    def stop(self) -> None:
        """Stop the heartbeat, join the thread, and re-raise what the thread died of, if it did."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()  # wakes the thread's wait at once
        thread.join()
        # The loop is turning (this runs on it): a stall the heartbeat has not closed ends here.
        self.beat()
        if self._failure is not None:
            raise RuntimeError("loop watchdog thread failed") from self._failure

    def _tick(self) -> None:
        assert self._loop is not None
        # Scheduled before the beat, so nothing the beat does can break the chain.
        self._heartbeat = self._loop.call_later(self.interval, self._tick)
        self.beat()

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.interval):
                self.check()
        except Exception as exc:
            log.exception("loop watchdog thread died")
            self._failure = exc

    def beat(self) -> None:
        """Stamp the loop as turning; the first beat after a stall ends it and records how long."""
        with self._lock:
            now = self._monotonic()
            since, self._last_beat = self._stall_since, now
            if since is None:
                return
            self._stall_since = None
            duration_ms = (now - since) * 1000
            self._longest_ms = max(self._longest_ms, duration_ms)
        log.info("event loop turned again after a %.0f ms stall", duration_ms)

    def check(self) -> None:
        """Look at the last beat once: the first look that finds it older than the threshold
        counts a stall and logs the loop thread's stack; later looks at the same stall do not."""
        with self._lock:
            now = self._monotonic()
            since = self._last_beat
            if self._stall_since is not None or now - since <= self.threshold:
                return
            self._stall_since = since
            self._stalls += 1
            stack = self._loop_stack()
            self._last_stack = stack
        log.warning(
            "event loop stalled: no turn for %.0f ms (threshold %.0f ms); loop thread at: %s",
            (now - since) * 1000,
            self.threshold * 1000,
            stack,
        )

    def _loop_stack(self) -> str:
        if self._loop_thread is None:
            return "(loop thread unknown: watchdog not started)"
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None:
            return "(loop thread not running)"
        return _format_frames(frame, self._stack_frames)

    @property
    def stats(self) -> WatchdogStats:
        with self._lock:
            since = self._stall_since
            current_ms = 0.0 if since is None else (self._monotonic() - since) * 1000
            return WatchdogStats(
                stalls=self._stalls,
                longest_stall_ms=self._longest_ms,
                current_stall_ms=current_ms,
                last_stall_stack=self._last_stack,
            )

    def as_dict(self) -> dict[str, Any]:
        """The stats as plain JSON values, for /api/stats."""
        s = self.stats
        return {
            "stalls": s.stalls,
            "longest_stall_ms": round(s.longest_stall_ms, 1),
            "current_stall_ms": round(s.current_stall_ms, 1),
            "last_stall_stack": s.last_stall_stack,
        }

    def samples(self) -> list[Sample]:
        """The stall counts in the shape web.metrics.Metrics reads, for /metrics."""
        return [
            (
                "counter",
                "flowboard_loop_stalls",
                "Event loop stalls longer than the watchdog threshold",
                lambda: self.stats.stalls,
            ),
            (
                "gauge",
                "flowboard_loop_longest_stall_ms",
                "Longest event loop stall, ms",
                lambda: self.stats.longest_stall_ms,
            ),
        ]


def _format_frames(frame: FrameType, limit: int) -> str:
    """The innermost ``limit`` frames as one line, outermost first: ``file:line function > ...``.

    Built from the frame objects alone (no source lines, so no file reads under the lock), and
    escaped so that nothing in a file or function name can break the log line.
    """
    roots = sorted((os.path.join(os.path.abspath(p), "") for p in sys.path), key=len, reverse=True)
    inner_first = [
        f"{_short_path(f.f_code.co_filename, roots)}:{lineno} {f.f_code.co_qualname}"
        for f, lineno in itertools.islice(traceback.walk_stack(frame), limit)
    ]
    return " > ".join(_escape(text) for text in reversed(inner_first))


def _short_path(filename: str, roots: list[str]) -> str:
    """The file as its import path sees it (``asyncio/events.py``), to keep the line short."""
    for root in roots:
        if filename.startswith(root):
            return filename[len(root) :]
    return filename


def _escape(text: str) -> str:
    return "".join(
        ch if ch.isprintable() and ch != "\\" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )
