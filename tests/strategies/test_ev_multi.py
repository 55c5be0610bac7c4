"""ev_multi: consensus and model blended; EV after fees; fractional Kelly with caps."""

from __future__ import annotations

from models import Action, GameStatus, Side
from strategies.ev_multi import EvMulti, EvMultiConfig, kelly_count
from tests.strategies.world import (
    BOOKS,
    HOME,
    T0,
    World,
    game,
    intents,
    moneyline,
    run,
    snapshot,
    spread_quote,
)


def setup(world: World, s: EvMulti) -> None:
    world.matched()
    world.feed(game(T0 - 60_000, status=GameStatus.SCHEDULED, period=0))
    for vendor in BOOKS:  # before tip-off: SAS favoured by 5, the model's drift
        world.feed(spread_quote(vendor, -50, T0 - 50_000))
    run(s, world, game(T0))
    for i, vendor in enumerate(BOOKS):
        run(s, world, moneyline(vendor, 600_000, T0 + i))


def test_buys_the_side_whose_blended_value_beats_the_ask_sized_by_kelly() -> None:
    world, s = World(), EvMulti(EvMultiConfig())
    setup(world, s)
    nba = world.nba_state
    assert nba is not None
    model = nba.home_win_ppm(42)
    assert model is not None and model > 600_000
    out = intents(run(s, world, snapshot(HOME, 5_000, 5_200, T0 + 1_000)))
    assert len(out) == 1
    i = out[0]
    assert (i.ticker, i.side, i.action, i.price) == (HOME, Side.YES, Action.BUY, 5_200)
    blended = i.probability_ppm
    assert blended is not None
    consensus = nba.consensus_home_ppm(42)
    assert consensus is not None
    assert blended == (consensus + model + 1) // 2
    # a quarter Kelly of $1,000 is more than the cap: 20 contracts an order
    assert i.count == 2_000
    assert "consensus" in i.signal and "model" in i.signal and "Kelly" in i.signal


def test_kelly_sizes_and_the_position_cap() -> None:
    # p = 0.6, cost 0.5: f* = 0.2, a quarter is 5% of $1,000 = $50 = 100 contracts at 0.50
    assert kelly_count(600_000, 5_000, 250_000, 1_000_000_000) == 10_000
    assert kelly_count(500_000, 5_000, 250_000, 1_000_000_000) == 0
    world, s = World(), EvMulti(EvMultiConfig(max_position=2_500))
    setup(world, s)
    world.positions[HOME] = 2_000
    out = intents(run(s, world, snapshot(HOME, 5_000, 5_200, T0 + 1_000)))
    assert [i.count for i in out] == [500]


def test_stays_out_on_stale_scores_and_on_stale_odds() -> None:
    world, s = World(), EvMulti(EvMultiConfig(max_score_age_ms=60_000, max_odds_age_ms=300_000))
    setup(world, s)
    assert run(s, world, snapshot(HOME, 5_000, 5_200, T0 + 61_000)) == []
    assert s.status.startswith("stale scores")
    # without the model, the score's age does not matter, but the odds' does
    world2, s2 = World(), EvMulti(EvMultiConfig(model_weight=0, max_odds_age_ms=100_000))
    setup(world2, s2)
    assert len(run(s2, world2, snapshot(HOME, 5_000, 5_200, T0 + 61_000))) == 1
    assert run(s2, world2, snapshot(HOME, 5_000, 5_200, T0 + 101_000, seq=2)) == []
    assert s2.status.startswith("stale odds")
