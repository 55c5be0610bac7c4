"""Periodic work on event time, for replays and backtests.

A replay runs as fast as it can, so periodic work (the board's 1 s tick, the hub's trade flush)
cannot wait on the wall clock: it runs from the replay's ManualClock, at the same event-time
boundaries however fast the events come. ``EventTimers.at(ms)`` is what the pipeline calls with
each event's receipt time (``Pipeline(on_event_time=timers.at)``): each timer due at or before
``ms`` runs, with the clock set to its boundary, before the clock moves on to ``ms`` and the
event is handled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clock import ManualClock


@dataclass(slots=True)
class _Timer:
    name: str
    every_ms: int
    fn: Callable[[], object]
    due_ms: int  # the next boundary


class EventTimers:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._timers: list[_Timer] = []
        self._next_due: int | None = None  # the earliest due_ms: one comparison per event
        self.fired = 0

    def every(self, every_ms: int, name: str, fn: Callable[[], object]) -> None:
        """Run ``fn`` at each multiple of ``every_ms`` of event time after the clock's now."""
        if every_ms <= 0:
            raise ValueError(f"every_ms must be positive: {every_ms}")
        first = (self.clock.now_ms() // every_ms + 1) * every_ms
        self._timers.append(_Timer(name, every_ms, fn, first))
        self._next_due = min(t.due_ms for t in self._timers)

    def at(self, ms: int) -> None:
        """Event time is ``ms`` now: run what fell due on the way, each at its boundary, then
        move the clock to ``ms`` (never back: an event stamped earlier leaves it)."""
        clock = self.clock
        if ms <= clock.now_ms():
            return
        while self._next_due is not None and self._next_due <= ms:
            due = self._next_due
            clock.set(due)
            for t in self._timers:
                if t.due_ms == due:
                    t.fn()
                    self.fired += 1
                    t.due_ms = due + t.every_ms
            self._next_due = min(t.due_ms for t in self._timers)
        clock.set(ms)

    @property
    def next_due_ms(self) -> int | None:
        """The earliest boundary a timer waits for (None: no timers): ``at`` runs nothing for
        times before it."""
        return self._next_due
