"""The request budget: a token bucket on an injected monotonic clock, shared through RetryPolicy."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from infra.budget import RequestBudget
from infra.retry import RetryConfig, RetryPolicy
from tests.infra.sleeps import RecordedSleep


async def one_turn() -> None:
    """Give the loop one turn, as a real sleep would; no wall time passes."""
    loop = asyncio.get_running_loop()
    turned = loop.create_future()
    loop.call_soon(turned.set_result, None)
    await turned


class FakeTime:
    """A monotonic clock that moves only when the budget sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await one_turn()


def budget(t: FakeTime, rate: float = 10.0, burst: int = 5) -> RequestBudget:
    return RequestBudget(rate, burst, name="test", monotonic=t.monotonic, sleep=t.sleep)


async def test_the_burst_is_free_then_tokens_come_at_the_rate() -> None:
    t = FakeTime()
    b = budget(t, rate=10.0, burst=5)
    times = []
    for _ in range(8):
        await b.take()
        times.append(round(t.now - 100.0, 6))
    assert times == [0, 0, 0, 0, 0, 0.1, 0.2, 0.3]
    assert t.sleeps == pytest.approx([0.1, 0.1, 0.1])  # one sleep per token waited for, no spin
    assert (b.taken, b.waited) == (8, 3)


async def test_an_idle_bucket_refills_up_to_its_burst_only() -> None:
    t = FakeTime()
    b = budget(t, rate=2.0, burst=3)
    for _ in range(3):
        await b.take()
    assert b.available() == 0
    t.now += 1.0
    assert b.available() == pytest.approx(2.0)
    t.now += 3600.0
    assert b.available() == 3.0
    for _ in range(3):
        await b.take()
    assert t.sleeps == []


async def test_concurrent_callers_queue_in_order_one_token_apart() -> None:
    t = FakeTime()
    b = budget(t, rate=4.0, burst=2)
    got: list[tuple[int, float]] = []

    async def caller(i: int) -> None:
        await b.take()
        got.append((i, round(t.now - 100.0, 6)))

    async with asyncio.timeout(5):
        await asyncio.gather(*(caller(i) for i in range(10)))
    assert [i for i, _ in got] == list(range(10))
    assert [when for _, when in got] == [0, 0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert len(t.sleeps) == 8


async def test_a_cancelled_waiter_takes_no_token_and_the_queue_moves_on() -> None:
    t = FakeTime()
    asleep, gate = asyncio.Event(), asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        t.sleeps.append(seconds)
        asleep.set()
        await gate.wait()  # the waiter stays asleep until the test lets it go
        t.now += seconds

    b = RequestBudget(1.0, 1, name="test", monotonic=t.monotonic, sleep=held_sleep)
    await b.take()
    first = asyncio.create_task(b.take())
    second = asyncio.create_task(b.take())
    async with asyncio.timeout(5):
        await asleep.wait()  # the first waiter is asleep in the bucket
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    async with asyncio.timeout(5):
        await second
    assert b.taken == 2


async def test_every_attempt_of_a_policy_takes_a_token_retries_included() -> None:
    t = FakeTime()
    b = budget(t, rate=1.0, burst=1)
    sleep = RecordedSleep()
    config = RetryConfig(base_s=1.0, cap_s=8.0, jitter=0.0, max_attempts=4)
    p = RetryPolicy(config, name="test", sleep=sleep, rng=random.Random(1), budget=b)
    answers = [httpx.Response(429), httpx.Response(503), httpx.Response(200)]

    async def attempt() -> httpx.Response:
        return answers.pop(0)

    resp = await p.send(attempt, what="GET /x")
    assert resp.status_code == 200
    assert b.taken == 3
    assert sleep.delays == [1.0, 2.0]  # the policy's own backoff, besides the budget's waits
    assert t.sleeps == pytest.approx([1.0, 1.0])


async def test_a_policy_without_a_budget_is_not_paced() -> None:
    p = RetryPolicy(RetryConfig(), name="test")
    assert p.budget is None
    resp = await p.send(lambda: _ok(), what="GET /x")
    assert resp.status_code == 200


async def _ok() -> httpx.Response:
    return httpx.Response(200)


@pytest.mark.parametrize(
    ("rate", "burst"), [(0.0, 1), (-1.0, 1), (float("inf"), 1), (float("nan"), 1), (1.0, 0)]
)
def test_a_budget_that_cannot_work_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="budget test"):
        RequestBudget(rate, burst, name="test")
