"""Hand-computed with Phi from a normal table: P = Phi((lead + mu*r - strike) / (sigma*sqrt(r)))."""

import pytest

from models import GameState, GameStatus
from nba import winprob as wp


def _state(
    home: int, away: int, period: int, secs: int, status: GameStatus = GameStatus.LIVE
) -> GameState:
    return GameState(1, "2026-01-07", "SAS", "NYK", home, away, status, period, secs, None, 0, 0)


def test_pregame_win_probability_is_phi_of_spread_over_sigma() -> None:
    # home -5.5: Phi(5.5 / 15.8) = Phi(0.3481) = 0.6361
    assert wp.home_win_prob(0, 2880, -5.5) == pytest.approx(0.63612, abs=1e-5)
    assert wp.home_win_prob(0, 2880, 0.0) == 0.5


def test_in_game_values() -> None:
    # up 10 at half, pick'em: Phi(10 / (15.8 * sqrt(0.5))) = Phi(0.8951) = 0.8146
    assert wp.home_win_prob(10, 1440, 0.0) == pytest.approx(0.81463, abs=1e-5)
    # down 3 with 6:00 left, home -2: r = 0.125, mean = -3 + 0.25, sd = 5.586, Phi(-0.4923)
    assert wp.home_win_prob(-3, 360, -2.0) == pytest.approx(0.31126, abs=1e-5)
    s = _state(77, 80, 4, 360)
    assert wp.home_win_ppm(s, -20) == 311_257


def test_time_left_and_endings() -> None:
    assert wp.seconds_left_in_game(0, 720) == 2880
    assert wp.seconds_left_in_game(2, 300) == 2 * 720 + 300
    assert wp.seconds_left_in_game(5, 120) == 120
    assert wp.home_win_ppm(_state(100, 99, 4, 0, GameStatus.FINAL), 50) == 1_000_000
    assert wp.home_win_ppm(_state(99, 100, 5, 0, GameStatus.FINAL), -50) == 0
    assert wp.home_win_prob(2, 0, 0.0) == 1.0 and wp.home_win_prob(-1, 0, 0.0) == 0.0
    tied = wp.home_win_ppm(_state(100, 100, 4, 0), -60)
    assert 500_000 < tied < 600_000  # overtime ahead, the favourite keeps a small edge


def test_spread_and_total_from_the_same_model() -> None:
    # SAS home +3 (NYK favoured by 3); P(NYK wins by over 5.5) pregame = Phi((3 - 5.5)/15.8)
    s = _state(0, 0, 0, 720, GameStatus.SCHEDULED)
    assert wp.team_margin_over_ppm(s, "NYK", 30, 55) == 437_139
    # total 226 pregame, strike 217.5: Phi(8.5 / 18) = Phi(0.4722) = 0.6816
    assert wp.total_over_ppm(s, 2260, 2175) == 681_616
    # 100 points at half: mean 100 + 113 = 213, sd 18*sqrt(.5): Phi(-4.5/12.728) = 0.3618
    assert wp.total_over_ppm(_state(52, 48, 3, 720), 2260, 2175) == 361_837
    with pytest.raises(ValueError):
        wp.team_margin_over_ppm(s, "LAL", 30, 55)
