"""A request budget per upstream: a token bucket that every caller of that upstream draws from.

Kalshi and balldontlie both limit requests per key, whoever in the process makes them: the
feed's backfill, the market-name lookups, NBA discovery and a user's refresh all spend the same
allowance. One ``RequestBudget`` per upstream, handed to its ``RetryPolicy``, makes each attempt
(retries included) take a token first, so no path can push another into 429s.

The bucket holds up to ``burst`` tokens and gains ``rate_per_s`` a second, measured on
``monotonic`` (seconds that never go back). A caller finding it empty awaits ``sleep`` for
exactly the time the next token needs; callers queue in arrival order (an ``asyncio.Lock`` is
fair), so a steady stream of requests comes out ``1 / rate_per_s`` apart.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

Monotonic = Callable[[], float]
"""Seconds on a clock that never goes back (``time.monotonic``; tests pass their own)."""

Sleep = Callable[[float], Awaitable[None]]

_EPSILON = 1e-9  # float refills land a rounding error short of a whole token


class RequestBudget:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        name: str,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
            raise ValueError(f"budget {name}: rate must be a finite number > 0, not {rate_per_s}")
        if burst < 1:
            raise ValueError(f"budget {name}: burst must be at least 1, not {burst}")
        self.name = name
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = monotonic()
        self._lock = asyncio.Lock()
        self.taken = 0  # tokens handed out
        self.waited = 0  # of those, how many had to wait for theirs
        self.waited_s = 0.0  # total time asked of ``sleep``

    def _refill(self) -> None:
        now = self._monotonic()
        if now > self._last:
            gained = (now - self._last) * self.rate_per_s
            self._tokens = min(float(self.burst), self._tokens + gained)
            self._last = now

    def available(self) -> float:
        """Tokens in the bucket now (fractions included)."""
        self._refill()
        return self._tokens

    async def take(self) -> None:
        """One token; waits (an await, never a spin) until the bucket has one."""
        async with self._lock:
            self._refill()
            if self._tokens < 1 - _EPSILON:
                self.waited += 1
            while self._tokens < 1 - _EPSILON:
                delay = (1 - self._tokens) / self.rate_per_s
                self.waited_s += delay
                await self._sleep(delay)
                # a sleep may end a hair early (the loop's clock resolution): top up and see
                self._refill()
            self._tokens -= 1
            self.taken += 1

    def as_dict(self) -> dict[str, float | int]:
        return {
            "rate_per_s": self.rate_per_s,
            "burst": self.burst,
            "taken": self.taken,
            "waited": self.waited,
            "waited_s": round(self.waited_s, 3),
        }
