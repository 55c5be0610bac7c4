"""How Kalshi's crowd prices one simulated game's markets: it follows the truth, late and noisily.

For each market the crowd's view follows the true probability exponentially, with a time
constant drawn per game (``FOLLOW_MS``, wall ms): after a jump it has covered 63 % of it one time
constant later, 95 % three later. On top of the view sit

- noise: an OU process (``NOISE_SD_PPM`` stationary, ``NOISE_MS`` time constant), scaled by the
  binomial sd of the view so that near-certain outcomes barely wobble;
- overreaction: when a scoring run reaches ``RUN_POINTS`` unanswered points, with probability
  ``OVERREACT_P`` the crowd overshoots the truth's move since the run began by 50-150 %;
- jolts: now and then (``SHOCK_PER_S`` per game) a move with no news behind it.

Overshoots and jolts halve every ``BIAS_HALF_LIFE_MS``. Every parameter is per unit of time, so a
crowd sampled every 250 ms and one sampled every second behave alike. Pure and seeded: the caller
passes its ``random.Random``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

PPM = 1_000_000
FOLLOW_MS = (2_000, 6_000)  # per game, uniform
NOISE_SD_PPM = 12_000  # stationary sd at evens
NOISE_MS = 2_400
BIAS_HALF_LIFE_MS = 6_000
RUN_POINTS = 8
OVERREACT_P = 0.5
OVERREACT_K = (0.5, 1.5)
SHOCK_PER_S = 0.008
SHOCK_SD_PPM = 40_000

Run = tuple[bool | None, int, int]
"""A game's scoring run: (home scored it, else away, None before any points; points; run count)."""


@dataclass(slots=True)
class Crowd:
    """One game's crowd over its markets; ``signs``: +1 for a market whose YES is the home team
    doing well, -1 for the away team, 0 for totals (jolts move only the first two)."""

    follow_ms: float
    signs: tuple[int, ...]
    seen: list[float]
    noise: list[float] = field(default_factory=list)
    bias: list[float] = field(default_factory=list)
    run_id: int = -1
    run_start: tuple[int, ...] = ()
    reacted: bool = False
    last_ms: int | None = None

    @staticmethod
    def start(rng: random.Random, signs: Sequence[int], truth: Sequence[int]) -> Crowd:
        n = len(truth)
        return Crowd(
            rng.uniform(*FOLLOW_MS), tuple(signs), [float(t) for t in truth], [0.0] * n, [0.0] * n
        )

    def sample(
        self, rng: random.Random, now_ms: int, truth: Sequence[int], run: Run
    ) -> list[float]:
        """The crowd's price of each market now (ppm, unclamped), given the truth now."""
        dt = 0.0 if self.last_ms is None else max(0, now_ms - self.last_ms)
        self.last_ms = now_ms
        follow = 1.0 - math.exp(-dt / self.follow_ms)
        keep = math.exp(-dt / NOISE_MS)
        innovation = NOISE_SD_PPM * math.sqrt(1.0 - keep * keep)
        decay = 0.5 ** (dt / BIAS_HALF_LIFE_MS)
        overshoot = self._overshoot(rng, truth, run)
        jolt = 0.0
        if dt and rng.random() < 1.0 - math.exp(-SHOCK_PER_S * dt / 1000):
            jolt = rng.gauss(0.0, SHOCK_SD_PPM)
        out: list[float] = []
        for i, t in enumerate(truth):
            seen = self.seen[i] + follow * (t - self.seen[i])
            self.seen[i] = seen
            # Near-certain outcomes barely wobble: scale by the binomial sd (1 at p = 1/2).
            amp = 2.0 * math.sqrt(max(0.0, seen * (PPM - seen))) / PPM
            self.noise[i] = self.noise[i] * keep + rng.gauss(0.0, innovation)
            self.bias[i] = self.bias[i] * decay + overshoot[i] + jolt * self.signs[i] * amp
            out.append(seen + self.noise[i] * amp + self.bias[i])
        return out

    def _overshoot(self, rng: random.Random, truth: Sequence[int], run: Run) -> list[float]:
        """The overreaction a run sets off now, per market (mostly zeros)."""
        _, points, run_id = run
        if run_id != self.run_id:
            self.run_id, self.run_start, self.reacted = run_id, tuple(truth), False
        if self.reacted or points < RUN_POINTS:
            return [0.0] * len(truth)
        self.reacted = True
        if rng.random() >= OVERREACT_P:
            return [0.0] * len(truth)
        k = rng.uniform(*OVERREACT_K)
        return [k * (t - s) for t, s in zip(truth, self.run_start, strict=True)]
