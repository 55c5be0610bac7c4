"""A market's price grid and contract size rules (OpenAPI ``Market.price_ranges``,
``price_level_structure``, ``fractional_trading_enabled``).

An order's price must be one of the grid's points: ``start``, ``start + step``, ... ``end`` of
some range, and tradable (1..9999 centicents). A market whose grid is not known yet is taken to
be on Kalshi's default cent grid (``linear_cent``). The grid is checked on the order's own-side
price; Kalshi's structures are symmetric about $0.50, so the YES and NO faces agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from models import CENT_GRID, COUNT_SCALE, PRICE_SCALE, PriceRange

MIN_PRICE = 1
MAX_PRICE = PRICE_SCALE - 1


def grid_of(ranges: Sequence[PriceRange]) -> tuple[PriceRange, ...]:
    return tuple(ranges) if ranges else CENT_GRID


def on_grid(price: int, ranges: Sequence[PriceRange]) -> bool:
    if not MIN_PRICE <= price <= MAX_PRICE:
        return False
    return any(
        r.start <= price <= r.end and r.step > 0 and (price - r.start) % r.step == 0
        for r in grid_of(ranges)
    )


def lowest_price(ranges: Sequence[PriceRange]) -> int:
    """The lowest tradable price on the grid (what a sell that must fill is limited at)."""
    best = MAX_PRICE
    for r in grid_of(ranges):
        if r.step <= 0:
            continue
        first = r.start
        if first < MIN_PRICE:  # the first point of the range at or above MIN_PRICE
            first += -(-(MIN_PRICE - first) // r.step) * r.step
        if first <= min(r.end, MAX_PRICE):
            best = min(best, first)
    return best


def whole_count_ok(count: int, fractional: bool) -> bool:
    """Whole contracts only, unless the market trades fractions (hundredths)."""
    return count > 0 and (fractional or count % COUNT_SCALE == 0)
