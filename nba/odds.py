"""Sportsbook odds maths: American odds <-> probability, vig removal, consensus.

Implied probabilities are exact ``Fraction``s; methods that need a root (power, Shin) solve in
floats and return integer parts per million (ppm), as does the consensus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from models import OddsQuote

PPM = 1_000_000

PREDICTION_MARKET_VENDORS = frozenset({"kalshi", "polymarket", "prophetx", "novig", "sporttrade"})
"""Vendors in balldontlie's odds rows that are exchanges, not sportsbooks (DESIGN.md)."""


def implied_probability(american: int) -> Fraction:
    """-150 -> 3/5, +130 -> 10/23. American odds of magnitude < 100 do not exist."""
    if isinstance(american, bool) or not isinstance(american, int) or -100 < american < 100:
        raise ValueError(f"not American odds: {american!r}")
    if american < 0:
        return Fraction(-american, 100 - american)
    return Fraction(100, american + 100)


def american_from_probability(p: Fraction) -> int:
    """The American odds whose implied probability is p, rounded to the nearest integer.
    p >= 1/2 gives negative odds (-100 at exactly 1/2)."""
    if not 0 < p < 1:
        raise ValueError(f"probability out of (0, 1): {p}")
    if p >= Fraction(1, 2):
        return -round(100 * p / (1 - p))
    return round(100 * (1 - p) / p)


def to_ppm(p: Fraction | float) -> int:
    """Round half up to integer ppm."""
    if isinstance(p, Fraction):
        return math.floor(p * PPM + Fraction(1, 2))
    return math.floor(p * PPM + 0.5)


def overround(probs: Sequence[Fraction]) -> Fraction:
    return sum(probs, Fraction(0)) - 1


def devig_multiplicative(probs: Sequence[Fraction]) -> list[Fraction]:
    total = sum(probs, Fraction(0))
    return [p / total for p in probs]


def devig_additive(probs: Sequence[Fraction]) -> list[Fraction]:
    """Subtract the overround equally (may go below 0 for long shots; not clamped)."""
    cut = overround(probs) / len(probs)
    return [p - cut for p in probs]


def _bisect(f: Callable[[float], float], lo: float, hi: float, iters: int = 200) -> float:
    """Root of f on [lo, hi]; f(lo) and f(hi) must have opposite signs."""
    flo = f(lo)
    for _ in range(iters):
        mid = (lo + hi) / 2
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return (lo + hi) / 2


def devig_power(probs: Sequence[Fraction]) -> list[int]:
    """Find k with sum(p_i ** k) = 1; returns ppm."""
    ps = [float(p) for p in probs]
    k = _bisect(lambda k: sum(p**k for p in ps) - 1.0, 1e-6, 50.0)
    return [to_ppm(p**k) for p in ps]


def _shin_probs(ps: Sequence[float], z: float) -> list[float]:
    s = sum(ps)
    return [(math.sqrt(z * z + 4 * (1 - z) * p * p / s) - z) / (2 * (1 - z)) for p in ps]


def devig_shin(probs: Sequence[Fraction]) -> list[int]:
    """Shin (1993): insider share z solved so the fair probabilities sum to 1; returns ppm."""
    ps = [float(p) for p in probs]
    if sum(ps) <= 1.0:
        return [to_ppm(p / sum(ps)) for p in ps]
    z = _bisect(lambda z: sum(_shin_probs(ps, z)) - 1.0, 0.0, 0.999)
    return [to_ppm(p) for p in _shin_probs(ps, z)]


def devig_ppm(probs: Sequence[Fraction], method: str) -> list[int]:
    if method == "multiplicative":
        return [to_ppm(p) for p in devig_multiplicative(probs)]
    if method == "additive":
        return [to_ppm(p) for p in devig_additive(probs)]
    if method == "power":
        return devig_power(probs)
    if method == "shin":
        return devig_shin(probs)
    raise ValueError(f"unknown vig removal method: {method!r}")


def is_sportsbook(vendor: str) -> bool:
    return vendor.strip().lower() not in PREDICTION_MARKET_VENDORS


def quote_fair_ppm(q: OddsQuote, method: str = "multiplicative") -> int | None:
    """No-vig probability of the first side: home for moneyline/spread, over for total."""
    a, b = (q.over_odds, q.under_odds) if q.market == "total" else (q.home_odds, q.away_odds)
    if a is None or b is None:
        return None
    return devig_ppm([implied_probability(a), implied_probability(b)], method)[0]


@dataclass(frozen=True, slots=True)
class Consensus:
    """Mean no-vig probability of the first side (home / over) across sportsbooks."""

    game_id: int
    market: str
    fair_ppm: int
    line_tenths: int | None  # median line across the books (None for moneyline)
    books: tuple[str, ...]


def consensus(quotes: Iterable[OddsQuote], method: str = "multiplicative") -> list[Consensus]:
    """One consensus per (game, market), sportsbooks only; the latest quote per vendor counts.

    Spread/total books are averaged only at the median line, so differing lines are not mixed."""
    latest: dict[tuple[int, str, str], OddsQuote] = {}
    for q in quotes:
        if not is_sportsbook(q.vendor):
            continue
        key = (q.game_id, q.market, q.vendor.lower())
        if key not in latest or q.ts_ms >= latest[key].ts_ms:
            latest[key] = q
    groups: dict[tuple[int, str], list[OddsQuote]] = {}
    for (game_id, market, _), q in sorted(latest.items()):
        groups.setdefault((game_id, market), []).append(q)
    out: list[Consensus] = []
    for (game_id, market), qs in groups.items():
        line: int | None = None
        if market != "moneyline":
            lines = [q.line_tenths for q in qs if q.line_tenths is not None]
            if not lines:
                continue
            line = sorted(lines)[len(lines) // 2]  # the upper median: always a quoted line
            qs = [q for q in qs if q.line_tenths == line]
        fairs = [(q.vendor, f) for q in qs if (f := quote_fair_ppm(q, method)) is not None]
        if not fairs:
            continue
        mean = Fraction(sum(f for _, f in fairs), len(fairs))
        out.append(
            Consensus(
                game_id, market, math.floor(mean + Fraction(1, 2)), line, tuple(v for v, _ in fairs)
            )
        )
    return out
