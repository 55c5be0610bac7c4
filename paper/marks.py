"""Marking a position two ways: at the mid, and at what it could be sold for now.

The exit mark walks the bids of the held side for the whole holding (YES holdings sell into YES
bids, NO holdings into NO bids), less what the desk's own fills already took there; the part the
book cannot absorb is worth nothing now. A book that is stale or gone still marks at its last
levels (a market that closed without a result stays open, marked at its last book); a market with
no book at all marks at cost.
"""

from __future__ import annotations

from collections.abc import Mapping

from kalshi.orderbook import OrderBook
from models import PRICE_SCALE
from paper.matching import walk
from paper.portfolio import Position


def yes_mid_x2(book: OrderBook) -> int | None:
    """Twice the YES mid (exact), or the one side there is, or None for an empty book."""
    bid = max(book.yes) if book.yes else None
    ask = PRICE_SCALE - max(book.no) if book.no else None
    if bid is not None and ask is not None:
        return bid + ask
    if bid is not None:
        return 2 * bid
    if ask is not None:
        return 2 * ask
    return None


def mark_mid(pos: Position, book: OrderBook | None) -> int:
    if pos.net == 0:
        return 0
    mid2 = None if book is None else yes_mid_x2(book)
    if mid2 is None:
        return pos.cost
    if pos.net > 0:
        return pos.net * mid2 // 2
    return -pos.net * (2 * PRICE_SCALE - mid2) // 2


def mark_exit(pos: Position, book: OrderBook | None, taken: Mapping[int, int]) -> int:
    """``taken``: the desk's own takes on the held side's bids (bid price -> hundredths)."""
    if pos.net == 0:
        return 0
    if book is None:
        return pos.cost
    bids = book.yes if pos.net > 0 else book.no
    return sum(p * q for p, q in walk(bids, 1, abs(pos.net), taken))
