"""Taker matching: walk one side of the book, best bid first, never past the limit.

``walk`` returns the legs a taker would get: (bid price, hundredths) per level, within
``min_bid`` and up to ``want``, each level offering its displayed size less what the desk's own
fills already took there (``paper.liquidity``). Pure: it changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping


def walk(
    bids: Mapping[int, int], min_bid: int, want: int, taken: Mapping[int, int]
) -> list[tuple[int, int]]:
    legs: list[tuple[int, int]] = []
    if want <= 0:
        return legs
    for price in sorted((p for p in bids if p >= min_bid), reverse=True):
        free = bids[price] - taken.get(price, 0)
        if free <= 0:
            continue
        qty = free if free < want else want
        legs.append((price, qty))
        want -= qty
        if want == 0:
            break
    return legs


def best_free(bids: Mapping[int, int], taken: Mapping[int, int]) -> int | None:
    """The best bid with size left after the desk's own takes, or None."""
    for price in sorted(bids, reverse=True):
        if bids[price] - taken.get(price, 0) > 0:
            return price
    return None
