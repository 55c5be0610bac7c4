"""A start on a day of stored trades: the app serves at once, says it is warming up, and once the
windows are rebuilt in the background they are exactly what a full replay in order gives, with
the live trades handled meanwhile counted once."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx

from aggregator import WINDOWS, Aggregator
from analytics import MODES, Analytics
from app import Flowboard
from clock import ManualClock
from database import Database
from ingest.warm import WARM_BATCH, WarmStart
from models import Event, Side, Trade
from tests.serving import Running, running_app
from tests.test_app_e2e import sim_settings

T0 = 1_781_391_600_000  # 2026-06-13 23:00 UTC: the last stored trade, and the start
DAY_MS = 86_400_000
MARKETS = 200
STORED = 50_000


def stored_day(rng: random.Random) -> list[Trade]:
    """A day of trades over MARKETS markets, a few hundred of them older than the 24h window,
    some large enough for the large-trade list, several on one millisecond."""
    out = []
    for i in range(STORED):
        ts = T0 if i == 0 else T0 - rng.randrange(0, DAY_MS + 2 * 3_600_000)
        if i % 500 == 1:
            ts = T0 - 3_600_000  # same stamp, different prices: ties break by price
        count = rng.choice((100, 1_000, 5_000, 300_000))
        side = Side.YES if rng.random() < 0.55 else Side.NO
        ticker = f"KXWARM-{rng.randrange(MARKETS):03d}"
        out.append(Trade(f"h{i}", ticker, rng.randrange(1, 10_000), count, side, ts, ts + 40))
    return out


async def store(path: Path, trades: list[Trade]) -> None:
    db = await Database.open(path, clock=ManualClock(T0))
    try:
        db.add_trades(trades)
        await db.flush()
    finally:
        await db.close()


def live(n: int, clock: ManualClock, rng: random.Random) -> list[Trade]:
    """Trades as the feed delivers them during the warm-up: most now, on stored and new markets;
    one late (a backfilled gap) and one on the cut-off's own millisecond, both within the span
    the warm-up reads from SQLite once they are stored."""
    clock.advance(1_000)
    now = clock.now_ms()
    out = []
    for i in range(n):
        ticker = f"KXNEW-{now}" if i == 2 else f"KXWARM-{rng.randrange(MARKETS):03d}"
        ts = T0 - 3 * 3_600_000 if i == 0 else T0 if i == 1 else now - i
        side = Side.NO if i % 3 else Side.YES
        out.append(Trade(f"live-{now}-{i}", ticker, 100 + 37 * i, 200_000, side, ts, now))
    return out


async def get(client: httpx.AsyncClient, path: str) -> dict[str, object]:
    answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def step(warm: WarmStart) -> None:
    """Let the warm-up add one batch and stop again."""
    warm.release()
    warm.hold()
    async with asyncio.timeout(10):
        await warm.held.wait()


async def test_the_app_serves_while_warming_and_ends_with_the_full_replays_windows(
    tmp_path: Path,
) -> None:
    rng = random.Random(13)
    history = stored_day(rng)
    settings = sim_settings(tmp_path)
    await store(Path(settings.db_path), history)
    clock = ManualClock(T0)
    handled: list[Trade] = []

    def seen(event: Event) -> None:
        if isinstance(event, Trade):
            handled.append(event)

    def ready(fb: Flowboard) -> None:  # before any task has run
        fb.warm.hold()
        fb.pipeline.listen("test-trades", seen, kinds=(Trade,))

    async with running_app(settings, clock=clock, on_ready=ready) as app:
        warm = app.runtime.warm
        async with asyncio.timeout(10):
            await warm.held.wait()
        async with httpx.AsyncClient(base_url=app.url) as client:
            health = await get(client, "/api/health")
            assert health["ok"] is True and health["warming"] is True
            in_span = sum(t.ts_ms >= T0 - DAY_MS - 3_600_000 for t in history)
            assert (health["warm_rebuilt"], health["warm_total"]) == (0, in_span)
            stats = await get(client, "/api/stats")
            assert stats["warming"] is True and stats["warm_rebuilt"] == 0
            page = await client.get("/")
            assert page.status_code == 200

            await feed_live(app, live(5, clock, rng))
            await step(warm)
            assert warm.rebuilt == WARM_BATCH and warm.warming
            await feed_live(app, live(7, clock, rng))
            await step(warm)
            await step(warm)
            assert warm.rebuilt == 3 * WARM_BATCH
            status = (await get(client, "/api/stats"))["health"]
            assert isinstance(status, dict)
            assert status["checks"]["warm_start"]["state"] == "warming"
            await feed_live(app, live(3, clock, rng))

            warm.release()
            async with asyncio.timeout(30):
                await warm.done.wait()
            health = await get(client, "/api/health")
            assert health["warming"] is False and health["warm_rebuilt"] == warm.total

        assert len(handled) >= 15
        compare(app, history + handled, clock.now_ms())


async def feed_live(app: Running, trades: list[Trade]) -> None:
    """Handled by the pipeline (windows at once) and written to SQLite, where the warm-up must
    not read them again."""
    for trade in trades:
        app.runtime.pipeline.handle(trade)
    await app.runtime.db.flush()


def compare(app: Running, trades: list[Trade], now_ms: int) -> None:
    agg, flow = app.runtime.aggregator, app.runtime.analytics
    ref, ref_flow = Aggregator(), Analytics()
    for trade in sorted(trades, key=lambda t: t.ts_ms):  # stable: stored order within a stamp
        ref.add_trade(trade)
        ref_flow.add_trade(trade)
    for a in (agg, ref):
        a.advance(now_ms)
    assert agg.market_count() == ref.market_count() > MARKETS
    for ticker in sorted({t.ticker for t in trades}):
        for window in WINDOWS:
            assert agg.market(ticker, window) == ref.market(ticker, window), (ticker, window)
        assert agg.sparkline(ticker) == ref.sparkline(ticker), ticker
    for window in WINDOWS:
        for by in ("volume", "notional", "trades"):
            assert agg.hot(window, 50, by) == ref.hot(window, 50, by)
    assert agg.large_trades(200) == ref.large_trades(200)
    for mode in MODES:
        assert flow.view(mode, now_ms) == ref_flow.view(mode, now_ms), mode
