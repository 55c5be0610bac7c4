"""Sportsbook quotes on a simulated night: the truth seen late, through a bias and noise, with vig.

Each vendor re-quotes a game every ``every_ms`` to twice that (wall ms), from the truth as it was
``lag_ms`` ago (one quote in ten sees it as it is now: that book leads). What it sees is bent by a
bias drawn per game and vendor (logit for the moneyline, points for the lines), which does not
average away within a book, and by noise per quote. The moneyline carries the vendor's overround
(multiplicative); spreads and totals are at the vendor's juice. ``kalshi`` and ``polymarket`` rows
are exchanges, not books (balldontlie lists them among the odds; the app leaves them out of the
consensus): they follow the truth later than the books.

Pure and seeded; the simulator's own odds maths (no app code).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from models import OddsQuote


@dataclass(frozen=True, slots=True)
class Vendor:
    name: str
    vig: float  # overround of the moneyline
    lag_ms: int  # how late it sees the truth (wall ms)
    every_ms: int  # it re-quotes every every_ms..2*every_ms


VENDORS: tuple[Vendor, ...] = (
    Vendor("draftkings", 0.045, 1_500, 3_000),
    Vendor("fanduel", 0.04, 2_500, 3_500),
    Vendor("caesars", 0.05, 4_000, 4_000),
    Vendor("betmgm", 0.05, 5_000, 5_000),
    Vendor("kalshi", 0.01, 8_000, 5_000),
    Vendor("polymarket", 0.02, 10_000, 5_000),
)
LEAD_P = 0.1  # a quote that sees the truth as it is now
BIAS_LOGIT_SD = 0.08  # per game and vendor: ~2 points of probability at evens
BIAS_POINTS_SD = 0.8  # per game and vendor, on the spread line
BIAS_TOTAL_SD = 1.2  # per game and vendor, on the total line
NOISE_LOGIT_SD = 0.03  # per quote
NOISE_POINTS_SD = 0.3
HISTORY = 400  # truth rows kept per game (the longest lag is far shorter than 400 steps)


@dataclass(frozen=True, slots=True)
class Truth:
    """The truth at one instant: P(home wins) in ppm, expected final margin and total."""

    at_ms: int
    home_ppm: int
    margin: float
    total: float


def half_tenths(x: float) -> int:
    """Nearest half point, in tenths."""
    return round(x * 2) * 5


def american(p: float) -> int:
    """American odds of implied probability p in (0, 1): -100 at evens and beyond it negative."""
    if p >= 0.5:
        return -round(100 * p / (1 - p))
    return round(100 * (1 - p) / p)


def _logit(p: float) -> float:
    p = min(0.995, max(0.005, p))
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _key(q: OddsQuote) -> tuple[int | None, ...]:
    return (q.home_odds, q.away_odds, q.line_tenths, q.over_odds, q.under_odds)


class Books:
    """The vendors' quotes for the night's games: feed ``record`` the truth, ask ``quote``."""

    def __init__(self, seed: int, game_ids: list[int]) -> None:
        bias = random.Random(f"books-bias/{seed}")
        self._bias = {
            (gid, v.name): (
                bias.gauss(0.0, BIAS_LOGIT_SD),
                bias.gauss(0.0, BIAS_POINTS_SD),
                bias.gauss(0.0, BIAS_TOTAL_SD),
            )
            for gid in game_ids
            for v in VENDORS
        }
        self._rng = random.Random(f"books/{seed}")
        self._history: dict[int, list[Truth]] = {gid: [] for gid in game_ids}
        self._times: dict[int, list[int]] = {gid: [] for gid in game_ids}
        self._next: dict[tuple[int, str], int] = {}
        self._latest: dict[tuple[int, str, str], OddsQuote] = {}

    def record(self, game_id: int, truth: Truth) -> None:
        hist, times = self._history[game_id], self._times[game_id]
        hist.append(truth)
        times.append(truth.at_ms)
        if len(hist) > HISTORY:
            del hist[: HISTORY // 2], times[: HISTORY // 2]

    def _seen(self, game_id: int, at_ms: int) -> Truth:
        hist = self._history[game_id]
        i = bisect.bisect_right(self._times[game_id], at_ms)
        return hist[max(0, i - 1)]

    def quote(self, game_id: int, now_ms: int) -> list[OddsQuote]:
        """The quotes that changed: each vendor due re-quotes moneyline, spread and total."""
        out: list[OddsQuote] = []
        rng = self._rng
        for v in VENDORS:
            key = (game_id, v.name)
            if now_ms < self._next.get(key, 0):
                continue
            self._next[key] = now_ms + v.every_ms + rng.randrange(v.every_ms)
            seen = self._seen(game_id, now_ms - (0 if rng.random() < LEAD_P else v.lag_ms))
            b_logit, b_points, b_total = self._bias[key]
            logit = _logit(seen.home_ppm / 1e6) + b_logit + rng.gauss(0.0, NOISE_LOGIT_SD)
            p = min(0.98, max(0.02, _sigmoid(logit)))
            k = 1 + v.vig
            home_ml = american(min(0.99, p * k))
            away_ml = american(min(0.99, (1 - p) * k))
            juice = -100 - round(v.vig * 250)
            spread = half_tenths(-(seen.margin + b_points + rng.gauss(0.0, NOISE_POINTS_SD)))
            total = half_tenths(seen.total + b_total + rng.gauss(0.0, NOISE_POINTS_SD))
            t = now_ms
            quotes = (
                OddsQuote(game_id, v.name, "moneyline", home_ml, away_ml, None, None, None, t, t),
                OddsQuote(game_id, v.name, "spread", juice, juice, spread, None, None, t, t),
                OddsQuote(game_id, v.name, "total", None, None, total, juice, juice, t, t),
            )
            for q in quotes:
                prev = self._latest.get((game_id, v.name, q.market))
                if prev is None or _key(prev) != _key(q):
                    self._latest[(game_id, v.name, q.market)] = q
                    out.append(q)
        return out

    def latest(self, game_ids: set[int] | None = None) -> list[OddsQuote]:
        """The latest quote per (game, vendor, market)."""
        return [
            q
            for (gid, _, _), q in sorted(self._latest.items())
            if game_ids is None or gid in game_ids
        ]
