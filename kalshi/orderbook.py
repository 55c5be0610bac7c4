"""Pure L2 order book for one Kalshi market: YES bids and NO bids, no I/O.

A NO bid at p is a YES ask at 1 - p, so the best YES ask is 1 - best NO bid.
Prices are centicents, quantities hundredths of a contract.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from models import PRICE_SCALE, BookDelta, BookSnapshot, Side

log = logging.getLogger(__name__)


class BookError(ValueError):
    """A delta that would leave the book inconsistent (negative level, unknown side)."""


@dataclass(frozen=True, slots=True)
class SeqCheck:
    """Result of checking one message's seq against the last seen on its subscription."""

    ok: bool
    expected: int | None
    got: int


class SeqTracker:
    """Per-sid sequence checking: each subscription's seq must go up by exactly one."""

    def __init__(self) -> None:
        self._last: dict[int, int] = {}

    def check(self, sid: int, seq: int) -> SeqCheck:
        """Record ``seq`` for ``sid``. The first seq on a sid is accepted as the start."""
        last = self._last.get(sid)
        self._last[sid] = seq
        if last is None or seq == last + 1:
            return SeqCheck(True, None if last is None else last + 1, seq)
        return SeqCheck(False, last + 1, seq)

    def reset(self, sid: int | None = None) -> None:
        if sid is None:
            self._last.clear()
        else:
            self._last.pop(sid, None)

    def last(self, sid: int) -> int | None:
        return self._last.get(sid)


class OrderBook:
    """Aggregated bids on both sides of one market. ``stale`` is set on a gap until a snapshot."""

    __slots__ = ("last_seq", "last_ts_ms", "no", "stale", "ticker", "yes")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.yes: dict[int, int] = {}
        self.no: dict[int, int] = {}
        self.stale = True  # no snapshot yet
        self.last_seq: int | None = None
        self.last_ts_ms: int | None = None

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        self.yes = {p: q for p, q in snap.yes if q > 0}
        self.no = {p: q for p, q in snap.no if q > 0}
        self.stale = False
        self.last_seq = snap.seq
        self.last_ts_ms = snap.ts_ms

    def apply_delta(self, delta: BookDelta) -> None:
        """Apply a signed change to one level; a level that would go negative raises BookError."""
        levels = self.yes if delta.side is Side.YES else self.no
        qty = levels.get(delta.price, 0) + delta.delta
        if qty < 0:
            raise BookError(
                f"{self.ticker}: {delta.side} level {delta.price} would go to {qty}"
                f" (seq {delta.seq})"
            )
        if qty == 0:
            levels.pop(delta.price, None)
        else:
            levels[delta.price] = qty
        self.last_seq = delta.seq
        self.last_ts_ms = delta.ts_ms

    def mark_stale(self) -> None:
        self.stale = True

    def best_yes_bid(self) -> tuple[int, int] | None:
        if not self.yes:
            return None
        p = max(self.yes)
        return p, self.yes[p]

    def best_no_bid(self) -> tuple[int, int] | None:
        if not self.no:
            return None
        p = max(self.no)
        return p, self.no[p]

    def best_yes_ask(self) -> tuple[int, int] | None:
        """(price, size) of the cheapest YES offer: 1 - best NO bid, with that bid's size."""
        nb = self.best_no_bid()
        return None if nb is None else (PRICE_SCALE - nb[0], nb[1])

    def best_no_ask(self) -> tuple[int, int] | None:
        yb = self.best_yes_bid()
        return None if yb is None else (PRICE_SCALE - yb[0], yb[1])

    def spread(self) -> int | None:
        bid, ask = self.best_yes_bid(), self.best_yes_ask()
        return None if bid is None or ask is None else ask[0] - bid[0]

    def levels(self, side: Side) -> list[tuple[int, int]]:
        """Bids on one side, best (highest) first."""
        book = self.yes if side is Side.YES else self.no
        return sorted(book.items(), reverse=True)

    def as_maps(self) -> tuple[dict[int, int], dict[int, int]]:
        return dict(self.yes), dict(self.no)
