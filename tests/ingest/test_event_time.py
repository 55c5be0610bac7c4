"""Periodic work on event time: boundaries are the clock's, whatever the pace of the events."""

from __future__ import annotations

import pytest

from clock import ManualClock
from ingest.event_time import EventTimers

T0 = 1_780_000_000_250


def test_timers_run_at_each_boundary_with_the_clock_on_it() -> None:
    clock = ManualClock(T0)
    timers = EventTimers(clock)
    seen: list[tuple[str, int]] = []
    timers.every(1000, "tick", lambda: seen.append(("tick", clock.now_ms())))
    timers.every(500, "flush", lambda: seen.append(("flush", clock.now_ms())))
    timers.at(T0 + 100)
    assert seen == [] and clock.now_ms() == T0 + 100
    timers.at(T0 + 1_900)  # one event after a long pause: every boundary on the way, in order
    base = T0 - 250
    assert seen == [
        ("flush", base + 500),
        ("tick", base + 1000), ("flush", base + 1000),
        ("flush", base + 1500),
        ("tick", base + 2000), ("flush", base + 2000),
    ]  # fmt: skip
    assert clock.now_ms() == T0 + 1_900 and timers.fired == 6
    timers.at(T0 + 5)  # an event stamped earlier leaves the clock where it is
    assert clock.now_ms() == T0 + 1_900


def test_a_timer_needs_a_period() -> None:
    with pytest.raises(ValueError, match="positive"):
        EventTimers(ManualClock(T0)).every(0, "x", lambda: None)
