"""Flowboard's errors: one root, and one class for each way the outside world can be wrong.

- ``ConfigError``: the settings cannot work (a flag, an environment variable or a file one of them
  names, such as the Kalshi private key or a recording). The message says what to change; the
  command line prints it as one line and exits with status 2.
- ``UpstreamError``: a service outside the process (Kalshi REST or WebSocket, balldontlie) failed
  or refused. Network failures are retried where they happen; what reaches a caller has outlasted
  the retries or cannot be retried (a rejected key).
- ``WireError``: a frame or a body from outside does not parse. The reader counts it, logs it with
  the raw text and skips it; it never stops a feed.

A broken invariant inside Flowboard is none of these: it raises as a bug.

``ConfigError`` and ``WireError`` are also ``ValueError`` (a bad value, from a user or from a peer),
so ``except ValueError`` written before this hierarchy still catches them.
"""

from __future__ import annotations

__all__ = ["ConfigError", "FlowboardError", "UpstreamError", "WireError"]


class FlowboardError(Exception):
    """The root of every error Flowboard raises on purpose."""


class ConfigError(FlowboardError, ValueError):
    """Settings that cannot work (together); the message names the setting and what to set."""


class UpstreamError(FlowboardError):
    """An outside service failed: Kalshi REST or WebSocket, balldontlie."""


class WireError(FlowboardError, ValueError):
    """A frame or body from outside that does not parse into Flowboard's types."""
