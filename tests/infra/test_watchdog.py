"""The loop watchdog: a blocked loop is reported once per stall; a turning loop never is."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from infra.watchdog import LoopWatchdog, WatchdogStats, _escape
from web.metrics import Metrics

THRESHOLD = 0.1
BOUND = 5.0  # a safety net: every wait below ends as soon as what it waits for has happened


class _ObservedWatchdog(LoopWatchdog):
    """Lets the test see each check from the watchdog thread and each beat on the loop."""

    def __init__(self, threshold: float) -> None:
        super().__init__(threshold)
        self.checks = 0
        self.checked = threading.Condition()
        self.beaten = asyncio.Event()

    def check(self) -> None:
        super().check()
        with self.checked:
            self.checks += 1
            self.checked.notify_all()

    def beat(self) -> None:
        super().beat()
        self.beaten.set()


def _block_the_loop_for_test(wd: _ObservedWatchdog, stalls: int) -> None:
    """Holds the loop thread until the watchdog has counted stall number ``stalls`` and looked at
    the still-blocked loop three more times, so a log per check would show."""
    with wd.checked:
        assert wd.checked.wait_for(lambda: wd.stats.stalls == stalls, BOUND), "stall not seen"
        seen_at = wd.checks
        assert wd.checked.wait_for(lambda: wd.checks >= seen_at + 3, BOUND), "no more checks"


def _stall_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "infra.watchdog" and r.levelno == logging.WARNING
    ]


async def test_a_blocked_loop_is_reported_with_its_stack_once_per_stall(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wd = _ObservedWatchdog(THRESHOLD)
    wd.start()
    try:
        for n in (1, 2):
            _block_the_loop_for_test(wd, n)
            wd.beaten.clear()
            # The first beat after the block is the one that ends the stall.
            await asyncio.wait_for(wd.beaten.wait(), BOUND)
            stats = wd.stats
            assert stats.stalls == n
            assert stats.current_stall_ms == 0
            assert stats.longest_stall_ms >= THRESHOLD * 1000
            assert len(_stall_records(caplog)) == n
    finally:
        wd.stop()

    records = _stall_records(caplog)
    assert all("_block_the_loop_for_test" in r.getMessage() for r in records)
    assert all("\n" not in r.getMessage() for r in records)
    assert "_block_the_loop_for_test" in wd.stats.last_stall_stack
    assert "test_a_blocked_loop_is_reported" in wd.stats.last_stall_stack
    assert wd.stats.stalls == 2


def test_a_turning_loop_records_no_stall() -> None:
    now = 0.0
    wd = LoopWatchdog(1.0, monotonic=lambda: now)
    for _ in range(40):  # ten thresholds' worth of beats a quarter threshold apart
        now += 0.25
        wd.beat()
        wd.check()
    # A check exactly one threshold after the last beat is not a stall yet.
    now += 1.0
    wd.check()
    wd.beat()
    assert wd.stats == WatchdogStats(0, 0.0, 0.0, "")


def test_a_stall_is_counted_once_and_its_length_taken_from_the_beats(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = 0.0
    wd = LoopWatchdog(1.0, monotonic=lambda: now)
    wd.beat()
    for _ in range(12):  # three seconds without a beat, looked at every quarter second
        now += 0.25
        wd.check()
    assert wd.stats.stalls == 1
    assert wd.stats.current_stall_ms == pytest.approx(3000)
    assert wd.stats.longest_stall_ms == 0
    assert len(_stall_records(caplog)) == 1

    now += 0.5
    wd.beat()
    wd.check()
    assert wd.stats.current_stall_ms == 0
    assert wd.stats.longest_stall_ms == pytest.approx(3500)

    now += 1.5  # a second, shorter stall leaves the longest alone
    wd.check()
    wd.beat()
    assert wd.stats.stalls == 2
    assert wd.stats.longest_stall_ms == pytest.approx(3500)
    assert len(_stall_records(caplog)) == 2


def test_stats_as_plain_values_and_metric_samples() -> None:
    now = 0.0
    wd = LoopWatchdog(1.0, monotonic=lambda: now)
    now += 2.0
    wd.check()
    now += 0.25
    wd.beat()
    assert wd.as_dict() == {
        "stalls": 1,
        "longest_stall_ms": 2250.0,
        "current_stall_ms": 0.0,
        "last_stall_stack": "(loop thread unknown: watchdog not started)",
    }
    body, _ = Metrics(wd.samples()).render()
    text = body.decode()
    assert "flowboard_loop_stalls_total 1.0" in text
    assert "flowboard_loop_longest_stall_ms 2250.0" in text


async def test_start_and_stop_own_the_heartbeat_and_the_thread() -> None:
    wd = LoopWatchdog(60.0)  # a long threshold: stop must not wait for the thread's next look
    wd.start()
    with pytest.raises(RuntimeError, match="already started"):
        wd.start()
    threads = [t for t in threading.enumerate() if t.name == "loop-watchdog"]
    assert len(threads) == 1
    wd.stop()
    assert not threads[0].is_alive()
    wd.stop()  # a second stop is a no-op
    assert wd.stats.stalls == 0


def test_the_stack_text_is_escaped() -> None:
    assert _escape("a\nb\\c\x1bd é") == "a\\nb\\\\c\\x1bd é"


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoopWatchdog(0)
