"""One run of an expensive call at a time, shared by everyone who asks while it runs, and started
at most once per interval.

``CoalescedCall()`` joins the run in progress if there is one (every caller gets the same result,
or the same exception); otherwise it starts a new run, unless the last one started less than
``min_interval_ms`` ago on ``clock``, in which case it raises ``TooSoon`` with the time left. The
run is a task of its own: a caller that goes away (a client hanging up) does not cancel it for
the others. ``aclose`` cancels and awaits a run still going, for the owner's teardown.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from clock import Clock

T = TypeVar("T")


class TooSoon(Exception):
    """A new run was asked for before ``min_interval_ms`` had passed since the last start."""

    def __init__(self, name: str, retry_after_ms: int) -> None:
        super().__init__(f"{name}: the last run started too recently; try again in "
                         f"{retry_after_ms} ms")  # fmt: skip
        self.retry_after_ms = retry_after_ms

    @property
    def retry_after_s(self) -> int:
        """Whole seconds to wait (HTTP ``Retry-After``), at least 1."""
        return max(1, math.ceil(self.retry_after_ms / 1000))


class CoalescedCall(Generic[T]):
    def __init__(
        self,
        fn: Callable[[], Coroutine[Any, Any, T]],
        *,
        clock: Clock,
        min_interval_ms: int,
        name: str,
    ) -> None:
        if min_interval_ms < 0:
            raise ValueError(f"{name}: min_interval_ms must be >= 0, not {min_interval_ms}")
        self._fn = fn
        self._clock = clock
        self.min_interval_ms = min_interval_ms
        self.name = name
        self._running: asyncio.Task[T] | None = None
        self._last_start_ms: int | None = None
        self.started = 0  # runs started
        self.joined = 0  # calls that shared a run already going
        self.refused = 0  # calls answered TooSoon

    @property
    def running(self) -> bool:
        return self._running is not None

    def wait_ms(self) -> int:
        """How long until a new run may start (0: now)."""
        if self._last_start_ms is None:
            return 0
        left = self._last_start_ms + self.min_interval_ms - self._clock.now_ms()
        # a wall clock set back must not lock the call out for longer than one interval
        return max(0, min(left, self.min_interval_ms))

    async def __call__(self) -> T:
        task = self._running
        if task is None:
            wait = self.wait_ms()
            if wait > 0:
                self.refused += 1
                raise TooSoon(self.name, wait)
            self._last_start_ms = self._clock.now_ms()
            task = self._running = asyncio.create_task(self._fn(), name=self.name)
            task.add_done_callback(self._finished)
            self.started += 1
        else:
            self.joined += 1
        # shield: one caller cancelled (its client gone) leaves the run to the others
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[T]) -> None:
        if self._running is task:
            self._running = None
        if not task.cancelled():
            task.exception()  # every caller may have gone: the outcome counts as seen

    async def aclose(self) -> None:
        task = self._running
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
