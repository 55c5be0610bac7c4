"""What a /ws/stream client may send, parsed at the boundary: a `filter` or a `hot_window`.

Anything else raises ``FilterError`` with a reason that is fit for the client's `error` reply
and for the log: it quotes nothing of what the client sent except a type name, cut short and
escaped (``!r``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import orjson

from stream.filters import FilterError, TradeFilter

# The largest text message a client may send, in UTF-8 bytes. A filter is ~150 bytes (its
# search at most 100 characters). app.py gives uvicorn the same limit as ws_max_size, so a
# bigger message is refused (1009) before it is even read into memory.
MAX_REQUEST_BYTES = 4096
TYPE_SHOWN = 40  # characters of an unknown `type` quoted back


@dataclass(frozen=True, slots=True)
class HotWindow:
    window: str | None  # None: every window


def too_big(text: str) -> bool:
    """More than MAX_REQUEST_BYTES once encoded; ASCII text (the page's) is never encoded."""
    if len(text) > MAX_REQUEST_BYTES:
        return True  # a character is one byte at least
    if text.isascii():
        return False
    return len(text.encode("utf-8", "surrogatepass")) > MAX_REQUEST_BYTES


def parse_request(text: str, windows: Collection[str]) -> TradeFilter | HotWindow:
    """One client message; ``windows`` are the hot windows it may choose."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FilterError(str(exc)) from None  # orjson's message quotes no input
    if not isinstance(msg, dict):
        raise FilterError("message must be a JSON object")
    kind = msg.get("type")
    if kind == "filter":
        return TradeFilter.parse(msg)
    if kind == "hot_window":
        window = msg.get("window")
        # isinstance first: a list or an object is not hashable, so not `in` a dict's keys
        if window is not None and not (isinstance(window, str) and window in windows):
            raise FilterError(f"window must be one of {', '.join(windows)} or null")
        return HotWindow(window)
    if not isinstance(kind, str):
        raise FilterError("type must be 'filter' or 'hot_window'")
    raise FilterError(
        f"unknown message type {kind[:TYPE_SHOWN]!r}; expected 'filter' or 'hot_window'"
    )
