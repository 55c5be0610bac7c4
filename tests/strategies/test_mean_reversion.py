"""mean_reversion: fade a residual from the model that the score does not explain."""

from __future__ import annotations

from models import Action, GameStatus, Side
from strategies.mean_reversion import MeanReversion, MeanReversionConfig
from tests.strategies.world import (
    BOOKS,
    HOME,
    T0,
    World,
    game,
    intents,
    run,
    snapshot,
    spread_quote,
)


def steady(world: World, s: MeanReversion, samples: int = 24) -> int:
    """The market quoted around the model's value for two minutes (one sample every 5 s, the
    score refreshed every 30 s); returns the model's YES value in centicents and the last time."""
    world.matched()
    world.feed(game(T0 - 60_000, status=GameStatus.SCHEDULED, period=0))
    for vendor in BOOKS:
        world.feed(spread_quote(vendor, -50, T0 - 50_000))
    world.feed(game(T0))
    nba = world.nba_state
    assert nba is not None
    fair = nba.fair_ppm(HOME)
    assert fair is not None
    f = fair // 100
    for n in range(samples):
        t = T0 + 5_000 * n
        if n % 6 == 0:
            run(s, world, game(t))
        mid = f + (50 if n % 2 else -50)
        assert run(s, world, snapshot(HOME, mid - 100, mid + 100, t, seq=n + 1)) == []
    return f


def test_fades_a_jump_the_score_does_not_explain() -> None:
    world, s = World(), MeanReversion(MeanReversionConfig())
    f = steady(world, s)
    t = T0 + 5_000 * 24
    out = intents(run(s, world, snapshot(HOME, f + 500, f + 700, t, seq=99)))
    assert [(i.ticker, i.side, i.action) for i in out] == [(HOME, Side.NO, Action.BUY)]
    assert out[0].price == 10_000 - (f + 500)  # the NO ask: 1 - the YES bid
    assert "z +" in out[0].signal and out[0].probability_ppm is not None
    # the NO value it states: where the price should come back to, about the model's
    assert abs(out[0].probability_ppm - (10_000 - f) * 100) < 10_000
    # back at the mean: out at the bid
    world.positions[HOME] = -500
    later = [snapshot(HOME, f - 100, f + 100, t + 5_000 * k, seq=100 + k) for k in range(1, 4)]
    exits = [d for snap in later for d in run(s, world, snap)]
    assert exits and intents(exits)[0].action is Action.SELL
    assert "back at the mean" in intents(exits)[0].signal


def test_a_jump_the_score_explains_is_not_faded() -> None:
    world, s = World(), MeanReversion(MeanReversionConfig())
    f = steady(world, s)
    t = T0 + 5_000 * 24
    run(s, world, game(t, home=12, away=0, left=600))  # SAS goes 12 up: the model moves
    nba = world.nba_state
    assert nba is not None
    moved = (nba.fair_ppm(HOME) or 0) // 100
    assert moved > f + 500
    assert run(s, world, snapshot(HOME, moved - 100, moved + 100, t + 1, seq=99)) == []


def test_stays_out_on_stale_scores_and_says_why() -> None:
    world, s = World(), MeanReversion(MeanReversionConfig(max_score_age_ms=60_000))
    f = steady(world, s)
    t = T0 + 5_000 * 23 + 61_000  # the last score was at 5_000 * 18
    assert run(s, world, snapshot(HOME, f + 500, f + 700, t, seq=99)) == []
    assert s.status.startswith("stale scores")
