"""The hub's adaptive batching: a quiet feed's trade goes out at once, batches grow with load."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from clock import ManualClock
from models import Side, Trade
from websocket_handler import LOAD_PER_GAP_MS, Hub, Subscriber


def snapshot() -> dict[str, Any]:
    return {"type": "snapshot", "trades": []}


def trade(n: int) -> Trade:
    return Trade(f"id-{n}", "KXBTC-X", 4500, 100, Side.YES, 1_000 + n, 1_001 + n)


async def next_trades(sub: Subscriber) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            msg = orjson.loads(await sub.queue.get())
            if msg["type"] == "trades":
                return dict(msg)


def test_the_gap_is_the_minimum_on_a_quiet_feed_and_grows_with_trades_times_clients() -> None:
    hub = Hub(clock=ManualClock(0), batch_ms=50, min_batch_ms=1)
    for i in range(100):
        hub.subscribe(f"c{i}", snapshot)
    assert hub.batch_gap_s() == pytest.approx(0.001)
    hub.trades_per_s = 1_000.0  # 1,000 trades/s to 100 clients
    assert hub.batch_gap_s() == pytest.approx(0.001 + 1_000 * 100 / LOAD_PER_GAP_MS / 1000)
    assert 0.005 < hub.batch_gap_s() < 0.015
    hub.trades_per_s = 10_000.0
    assert hub.batch_gap_s() == pytest.approx(0.050)  # capped at batch_ms


def test_the_rate_follows_what_was_sent_smoothed_over_about_a_second() -> None:
    hub = Hub(clock=ManualClock(0))
    hub._observe(0, 100.0)  # the first flush only sets the time
    for step in range(1, 41):
        hub._observe(100, 100.0 + step * 0.1)  # 100 trades every 100 ms: 1,000/s
    assert 900 < hub.trades_per_s <= 1_000
    hub._observe(0, 114.0)  # quiet for ten seconds
    assert hub.trades_per_s == pytest.approx(0.0)


async def test_a_trade_on_a_quiet_feed_goes_out_on_its_own_and_a_burst_goes_out_together() -> None:
    hub = Hub(clock=ManualClock(0), batch_ms=50, min_batch_ms=1)
    sub = hub.subscribe("only", snapshot)
    runner = asyncio.create_task(hub.run())
    try:
        hub.add_trade(trade(1), "Bitcoin", 0)
        first = await next_trades(sub)
        assert [row[0] for row in first["rows"]] == ["id-1"]
        for n in range(2, 102):  # in one turn of the loop, as a socket read's frames arrive
            hub.add_trade(trade(n), "Bitcoin", 0)
        burst = await next_trades(sub)
        assert [row[0] for row in burst["rows"]] == [f"id-{n}" for n in range(2, 102)]
        assert hub.stats.trades_batches == 2
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
