"""The simulated night hands the public model no edge: the truth knows more than it, Kalshi follows
the truth, so trading the model against Kalshi loses after fees.

Pure and seeded: 300 games (20 nights) at the app's default 10 game seconds per wall second, the
Kalshi crowd of each game's home moneyline market sampled every 2 wall seconds (its parameters
are per unit of time, so it behaves as it does at 250 ms in the exchange). The public model is the
app's (``nba.winprob``, Stern's model on the pregame line), imported here only.

P&L is reported two ways, per contract and clustered by game: on the final outcomes, and at the
truth (a contract bought at p is worth the true probability then): the truth is the conditional
expectation of the outcome (the first test checks it is calibrated), so the second has the same
mean and a far smaller error.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field

import pytest

from models import GameStatus
from nba import winprob
from sim.nba_crowd import Crowd
from sim.nba_games import NightSim

NIGHTS = 20
STEP_MS = 2_000
SPEED = 10.0
EDGE_CC = 100  # a trade needs the signal 1c beyond the touch and the fee
SPREAD_CC = 100  # the makers quote a tick either side of the crowd's price


@dataclass
class Game:
    won: bool
    # per live sample: (truth ppm, public model ppm, Kalshi price cc)
    rows: list[tuple[int, int, int]] = field(default_factory=list)


def _fee_cc(price_cc: int) -> int:
    """Kalshi's taker fee for one contract, ceil(0.07 P (1 - P)), in centicents."""
    return -(-7 * price_cc * (10_000 - price_cc) // 1_000_000)


def _play() -> list[Game]:
    games: list[Game] = []
    for seed in range(NIGHTS):
        night = NightSim(1_000 + seed, "2026-01-07", 0, 15, acceleration=SPEED)
        rng = random.Random(f"crowds/{seed}")
        crowds = {gid: Crowd.start(rng, (1,), (night.true_yes_ppm(gid),)) for gid in night.games}
        rows: dict[int, list[tuple[int, int, int]]] = {gid: [] for gid in night.games}
        now = 0
        while not all(g.status is GameStatus.FINAL for g in night.games.values()):
            now += STEP_MS
            night.step(now)
            for gid, g in night.games.items():
                if g.status is GameStatus.FINAL:
                    continue
                truth = night.true_yes_ppm(gid)
                (crowd,) = crowds[gid].sample(rng, now, (truth,), night.run(gid))
                if g.status is GameStatus.LIVE:
                    price = max(100, min(9_900, round(crowd / 10_000) * 100))
                    model = winprob.home_win_ppm(night.state(gid), g.home_spread_tenths)
                    rows[gid].append((truth, model, price))
        for gid, g in night.games.items():
            games.append(Game(g.home_score > g.away_score, rows[gid]))
    return games


@pytest.fixture(scope="module")
def games() -> list[Game]:
    return _play()


def _clustered(per_game: list[tuple[float, int]]) -> tuple[float, float, int]:
    """Mean per unit and its standard error clustered by game, from (sum, count) per game."""
    n = sum(c for _, c in per_game)
    mean = sum(s for s, _ in per_game) / n
    g = len(per_game)
    resid = sum((s - mean * c) ** 2 for s, c in per_game)
    return mean, (g / (g - 1) * resid) ** 0.5 / n, n


def _pnl(
    games: list[Game], signal: int, *, at_truth: bool, reverse: bool = False
) -> tuple[float, float, int]:
    """Buy YES at the ask when ``signal`` (0 truth, 1 model) is above it by the fee and EDGE_CC,
    NO at the bid when below; hold to the end. cc per contract, clustered by game."""
    per_game: list[tuple[float, int]] = []
    for game in games:
        total, n = 0, 0
        for row in game.rows:
            p, price = row[signal] // 100, row[2]
            worth = row[0] // 100 if at_truth else 10_000 * game.won
            ask, bid = price + SPREAD_CC, price - SPREAD_CC
            yes = ask < 10_000 and p > ask + _fee_cc(ask) + EDGE_CC
            no = bid > 0 and p < bid - _fee_cc(bid) - EDGE_CC
            if reverse:
                yes, no = no and ask < 10_000, yes and bid > 0
            if yes:
                total, n = total + worth - ask - _fee_cc(ask), n + 1
            elif no:
                total, n = total + (10_000 - worth) - (10_000 - bid) - _fee_cc(bid), n + 1
        per_game.append((total, n))
    return _clustered(per_game)


def test_the_truth_is_calibrated_and_the_public_model_too(games: list[Game]) -> None:
    assert len(games) == 15 * NIGHTS and all(g.rows for g in games)
    for which in (0, 1):  # truth, model
        miss = [(sum(g.won - r[which] / 1e6 for r in g.rows), len(g.rows)) for g in games]
        mean, se, _ = _clustered(miss)
        assert abs(mean) < 0.03 and abs(mean) < 3 * se
        for lo, hi in ((0.0, 0.3), (0.3, 0.7), (0.7, 1.0)):
            inside = [
                (sum(g.won - r[which] / 1e6 for r in rs), len(rs))
                for g in games
                if (rs := [r for r in g.rows if lo <= r[which] / 1e6 < hi])
            ]
            mean, se, _ = _clustered(inside)
            assert abs(mean) < max(0.04, 3 * se), (which, lo, hi, mean, se)


def test_the_truth_knows_more_than_the_public_model(games: list[Game]) -> None:
    def brier(which: int) -> float:
        return statistics.mean(
            statistics.mean((r[which] / 1e6 - g.won) ** 2 for r in g.rows) for g in games
        )

    truth, model = brier(0), brier(1)
    assert truth < model  # 0.1456 < 0.1478 on these games
    # The gap to expect where the truth is the conditional probability: E[(model - truth)^2].
    gap = statistics.mean(
        statistics.mean(((r[1] - r[0]) / 1e6) ** 2 for r in g.rows) for g in games
    )
    assert 0.005 < gap < 0.02  # ~0.0094: the model is some 10 points off the truth, typically


def test_the_public_model_loses_to_kalshi_after_fees(games: list[Game]) -> None:
    model, model_se, n = _pnl(games, 1, at_truth=True)
    assert n > 10_000
    assert model + 3 * model_se < -100  # ~ -1.6c a contract
    reverse, reverse_se, _ = _pnl(games, 1, at_truth=True, reverse=True)
    assert reverse + 3 * reverse_se < 0  # the reverse control loses too: fees and spread
    realized, realized_se, _ = _pnl(games, 1, at_truth=False)
    assert realized - 2 * realized_se < 0  # on the outcomes themselves: no significant edge


def test_only_knowing_the_truth_beats_kalshi(games: list[Game]) -> None:
    """The control: Kalshi's lag and noise are beatable, but only by knowing more than the
    public does."""
    truth, truth_se, n = _pnl(games, 0, at_truth=True)
    assert n > 3_000 and truth - 3 * truth_se > 100
    realized, realized_se, _ = _pnl(games, 0, at_truth=False)
    assert realized - 2 * realized_se > 0
