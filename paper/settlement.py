"""What a market pays when it is determined (OpenAPI ``Market.result``, ``settlement_value``).

A ``determined`` or ``settled`` lifecycle event with result ``yes`` pays $1 a YES contract and
nothing a NO one; ``no`` the reverse; a scalar result (no yes/no, a ``settlement_value``) pays
that value a YES contract and the rest of the dollar a NO contract. Anything else (a market that
closes, is deactivated, or is determined without a result) settles nothing: positions stay open,
marked at the last book. A market settles once, at the first such event.
"""

from __future__ import annotations

from models import PRICE_SCALE, LifecycleEvent, LifecycleKind

SETTLING_KINDS = frozenset({LifecycleKind.DETERMINED, LifecycleKind.SETTLED})


def yes_value(event: LifecycleEvent) -> int | None:
    """Centicents paid a YES contract, or None if the event settles nothing."""
    if event.kind not in SETTLING_KINDS:
        return None
    result = (event.result or "").lower()
    if result == "yes":
        return PRICE_SCALE
    if result == "no":
        return 0
    value = event.settlement_value
    if value is not None and 0 <= value <= PRICE_SCALE:
        return value
    return None


def outcome_of(side_is_yes: bool, value: int) -> float:
    """1.0 if the side won outright, 0.0 if it lost; a scalar pays a share (Brier's outcome)."""
    share = value / PRICE_SCALE
    return share if side_is_yes else 1.0 - share
