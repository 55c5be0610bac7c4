"""The backtest's statistics on small cases worked by hand."""

from __future__ import annotations

import math

import pytest

from backtest import stats
from backtest.harness import ClosingLines
from backtest.run import _clv
from models import Action, Side
from nba.state import NbaState
from paper.records import Fill

USD = 1_000_000


def test_the_clustered_t_interval_on_three_games_by_hand() -> None:
    # per-game P&L $1, $2, $6: mean $3; sample variance ((-2)^2 + (-1)^2 + 3^2) / 2 = 7;
    # SE = sqrt(7 / 3) = 1.527525; t(0.975, 2) = 4.302653; half = 6.572411
    got = stats.t_interval([1 * USD, 2 * USD, 6 * USD])
    assert got is not None
    per, total = got
    se = math.sqrt(7 / 3) * USD
    half = 4.302652730 * se
    assert per.estimate == 3 * USD
    assert per.se == pytest.approx(1_527_525.23, abs=0.01)
    assert (per.low, per.high) == pytest.approx((3 * USD - half, 3 * USD + half))
    assert per.low == pytest.approx(-3_572_410.6, abs=0.1)
    assert (total.estimate, total.low, total.high) == pytest.approx(
        (9 * USD, 3 * (3 * USD - half), 3 * (3 * USD + half))
    )
    assert total.se == pytest.approx(3 * se)


def test_under_two_games_there_is_no_interval() -> None:
    assert stats.t_interval([5]) is None
    assert stats.bootstrap_interval([5], seed=1) is None


def test_t_quantiles_follow_students_table() -> None:
    assert stats.t975(1) == pytest.approx(12.706, abs=1e-3)
    assert stats.t975(10) == pytest.approx(2.228, abs=1e-3)
    assert stats.t975(60) == pytest.approx(2.000, abs=2e-3)  # Cornish-Fisher beyond the table
    assert stats.t975(1000) == pytest.approx(1.962, abs=1e-3)


def test_the_bootstrap_resamples_games_with_a_fixed_seed() -> None:
    games = [1 * USD, 2 * USD, 6 * USD]
    a = stats.bootstrap_interval(games, seed=42)
    assert a is not None
    assert a == stats.bootstrap_interval(games, seed=42)  # the same draws every time
    # three games drawn with replacement: totals from 3 x $1 to 3 x $6
    assert 3 * USD <= a.low < a.estimate == 9 * USD < a.high <= 18 * USD
    same = stats.bootstrap_interval([4 * USD] * 3, seed=7)
    assert same is not None and (same.low, same.high) == (12 * USD, 12 * USD)


def test_brier_and_calibration_by_hand() -> None:
    forecasts = [(800_000, USD), (300_000, 0), (850_000, 0), (120_000, 0)]
    # (0.2^2 + 0.3^2 + 0.85^2 + 0.12^2) / 4 = (0.04 + 0.09 + 0.7225 + 0.0144) / 4
    assert stats.brier(forecasts) == pytest.approx(0.216725)
    assert stats.brier([]) is None
    bins = stats.calibration(forecasts)
    assert len(bins) == 10
    b8 = bins[8]
    assert (b8.low_ppm, b8.high_ppm, b8.count) == (800_000, 900_000, 2)
    assert (b8.mean_stated_ppm, b8.observed_ppm) == (825_000, 500_000)
    assert (bins[3].count, bins[3].observed_ppm) == (1, 0)
    assert (bins[1].count, bins[1].mean_stated_ppm) == (1, 120_000)
    assert bins[9].high_ppm == USD and bins[0].count == 0 and bins[0].observed_ppm is None
    assert stats.calibration([(1_000_000, USD)])[9].count == 1  # 100% falls in the last bin


def test_seeds_are_the_same_text_the_same_number() -> None:
    assert stats.seed_of("random", "momentum", [("a", "b", "1")]) == stats.seed_of(
        "random", "momentum", [("a", "b", "1")]
    )
    assert stats.seed_of("random", "momentum") != stats.seed_of("random", "ev_multi")
    assert stats.seed_of("a") == 0xAF63DC4C8601EC8C  # FNV-1a's published value: no salt


def _fill(side: Side, action: Action, price: int, ts_ms: int) -> Fill:
    return Fill(1, 1, ts_ms, "a", "T-1", side, action, 100, price * 100, 0, False,
                ((price, 100),), price)  # fmt: skip


def test_closing_line_value_against_the_consensus_at_tip_off() -> None:
    closing = ClosingLines(NbaState())
    closing.closing["T-1"] = 600_000  # YES 60% at tip-off
    closing.game_of["T-1"] = 9
    closing.start_ms[9] = 1_000
    assert _clv(_fill(Side.YES, Action.BUY, 5_500, 900), closing) == 50_000  # paid 55%
    assert _clv(_fill(Side.NO, Action.BUY, 3_800, 900), closing) == 20_000  # NO closed at 40%
    assert _clv(_fill(Side.YES, Action.SELL, 6_300, 900), closing) == 30_000  # sold at 63%
    assert _clv(_fill(Side.YES, Action.BUY, 5_500, 1_000), closing) is None  # in the game
