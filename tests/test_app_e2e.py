"""End to end: the app on the built-in simulator over real loopback sockets."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

from config import Settings
from models import FeedState, FeedStatus, Trade
from stream.decoder import TradeDecoder
from tests.serving import Running, running_app


def sim_settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        source="sim", db_path=str(tmp_path / "board.db"), port=0, sim_rate=0, sim_markets=60,
        flush_interval_ms=20, trade_batch_ms=20,
    ).with_(**changes)  # fmt: skip


def trades_handled(app: Running, ids: list[str]) -> asyncio.Future[None]:
    """Resolves once the pipeline has handled every one of ``ids``."""
    waiting = set(ids)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_event(event: object) -> None:
        if isinstance(event, Trade):
            waiting.discard(event.trade_id)
            if not waiting and not done.done():
                done.set_result(None)

    app.runtime.pipeline.listen("test-waiter", on_event)
    return done


async def recv_type(ws: Any, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            msg = orjson.loads(await ws.recv())
            if msg["type"] == kind:
                return msg


async def emit(app: Running, n: int) -> list[str]:
    ids: list[str] = await app.runtime.source.sim.emit_trades(n)
    return ids


async def test_a_simulated_trade_reaches_api_stream_and_windows(tmp_path: Path) -> None:
    async with running_app(sim_settings(tmp_path)) as app:
        await app.runtime.source.sim.wait_clients(1)
        async with (
            httpx.AsyncClient(base_url=app.url) as http,
            websockets.connect(app.ws_url + "/ws/stream") as ws,
        ):
            snapshot = await recv_type(ws, "snapshot")
            assert snapshot["source"] == "sim"
            assert set(snapshot["hot"]) == {"1m", "5m", "15m", "1h", "24h"}
            decoder = TradeDecoder()
            decoder.feed(snapshot)
            ids = await emit(app, 5)
            seen: list[str] = []
            async with asyncio.timeout(10):
                while set(ids) - set(seen):
                    msg = await recv_type(ws, "trades")
                    seen += [t["id"] for t in decoder.feed(msg)]  # every title known
            assert sorted(set(seen)) == sorted(ids)
            await app.runtime.db.flush()
            r = await http.get("/api/trades/recent", params={"limit": 50})
            assert set(ids) <= {t["id"] for t in r.json()["trades"]}
            agg = app.runtime.aggregator
            tickers = {t.ticker for t in await app.runtime.db.recent_trades(limit=5)}
            for ticker in tickers:
                assert agg.market(ticker, "1m") is not None
            r = await http.get("/api/markets/hot", params={"window": "1m", "limit": 100})
            assert tickers <= {m["ticker"] for m in r.json()["markets"]}
            ticker = next(iter(tickers))
            r = await http.get(f"/api/markets/{ticker}")
            assert r.status_code == 200 and r.json()["ticker"] == ticker
            r = await http.get(f"/api/markets/{ticker}/trades")
            assert r.status_code == 200 and r.json()["trades"]


async def test_api_rejects_bad_parameters_and_unknown_tickers(tmp_path: Path) -> None:
    async with (
        running_app(sim_settings(tmp_path)) as app,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        r = await http.get("/api/markets/hot", params={"window": "7m"})
        assert r.status_code == 400 and r.json()["param"] == "window"
        r = await http.get("/api/trades/recent", params={"limit": "lots"})
        assert r.status_code == 400 and r.json()["param"] == "limit"
        r = await http.get("/api/trades/recent", params={"min_count": "1.234"})
        assert r.status_code == 400 and r.json()["param"] == "min_count"
        r = await http.get("/api/analytics", params={"mode": "week"})
        assert r.status_code == 400 and r.json()["param"] == "mode"
        r = await http.get("/api/markets/NOPE-NOT-A-MARKET")
        assert r.status_code == 404
        r = await http.get("/api/markets/NOPE-NOT-A-MARKET/trades")
        assert r.status_code == 404
        r = await http.get("/api/analytics", params={"mode": "day"})
        assert r.status_code == 200 and len(r.json()["buckets"]) == 24
        r = await http.get("/api/health")
        assert r.json()["ok"] is True
        r = await http.get("/metrics")
        assert r.status_code == 200 and "flowboard_trades" in r.text
        r = await http.get("/api/stats")
        body = r.json()
        for key in ("trades_stored", "trades_per_s", "lag_ms", "reconnects", "gaps_recovered",
                    "trades_recovered", "db_bytes", "clients", "dropped_clients"):  # fmt: skip
            assert key in body, key
        r = await http.get("/api/gaps")
        assert r.status_code == 200 and "gaps" in r.json()


async def test_a_dead_feed_task_turns_health_red(tmp_path: Path) -> None:
    async with (
        running_app(sim_settings(tmp_path, nba=False)) as app,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        sim = app.runtime.source.sim
        await sim.wait_clients(1)
        assert (await http.get("/api/health")).status_code == 200
        failed: asyncio.Future[FeedStatus] = asyncio.get_running_loop().create_future()

        def on_status(event: object) -> None:
            if not isinstance(event, FeedStatus) or failed.done():
                return
            if event.state is FeedState.FAILED:
                failed.set_result(event)

        app.runtime.pipeline.listen("test-failed", on_status, kinds=(FeedStatus,))
        await asyncio.wait_for(trades_handled(app, await emit(app, 1)), 10)
        sim.faults.reject_auth(1_000)  # the key is revoked; the WebSocket stays up
        sim.faults.skip_seq("trade", 1)
        await emit(app, 1)  # a seq gap: the backfill asks REST, is refused and dies
        await asyncio.wait_for(failed, 10)
        r = await http.get("/api/health")
        assert r.status_code == 503 and r.json()["failed_tasks"] == ["kalshi-feed"]


async def test_restart_rebuilds_windows_and_keeps_every_trade(tmp_path: Path) -> None:
    settings = sim_settings(tmp_path)
    async with running_app(settings) as app:
        await app.runtime.source.sim.wait_clients(1)
        handled = trades_handled(app, [])
        ids = await emit(app, 40)
        handled = trades_handled(app, ids)
        await asyncio.wait_for(handled, 10)
        app.runtime.board.tick()
        before = {w: app.runtime.board.hot(w, 100) for w in ("1m", "1h", "24h")}
    async with running_app(settings) as again:
        assert await again.runtime.db.trade_count() == len(ids)
        await asyncio.wait_for(again.runtime.warm.done.wait(), 10)  # rebuilt in the background
        after = {w: again.runtime.board.hot(w, 100) for w in ("1m", "1h", "24h")}
        for w in before:
            strip = [{k: v for k, v in c.items() if k != "title"} for c in before[w]]
            assert [{k: v for k, v in c.items() if k != "title"} for c in after[w]] == strip
        # the restarted simulator trades on with fresh ids: nothing it emits is taken for a
        # trade already stored
        await again.runtime.source.sim.wait_clients(1)
        more = await emit(again, 40)
        assert not set(more) & set(ids)
        await asyncio.wait_for(trades_handled(again, more), 10)
        await again.runtime.db.flush()
        assert await again.runtime.db.trade_count() == len(ids) + len(more)


async def test_analytics_updates_carry_only_the_changed_buckets(tmp_path: Path) -> None:
    async with running_app(sim_settings(tmp_path)) as app:
        await app.runtime.source.sim.wait_clients(1)
        async with websockets.connect(app.ws_url + "/ws/stream") as ws:
            snapshot = await recv_type(ws, "snapshot")
            full = snapshot["analytics"]["hour"]["buckets"]
            assert len(full) == 60
            app.runtime.board.tick()  # the first tick publishes every bucket it has not before
            ids = await emit(app, 30)
            await asyncio.wait_for(trades_handled(app, ids), 10)
            app.runtime.board.tick()
            hour = (await recv_type(ws, "analytics"))["hour"]
            while hour["total_trades"] < 30:  # an update from before the trades
                hour = (await recv_type(ws, "analytics"))["hour"]
            assert hour["partial"] and 1 <= len(hour["buckets"]) <= 2
            merged = {b["start_ms"]: b for b in full} | {b["start_ms"]: b for b in hour["buckets"]}
            now = sorted(merged.values(), key=lambda b: b["start_ms"])[-60:]
            assert sum(b["trades"] for b in now) == hour["total_trades"] >= 30


def _hold_the_loop_until_the_watchdog_sees_it(app: Running) -> None:
    """Blocks the event loop (the point of the test) until the watchdog thread has counted the
    stall, or 5 s pass."""
    deadline = time.monotonic() + 5
    while app.runtime.watchdog.stats.current_stall_ms == 0 and time.monotonic() < deadline:
        pass


async def test_a_blocked_loop_shows_in_stats_and_metrics(tmp_path: Path) -> None:
    async with running_app(sim_settings(tmp_path, nba=False, stall_threshold_s=0.05)) as app:
        _hold_the_loop_until_the_watchdog_sees_it(app)
        async with httpx.AsyncClient(base_url=app.url) as http:
            loop = (await http.get("/api/stats")).json()["loop"]
            assert loop["stalls"] >= 1 and loop["longest_stall_ms"] >= 50
            assert "_hold_the_loop_until_the_watchdog_sees_it" in loop["last_stall_stack"]
            text = (await http.get("/metrics")).text
            assert "flowboard_loop_stalls_total" in text
            assert "flowboard_loop_longest_stall_ms" in text
