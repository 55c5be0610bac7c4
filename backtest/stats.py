"""The statistics a backtest reports: intervals clustered by game, Brier and calibration, and
closing-line value. Pure and deterministic: integers in, the same figures out on any machine.

Why by game: a strategy's trades in one game share its fate (one final score settles every market
of it), so they are not independent draws; an interval over trades would be far too narrow. The
unit is the game: each game's net P&L (fees included) is one observation.

- ``t_interval``: the mean P&L per game with its cluster-robust standard error, which, with each
  game's P&L summed first, is the sample standard deviation of the per-game totals over sqrt(G);
  the interval is mean +- t(0.975, G - 1) x SE; the total's is G times it.
- ``bootstrap_interval``: the percentile interval of the total P&L over ``resamples`` resamples
  of the games with replacement (a cluster bootstrap), drawn by ``random.Random(seed)``, whose
  sequence Python keeps the same on every platform; sums are exact integers.
- ``brier`` and ``calibration``: the stated probabilities of the orders against the outcomes of
  their markets, in ten bins of stated probability.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PPM = 1_000_000
# two-sided 95% quantiles of Student's t by degrees of freedom (1..30); above, Cornish-Fisher
_T975 = (
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851,
    2.364624252, 2.306004135, 2.262157163, 2.228138852, 2.200985160, 2.178812830,
    2.160368656, 2.144786688, 2.131449546, 2.119905299, 2.109815578, 2.100922040,
    2.093024054, 2.085963447, 2.079613845, 2.073873068, 2.068657610, 2.063898562,
    2.059538553, 2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456,
)  # fmt: skip
_Z975 = 1.959963985


def t975(df: int) -> float:
    """Student's t quantile at 0.975 with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1: {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    return z + g1 / df + g2 / df**2


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate with its 95% interval, in the input's units (micro-dollars)."""

    estimate: float
    low: float
    high: float
    se: float | None = None


def t_interval(per_game: Sequence[int]) -> tuple[Interval, Interval] | None:
    """(mean per game, total) with cluster-robust 95% t intervals; None under two games."""
    g = len(per_game)
    if g < 2:
        return None
    mean = sum(per_game) / g
    var = sum((x - mean) ** 2 for x in per_game) / (g - 1)
    se = math.sqrt(var / g)
    half = t975(g - 1) * se
    per = Interval(mean, mean - half, mean + half, se)
    total = Interval(mean * g, (mean - half) * g, (mean + half) * g, se * g)
    return per, total


def bootstrap_interval(
    per_game: Sequence[int], *, seed: int, resamples: int = 2_000
) -> Interval | None:
    """The total P&L's 95% percentile interval under a bootstrap over games; None under two."""
    g = len(per_game)
    if g < 2:
        return None
    rng = random.Random(seed)
    pick = rng.randrange
    totals = sorted(sum(per_game[pick(g)] for _ in range(g)) for _ in range(resamples))
    lo = totals[math.floor(0.025 * (resamples - 1))]
    hi = totals[math.ceil(0.975 * (resamples - 1))]
    return Interval(float(sum(per_game)), float(lo), float(hi))


def brier(forecasts: Sequence[tuple[int, int]]) -> float | None:
    """Mean (p - outcome)^2 over (stated ppm, outcome ppm) pairs (the outcome is 1,000,000 for
    a side that won, 0 for one that lost, a share for a scalar result); None with none."""
    if not forecasts:
        return None
    return sum(((p - o) / PPM) ** 2 for p, o in forecasts) / len(forecasts)


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    low_ppm: int
    high_ppm: int  # the bin is [low, high), the last one [low, high]
    count: int
    mean_stated_ppm: int | None  # rounded down
    observed_ppm: int | None  # mean outcome: the share that came true, rounded down


def calibration(forecasts: Sequence[tuple[int, int]], bins: int = 10) -> list[CalibrationBin]:
    """Forecasts (stated ppm, outcome ppm) in ``bins`` equal bins of stated probability: how
    often each bin came true."""
    width = PPM // bins
    sums = [[0, 0, 0] for _ in range(bins)]  # count, sum of stated ppm, sum of outcome ppm
    for p, outcome in forecasts:
        b = min(p // width, bins - 1)
        sums[b][0] += 1
        sums[b][1] += p
        sums[b][2] += outcome
    return [
        CalibrationBin(
            i * width,
            PPM if i == bins - 1 else (i + 1) * width,
            n,
            s // n if n else None,
            t // n if n else None,
        )
        for i, (n, s, t) in enumerate(sums)
    ]


def seed_of(*parts: object) -> int:
    """A seed from the run's parameters: the same text gives the same seed everywhere (no
    ``hash()``, which Python salts per process)."""
    text = "\x1f".join(map(str, parts)).encode()
    h = 14695981039346656037  # FNV-1a, 64 bit: the offset basis
    for byte in text:
        h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def per_game_list(game_pnl: Mapping[str, int]) -> list[int]:
    """The per-game P&L in game order (sorted by name): the bootstrap's input order."""
    return [game_pnl[g] for g in sorted(game_pnl)]
