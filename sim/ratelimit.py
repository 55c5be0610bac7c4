"""Token-bucket rate limiting with Kalshi's 429 body."""

from __future__ import annotations

from typing import Any

from clock import Clock

RATE_LIMITED_BODY: dict[str, Any] = {
    "error": {"code": "too_many_requests", "message": "too many requests"}
}


class TokenBucket:
    """Holds up to ``burst`` tokens, refilled at ``per_s`` a second; one token per request.
    Token amounts are kept in millitokens so the arithmetic stays in integers."""

    def __init__(self, per_s: float, burst: int, clock: Clock) -> None:
        self._rate_mt_per_ms = per_s  # millitokens per ms == tokens per s
        self._cap = burst * 1000
        self._level = self._cap
        self._clock = clock
        self._last = clock.now_ms()

    def take(self) -> bool:
        now = self._clock.now_ms()
        if now > self._last:
            gained = int((now - self._last) * self._rate_mt_per_ms)
            self._level = min(self._cap, self._level + gained)
            self._last = now
        if self._level >= 1000:
            self._level -= 1000
            return True
        return False


class RateLimiter:
    """One bucket per caller (API key, or client address when unauthenticated)."""

    def __init__(self, per_s: float, burst: int, clock: Clock) -> None:
        self._per_s = per_s
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, caller: str) -> bool:
        if self._per_s <= 0:
            return True
        b = self._buckets.get(caller)
        if b is None:
            b = self._buckets[caller] = TokenBucket(self._per_s, self._burst, self._clock)
        return b.take()
