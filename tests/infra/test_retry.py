"""The retry policy: delays, jitter, Retry-After, what is retried and what is raised."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from infra.retry import RetryConfig, RetryPolicy, parse_retry_after, retryable_status
from tests.infra.sleeps import RecordedSleep

NOW_S = 1_781_000_000.0


def policy(
    sleep: RecordedSleep, *, max_attempts: int = 4, retry_after_cap_s: float = 60.0
) -> RetryPolicy:
    config = RetryConfig(base_s=1.0, cap_s=8.0, jitter=0.0, max_attempts=max_attempts,
                         retry_after_cap_s=retry_after_cap_s)  # fmt: skip
    return RetryPolicy(config, name="test", sleep=sleep, rng=random.Random(3), now_s=lambda: NOW_S)


class Upstream:
    """Answers each attempt with the next scripted response (or raises it)."""

    def __init__(self, *script: httpx.Response | Exception) -> None:
        self.script = list(script)
        self.calls = 0

    async def __call__(self) -> httpx.Response:
        item = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(item, Exception):
            raise item
        return item


def test_delays_grow_by_the_factor_and_stop_at_the_cap() -> None:
    config = RetryConfig(base_s=0.5, cap_s=4.0, factor=2.0, jitter=0.0)
    assert [config.ceiling_s(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert config.ceiling_s(10_000) == 4.0  # a reconnect loop's attempt count never overflows
    assert RetryConfig(base_s=2.0, cap_s=9.0, factor=1.0).ceiling_s(50) == 2.0
    p = RetryPolicy(config, name="t", rng=random.Random(1))
    assert [p.delay_s(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_jitter_takes_at_most_its_fraction_off() -> None:
    config = RetryConfig(base_s=0.5, cap_s=4.0, jitter=0.5)
    p = RetryPolicy(config, name="t", rng=random.Random(7))
    for attempt, top in [(0, 0.5), (1, 1.0), (3, 4.0), (40, 4.0)]:
        delays = [p.delay_s(attempt) for _ in range(200)]
        assert all(top * 0.5 <= d <= top for d in delays)
        assert len(set(delays)) > 100
        assert min(delays) < top * 0.6 and max(delays) > top * 0.9  # the whole band is used


@pytest.mark.parametrize(
    "bad",
    [
        {"base_s": 0.0},
        {"base_s": 2.0, "cap_s": 1.0},
        {"cap_s": float("inf")},
        {"factor": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"max_attempts": 0},
        {"retry_after_cap_s": -1.0},
    ],
)
def test_config_is_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryConfig(**bad)  # type: ignore[arg-type]


def test_retryable_statuses() -> None:
    assert [s for s in (200, 400, 401, 403, 404, 409, 429, 500, 502, 503, 599) if
            retryable_status(s)] == [429, 500, 502, 503, 599]  # fmt: skip


def test_retry_after_forms() -> None:
    assert parse_retry_after("120", now_s=NOW_S) == 120.0
    date = format_datetime(datetime.fromtimestamp(NOW_S + 30, UTC), usegmt=True)
    assert parse_retry_after(date, now_s=NOW_S) == 30.0
    assert parse_retry_after(date, now_s=NOW_S + 100) == 0.0  # a date in the past: no wait
    assert parse_retry_after("soon", now_s=NOW_S) is None
    assert parse_retry_after("-5", now_s=NOW_S) is None


async def test_retries_network_errors_429_and_5xx_then_succeeds() -> None:
    sleep = RecordedSleep()
    up = Upstream(
        httpx.ConnectError("refused"),
        httpx.Response(429),
        httpx.Response(502),
        httpx.Response(200, text="ok"),
    )
    resp = await policy(sleep).send(up, what="GET /x")
    assert resp.text == "ok" and up.calls == 4
    assert sleep.delays == [1.0, 2.0, 4.0]


async def test_retry_after_is_honoured_and_capped() -> None:
    sleep = RecordedSleep()
    up = Upstream(
        httpx.Response(429, headers={"Retry-After": "5"}),  # longer than the 1 s backoff
        httpx.Response(503, headers={"Retry-After": "3600"}),  # capped
        httpx.Response(500, headers={"Retry-After": "7"}),  # only 429/503 are read
        httpx.Response(200),
    )
    await policy(sleep, retry_after_cap_s=20.0).send(up, what="GET /x")
    assert sleep.delays == [5.0, 20.0, 4.0]


async def test_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    sleep = RecordedSleep()
    up = Upstream(httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0"}),
                  httpx.Response(200))  # fmt: skip
    await policy(sleep).send(up, what="GET /x")
    assert sleep.delays == [1.0, 2.0]


async def test_retry_after_as_a_date_counts_from_the_servers_date_header() -> None:
    sleep = RecordedSleep()

    def http_date(s: float) -> str:
        return format_datetime(datetime.fromtimestamp(s, UTC), usegmt=True)

    up = Upstream(
        # the server's clock runs 1000 s behind ours: its Date header is the reference
        httpx.Response(
            429, headers={"Retry-After": http_date(NOW_S - 988), "Date": http_date(NOW_S - 1000)}
        ),
        httpx.Response(429, headers={"Retry-After": http_date(NOW_S + 9)}),  # no Date: ours
        httpx.Response(200),
    )
    await policy(sleep).send(up, what="GET /x")
    assert sleep.delays == [12.0, 9.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_auth_and_other_4xx_are_returned_without_retry(status: int) -> None:
    sleep = RecordedSleep()
    up = Upstream(httpx.Response(status), httpx.Response(200))
    resp = await policy(sleep).send(up, what="GET /x")
    assert resp.status_code == status and up.calls == 1 and sleep.delays == []


async def test_exhausted_attempts_give_back_the_last_response() -> None:
    sleep = RecordedSleep()
    up = Upstream(httpx.Response(503), httpx.Response(503), httpx.Response(429, text="last"))
    resp = await policy(sleep, max_attempts=3).send(up, what="GET /x")
    assert (resp.status_code, resp.text) == (429, "last")
    assert up.calls == 3 and sleep.delays == [1.0, 2.0]


async def test_exhausted_attempts_raise_the_last_network_error() -> None:
    sleep = RecordedSleep()
    up = Upstream(httpx.Response(500), httpx.ConnectError("first"), httpx.ReadTimeout("last"))
    with pytest.raises(httpx.ReadTimeout, match="last"):
        await policy(sleep, max_attempts=3).send(up, what="GET /x")
    assert up.calls == 3 and len(sleep.delays) == 2


async def test_errors_other_than_network_errors_are_not_retried() -> None:
    sleep = RecordedSleep()
    up = Upstream(RuntimeError("a bug"), httpx.Response(200))
    with pytest.raises(RuntimeError):
        await policy(sleep).send(up, what="GET /x")
    assert up.calls == 1 and sleep.delays == []


async def test_one_attempt_means_no_retry() -> None:
    sleep = RecordedSleep()
    up = Upstream(httpx.Response(503), httpx.Response(200))
    resp = await policy(sleep, max_attempts=1).send(up, what="GET /x")
    assert resp.status_code == 503 and sleep.delays == []


async def test_wait_sleeps_the_policy_delay() -> None:
    sleep = RecordedSleep()
    p = policy(sleep)
    for attempt in range(5):
        await p.wait(attempt)
    assert sleep.delays == [1.0, 2.0, 4.0, 8.0, 8.0]
