"""One request budget per upstream, built once by the app and spent by every path to it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clock import ManualClock
from nba.poll import TIERS, budget_for
from tests.serving import running_app
from tests.test_app_e2e import sim_settings

T0 = 1_781_391_600_000  # 2026-06-13 23:00 UTC


@pytest.mark.parametrize("tier", sorted(TIERS))
def test_the_balldontlie_budget_never_exceeds_half_the_tier(tier: str) -> None:
    rate, burst = budget_for(tier, 1000.0, 1000)
    per_min = TIERS[tier].requests_per_min
    assert rate * 60 <= per_min / 2 and burst <= per_min / 2 and burst >= 1
    assert budget_for(tier, 0.01, 1) == (0.01, 1)  # below the cap, what is asked for
    assert budget_for("goat", 5.0, 10) == (5.0, 10)  # the defaults fit the goat tier as they are


async def test_every_path_to_kalshi_spends_one_budget_and_meets_no_429(tmp_path: Path) -> None:
    """NBA discovery, market details and trade backfill all at once, 120 requests: more than
    the simulated exchange's burst of 100, paced at 40/s by the app's one Kalshi budget (the
    exchange refills 20/s), so the exchange never answers 429."""
    settings = sim_settings(tmp_path, sim_games=3, sim_tipoff_s=3600, kalshi_rest_rate=40.0,
                            kalshi_rest_burst=20)  # fmt: skip
    # the real clock: the exchange's own bucket refills on the clock it is given
    async with running_app(settings) as app:
        rt = app.runtime
        nba, rest, fetch = rt.nba, rt.source.rest, rt.source.fetch_markets
        assert nba is not None and rest is not None and fetch is not None
        tickers = rt.source.sim.tickers()
        async with asyncio.timeout(30):
            await asyncio.gather(
                *(nba.discover() for _ in range(20)),  # 3 /events each
                *(fetch(tickers[i : i + 2]) for i in range(0, 60, 2)),  # 30 /markets
                # and 30 pages of /markets/trades, as the feed's backfill asks
                *(rest.trades(min_ts=rt.clock.now_ms() // 1000 - 60) for _ in range(30)),
            )
        log = rt.source.sim.rest_log
        assert log.count("/events") >= 60 and log.count("/markets/trades") >= 30
        assert log.rejected_429 == 0, log.answers
        assert rest.retries == 0
        kalshi = rt.budgets["kalshi"]
        assert kalshi.taken >= 120 and kalshi.waited > 0  # paced, not refused
        assert (kalshi.rate_per_s, kalshi.burst) == (40.0, 20)


async def test_the_balldontlie_client_spends_the_balldontlie_budget(tmp_path: Path) -> None:
    settings = sim_settings(tmp_path, sim_games=3, sim_tipoff_s=3600, balldontlie_rate=100.0)
    async with running_app(settings, clock=ManualClock(T0)) as app:
        nba = app.runtime.nba
        assert nba is not None
        await nba.refresh()
        budget = app.runtime.budgets["balldontlie"]
        assert (budget.rate_per_s, budget.burst) == (5.0, 10)  # capped to half the goat tier
        # on the frozen clock the poller is never due again: every request so far is counted
        assert budget.taken == app.runtime.source.nba_sim.requests > 0
