from models import GameState, GameStatus, OddsQuote
from sim.nba_games import NightSim


def _run(seed: int, step_ms: int) -> NightSim:
    night = NightSim(seed, "2026-01-07", 0, 15, acceleration=120.0, stagger_ms=5_000)
    now = 0
    while now < 120_000:
        now += step_ms
        night.step(now)
    return night


def test_full_night_plays_to_final_with_realistic_scores() -> None:
    night = _run(3, 1_000)
    states = night.states()
    assert len(states) == 15 and all(s.status is GameStatus.FINAL for s in states)
    for s in states:
        assert s.home_score != s.away_score and s.period >= 4
        assert 150 < s.home_score + s.away_score < 320
        assert night.true_yes_ppm(s.game_id) in (0, 1_000_000)
        assert night.winner(s.game_id) in (s.home, s.away)


def test_deterministic_for_a_seed_whatever_the_step_size() -> None:
    a, b = _run(11, 1_000), _run(11, 7_000)
    assert [(s.home_score, s.away_score, s.period) for s in a.states()] == [
        (s.home_score, s.away_score, s.period) for s in b.states()
    ]
    assert _run(12, 1_000).states() != a.states()


def test_step_reports_changes_quarters_halftime_and_odds() -> None:
    night = NightSim(4, "2026-01-07", 1_000, 1, acceleration=60.0)
    (gid,) = night.games
    assert all(isinstance(x, OddsQuote) for x in night.step(0))  # before tip-off: odds only
    seen_status: set[GameStatus] = set()
    periods: set[int] = set()
    vendors: set[str] = set()
    for t in range(1_000, 100_000, 500):
        for change in night.step(t):
            if isinstance(change, GameState):
                seen_status.add(change.status)
                periods.add(change.period)
            else:
                vendors.add(change.vendor)
    assert {GameStatus.LIVE, GameStatus.HALFTIME, GameStatus.FINAL} <= seen_status
    assert {1, 2, 3, 4} <= periods
    assert {"draftkings", "fanduel", "kalshi", "polymarket"} <= vendors
    g = night.state(gid)
    spread = night.true_spread_ppm(gid, g.home, 0)
    assert spread == night.true_yes_ppm(gid, g.home)  # won by more than 0 == won
    assert g.status is GameStatus.FINAL and spread in (0, 1_000_000)


def test_the_truth_pregame_follows_the_line() -> None:
    """Before tip-off the form is 0: the truth is the line's (the total is exact, the line its
    nearest half point, so over the line is close to, not exactly, even)."""
    night = NightSim(8, "2026-01-07", 10_000, 15)
    night.step(0)
    for gid, g in night.games.items():
        home = night.true_yes_ppm(gid)
        assert home + night.true_yes_ppm(gid, g.away) == 1_000_000
        assert (home > 500_000) == (g.home_spread_tenths < 0) or g.home_spread_tenths == 0
        over = night.true_total_ppm(gid, g.total_tenths)
        assert abs(over - 500_000) < 25_000
