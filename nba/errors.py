"""What the balldontlie client raises: upstream failures, and payloads of the wrong shape."""

from __future__ import annotations

from errors import UpstreamError, WireError


class NbaError(UpstreamError):
    """Base class for balldontlie client errors."""


class NbaAuthError(NbaError):
    """The key was rejected (401/403); retrying cannot help."""


class NbaRateLimited(NbaError):
    """Still answered 429 after every retry."""


class NbaHttpError(NbaError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"balldontlie HTTP {status}: {body[:200]}")
        self.status = status


class NbaWireError(NbaError, WireError):
    """A payload that does not have the documented shape."""
