"""The simulator's own truth and its Kalshi crowd, piece by piece (pure, seeded)."""

from __future__ import annotations

import random

import pytest

from sim import nba_crowd, nba_truth
from sim.nba_crowd import Crowd
from sim.nba_truth import Hidden, Situation

FORM = Hidden(20.0, 25.0)


def _at(lead: int, period: int, clock_s: float, edge: float = 0.0, **kw: object) -> Situation:
    args: dict[str, object] = dict(
        lead=lead, points=150, period=period, clock_s=clock_s, final=False, margin=2.0,
        total=226.0, edge=edge, pace=0.0, hidden=FORM,
    )  # fmt: skip
    args.update(kw)
    return Situation(**args)  # type: ignore[arg-type]


def test_final_and_tied_at_the_horn() -> None:
    assert nba_truth.home_win(_at(3, 4, 0.0, final=True)) == 1.0
    assert nba_truth.total_over(_at(-3, 4, 0.0, final=True), 149.5) == 1.0
    tied = nba_truth.home_win(_at(0, 4, 0.0))  # overtime to come: close to even
    assert 0.45 < tied < 0.6
    assert nba_truth.total_over(_at(0, 4, 0.0), 160.5) > 0.5  # ~21 overtime points to come


def test_the_form_moves_the_truth_and_fades_with_the_clock() -> None:
    early = [nba_truth.home_win(_at(0, 1, 720.0, edge=e)) for e in (-15.0, 0.0, 15.0)]
    late = [nba_truth.home_win(_at(0, 4, 30.0, edge=e)) for e in (-15.0, 0.0, 15.0)]
    assert early[0] < early[1] < early[2] and late[0] < late[1] < late[2]
    assert early[2] - early[0] > 0.15 > late[2] - late[0]
    s = _at(4, 3, 100.0)
    assert nba_truth.margin_over(s, True, 0.5) == pytest.approx(nba_truth.home_win(s))
    assert nba_truth.margin_over(s, True, 5.5) < nba_truth.home_win(s)


def test_ou_integral_matches_its_simulation() -> None:
    rng = random.Random(3)
    sums = []
    for _ in range(4_000):
        x, total = 10.0, 0.0
        for _ in range(50):
            total += x * 0.01
            x = nba_truth.ou_step(x, 20.0, 0.01, rng.gauss(0.0, 1.0))
        sums.append(total)
    mean, var = nba_truth.ou_integral(10.0, 20.0, 0.5)
    got = sum(sums) / len(sums)
    assert got == pytest.approx(mean, abs=0.15)
    assert sum((s - got) ** 2 for s in sums) / len(sums) == pytest.approx(var, rel=0.12)


def test_kalshi_overshoots_a_run_and_the_overshoot_reverts() -> None:
    overshoots = []
    for seed in range(20):
        rng = random.Random(seed)
        crowd = Crowd.start(rng, (1,), (500_000,))
        crowd.sample(rng, 0, (500_000,), (True, 2, 1))  # a run begins
        prices = []
        for t in range(250, 30_001, 250):  # it reaches 8 points at once; the truth stays put
            (p,) = crowd.sample(rng, t, (600_000,), (True, 8, 1))
            prices.append(p - 600_000)
        overshoots.append((max(prices[8:40]), sum(prices[-8:]) / 8))
    reacted = [o for o in overshoots if o[0] > 40_000]
    assert 4 <= len(reacted) <= 16  # OVERREACT_P of runs, give or take
    for peak, end in reacted:  # 30 s on, five half-lives: mostly gone
        assert abs(end) < peak / 3
    assert nba_crowd.RUN_POINTS == 8
