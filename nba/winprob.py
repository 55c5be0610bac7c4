"""In-game NBA win probability: Stern's Brownian-motion model.

Stern, H. S. (1994). "A Brownian Motion Model for the Progress of Sports Scores." Journal of the
American Statistical Association 89(427), 1128-1134. The home lead X(t), t in [0, 1] the fraction
of regulation played, is Brownian motion with drift mu and variance sigma**2 per game, so with
lead l and a fraction r = 1 - t left:

    P(home wins) = Phi((l + mu * r) / (sigma * sqrt(r)))

Stern fitted 493 NBA games of the 1991-92 season; ``SIGMA_MARGIN`` = 15.8 points per 48 minutes is
that fit as commonly quoted. Here mu is not Stern's fitted home edge but the pregame point spread
(mu = -home spread), which prices team strength and home court together.

The total is modelled the same way (drift = the pregame total, per game). Its sigma,
``SIGMA_TOTAL`` = 18 points per game, is NOT from Stern: it is a stated assumption of this module
(spread of NBA totals around the closing total) and is a parameter of every function using it.

Floats are used inside the model only; ``*_ppm`` functions return integer parts per million.
"""

from __future__ import annotations

import math

from models import GameState, GameStatus

SIGMA_MARGIN = 15.8
SIGMA_TOTAL = 18.0
REGULATION_SECONDS = 2880  # 4 quarters x 12 minutes
QUARTER_SECONDS = 720
PPM = 1_000_000


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def seconds_left_in_game(period: int, seconds_left: int) -> int:
    """Regulation seconds still to play; in overtime only the current period's clock counts."""
    if period <= 0:
        return REGULATION_SECONDS
    if period <= 4:
        return (4 - period) * QUARTER_SECONDS + seconds_left
    return seconds_left


def prob_final_exceeds(
    current: float, drift_per_game: float, threshold: float, seconds_left: int, sigma: float
) -> float:
    """P(final value > threshold) for a Brownian quantity now at ``current`` with the given drift
    and sigma per 48 minutes. With no time left: 1, 0, or 1/2 exactly at the threshold."""
    r = seconds_left / REGULATION_SECONDS
    mean = current + drift_per_game * r
    if r <= 0:
        return 1.0 if mean > threshold else 0.0 if mean < threshold else 0.5
    return normal_cdf((mean - threshold) / (sigma * math.sqrt(r)))


def home_win_prob(
    lead: int, seconds_left: int, home_spread: float, sigma: float = SIGMA_MARGIN
) -> float:
    """Stern's formula; ``home_spread`` is the pregame line for home (-5.5 = home favoured)."""
    return prob_final_exceeds(lead, -home_spread, 0.0, seconds_left, sigma)


def margin_over_prob(
    team_lead: int,
    seconds_left: int,
    team_spread: float,
    strike: float,
    sigma: float = SIGMA_MARGIN,
) -> float:
    """P(the team wins by more than ``strike`` points), e.g. Kalshi 'NYK wins by over 5.5'."""
    return prob_final_exceeds(team_lead, -team_spread, strike, seconds_left, sigma)


def total_over_prob(
    total_now: int,
    seconds_left: int,
    pregame_total: float,
    strike: float,
    sigma: float = SIGMA_TOTAL,
) -> float:
    return prob_final_exceeds(total_now, pregame_total, strike, seconds_left, sigma)


def to_ppm(p: float) -> int:
    return min(PPM, max(0, math.floor(p * PPM + 0.5)))


def _left(state: GameState) -> int:
    if state.status is GameStatus.FINAL:
        return 0
    return seconds_left_in_game(state.period, state.seconds_left)


def home_win_ppm(state: GameState, home_spread_tenths: int) -> int:
    lead = state.home_score - state.away_score
    if state.status is GameStatus.FINAL:
        return PPM if lead > 0 else 0 if lead < 0 else PPM // 2
    if lead == 0 and _left(state) == 0:
        # tied at the horn: overtime follows; the line still favours the stronger side a little
        return to_ppm(home_win_prob(0, 300, home_spread_tenths / 10))
    return to_ppm(home_win_prob(lead, _left(state), home_spread_tenths / 10))


def team_margin_over_ppm(
    state: GameState, team: str, home_spread_tenths: int, strike_tenths: int
) -> int:
    """P(``team`` wins by more than the strike), for KXNBASPREAD markets."""
    if team not in (state.home, state.away):
        raise ValueError(f"{team} does not play in game {state.game_id}")
    sign = 1 if team == state.home else -1
    lead = sign * (state.home_score - state.away_score)
    return to_ppm(
        margin_over_prob(lead, _left(state), sign * home_spread_tenths / 10, strike_tenths / 10)
    )


def total_over_ppm(state: GameState, pregame_total_tenths: int, strike_tenths: int) -> int:
    """P(total points > strike), for KXNBATOTAL markets."""
    return to_ppm(
        total_over_prob(
            state.home_score + state.away_score,
            _left(state),
            pregame_total_tenths / 10,
            strike_tenths / 10,
        )
    )
