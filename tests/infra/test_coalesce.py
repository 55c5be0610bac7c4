"""CoalescedCall: callers share the run in progress; new runs start at most once per interval."""

from __future__ import annotations

import asyncio

import pytest

from clock import ManualClock
from infra.coalesce import CoalescedCall, TooSoon


class Upstream:
    """A call that runs until the test releases it; counts its runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> dict[str, int]:
        self.runs += 1
        self.started.set()
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {"run": self.runs}


def coalesced(
    up: Upstream, clock: ManualClock, interval_ms: int = 10_000
) -> CoalescedCall[dict[str, int]]:
    return CoalescedCall(up, clock=clock, min_interval_ms=interval_ms, name="refresh")


async def test_callers_while_it_runs_join_the_run_and_share_its_result() -> None:
    up, clock = Upstream(), ManualClock(1_000_000)
    call = coalesced(up, clock)
    callers = [asyncio.create_task(call()) for _ in range(50)]
    async with asyncio.timeout(5):
        await up.started.wait()
        assert call.running
        up.release.set()
        results = await asyncio.gather(*callers)
    assert up.runs == 1 and all(r == {"run": 1} for r in results)
    assert results[0] is results[-1]  # the very same answer
    assert (call.started, call.joined, call.refused) == (1, 49, 0)
    assert not call.running


async def test_a_new_run_waits_out_the_interval_on_the_clock() -> None:
    up, clock = Upstream(), ManualClock(1_000_000)
    up.release.set()
    call = coalesced(up, clock, interval_ms=10_000)
    assert await call() == {"run": 1}
    clock.advance(2_500)
    with pytest.raises(TooSoon) as caught:
        await call()
    assert caught.value.retry_after_ms == 7_500 and caught.value.retry_after_s == 8
    clock.advance(7_499)
    with pytest.raises(TooSoon) as caught:
        await call()
    assert caught.value.retry_after_ms == 1 and caught.value.retry_after_s == 1
    clock.advance(1)
    assert call.wait_ms() == 0
    assert await call() == {"run": 2}
    assert (call.started, call.refused) == (2, 2)


async def test_the_interval_counts_from_the_start_so_a_slow_run_is_not_followed_at_once() -> None:
    up, clock = Upstream(), ManualClock(1_000_000)
    call = coalesced(up, clock, interval_ms=10_000)
    first = asyncio.create_task(call())
    async with asyncio.timeout(5):
        await up.started.wait()
        clock.advance(4_000)  # the run takes 4 s
        up.release.set()
        await first
    with pytest.raises(TooSoon) as caught:
        await call()
    assert caught.value.retry_after_ms == 6_000


async def test_a_failed_run_fails_every_caller_and_still_counts_as_started() -> None:
    up, clock = Upstream(), ManualClock(1_000_000)
    up.fail = RuntimeError("upstream down")
    call = coalesced(up, clock)
    callers = [asyncio.create_task(call()) for _ in range(3)]
    async with asyncio.timeout(5):
        await up.started.wait()
        up.release.set()
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) and str(o) == "upstream down" for o in outcomes)
    with pytest.raises(TooSoon):
        await call()


async def test_no_interval_means_coalescing_only() -> None:
    up, clock = Upstream(), ManualClock(1_000_000)
    up.release.set()
    call = coalesced(up, clock, interval_ms=0)
    assert [await call() for _ in range(3)] == [{"run": 1}, {"run": 2}, {"run": 3}]


async def test_a_caller_that_goes_away_leaves_the_run_to_the_others() -> None:
    up, clock = Upstream(), ManualClock(1_000_000)
    call = coalesced(up, clock)
    gone = asyncio.create_task(call())
    stays = asyncio.create_task(call())
    async with asyncio.timeout(5):
        await up.started.wait()
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        up.release.set()
        assert await stays == {"run": 1}


async def test_aclose_cancels_a_run_still_going() -> None:
    up, clock = Upstream(), ManualClock(1_000_000)
    call = coalesced(up, clock)
    caller = asyncio.create_task(call())
    async with asyncio.timeout(5):
        await up.started.wait()
        await call.aclose()
        with pytest.raises(asyncio.CancelledError):
            await caller
    assert not call.running


class SetBackClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


async def test_a_clock_set_back_locks_out_for_one_interval_at_most() -> None:
    up, clock = Upstream(), SetBackClock(1_000_000)
    up.release.set()
    call = CoalescedCall(up, clock=clock, min_interval_ms=10_000, name="refresh")
    await call()
    clock.now -= 3_600_000
    assert call.wait_ms() == 10_000


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="refresh"):
        CoalescedCall(Upstream(), clock=ManualClock(0), min_interval_ms=-1, name="refresh")
