"""The one retry policy for outbound REST calls, and the delay maths every reconnect loop shares.

A small module rather than tenacity or stamina: tenacity would still need a custom wait (for
Retry-After) and retry predicate, and its waits take a call's retry state, while the feed's
reconnect loop needs the delay for an attempt number on its own.

Contract of ``RetryPolicy.send``: it makes the request up to ``max_attempts`` times. Network
errors (``httpx.TransportError``), 429 and 5xx are retried; any other answer (2xx, 401/403, other
4xx) is returned at once. When attempts run out it returns the last response, or re-raises the
last network error, so each client keeps turning those into its own error types. Attempt n
(from 0) waits ``min(cap, base * factor**n)`` shortened by up to ``jitter`` of itself at random,
or longer when a 429/503 carries ``Retry-After`` (RFC 9110 section 10.2.3; seconds or an
HTTP-date), capped at ``retry_after_cap_s``.

One policy object is built per upstream and handed to every client of it; each attempt goes
through ``send``, so the upstream's ``RequestBudget`` (``infra.budget``), when the policy has one,
is drawn from here: every attempt, retries included, first takes a token. The delays between
attempts are waited on top of that; ``wait`` (reconnect loops) takes no token.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from infra.budget import RequestBudget

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
"""Waits the given number of seconds (``asyncio.sleep``; tests record instead)."""

Request = Callable[[], Awaitable[httpx.Response]]
"""Makes one attempt; called again for each retry, so it signs afresh each time."""

RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryConfig:
    base_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5  # fraction of a delay that may be taken off at random
    max_attempts: int = 7  # the first try included; loops that never give up ignore it
    retry_after_cap_s: float = 60.0  # the longest Retry-After honoured

    def __post_init__(self) -> None:
        if not (0 < self.base_s <= self.cap_s and math.isfinite(self.cap_s)):
            raise ValueError(f"retry needs 0 < base_s <= cap_s < inf: {self}")
        if not (self.factor >= 1 and math.isfinite(self.factor)):
            raise ValueError(f"retry needs a finite factor >= 1: {self}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"retry needs 0 <= jitter <= 1: {self}")
        if self.max_attempts < 1:
            raise ValueError(f"retry needs max_attempts >= 1: {self}")
        if not (self.retry_after_cap_s >= 0 and math.isfinite(self.retry_after_cap_s)):
            raise ValueError(f"retry needs a finite retry_after_cap_s >= 0: {self}")

    def ceiling_s(self, attempt: int) -> float:
        """The delay before jitter after failed attempt ``attempt`` (0 for the first)."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, not {attempt}")
        if self.factor == 1:
            return self.base_s
        # beyond this many steps the cap holds; bounding the exponent keeps factor**n finite
        steps = math.ceil(math.log(self.cap_s / self.base_s, self.factor)) + 1
        return min(self.cap_s, self.base_s * self.factor ** min(attempt, steps))


def retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def _http_date_s(text: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 HTTP-dates are GMT; "-0000" means the zone is unknown
        return None
    return when.timestamp()


def parse_retry_after(value: str, *, now_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP-date), never
    negative; None when the value is neither."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    when = _http_date_s(text)
    return None if when is None else max(0.0, when - now_s)


class RetryPolicy:
    def __init__(
        self,
        config: RetryConfig,
        *,
        name: str,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        now_s: Callable[[], float] = time.time,
        budget: RequestBudget | None = None,
    ) -> None:
        """``name`` says which upstream in the logs; ``now_s`` dates an HTTP-date Retry-After
        when the response has no ``Date`` header to measure it from; ``budget`` is the
        upstream's request budget (None: requests are not paced)."""
        self.config = config
        self.name = name
        self.budget = budget
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._now_s = now_s

    def delay_s(self, attempt: int) -> float:
        """The jittered delay after failed attempt ``attempt``: within
        ``[(1 - jitter) * ceiling, ceiling]``."""
        return self.config.ceiling_s(attempt) * (1 - self.config.jitter * self._rng.random())

    async def wait(self, attempt: int) -> None:
        """Sleep ``delay_s(attempt)``: for loops that retry on their own (reconnects, requeues)."""
        await self._sleep(self.delay_s(attempt))

    def retry_after_s(self, resp: httpx.Response) -> float | None:
        """What a 429/503 asks for in ``Retry-After``, capped; None when it asks nothing."""
        if resp.status_code not in RETRY_AFTER_STATUSES:
            return None
        value = resp.headers.get("Retry-After")
        if value is None:
            return None
        # an HTTP-date is measured from the server's own clock when it sends one
        date = resp.headers.get("Date")
        now = _http_date_s(date) if date is not None else None
        asked = parse_retry_after(value, now_s=self._now_s() if now is None else now)
        return None if asked is None else min(asked, self.config.retry_after_cap_s)

    async def send(self, request: Request, *, what: str) -> httpx.Response:
        """Make ``request`` under this policy (see the module docstring)."""
        last = self.config.max_attempts - 1
        attempt = 0
        while True:
            if self.budget is not None:
                await self.budget.take()
            try:
                resp = await request()
            except httpx.TransportError as exc:
                if attempt >= last:
                    raise
                delay = self.delay_s(attempt)
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if not retryable_status(resp.status_code) or attempt >= last:
                    return resp
                delay = self.delay_s(attempt)
                asked = self.retry_after_s(resp)
                if asked is not None:
                    delay = max(delay, asked)
                problem = f"HTTP {resp.status_code} {resp.reason_phrase}"
            log.warning("%s: retrying %s (attempt %d of %d) in %.3f s: %s", self.name, what,
                        attempt + 2, self.config.max_attempts, delay, problem)  # fmt: skip
            await self._sleep(delay)
            attempt += 1
