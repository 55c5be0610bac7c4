"""The /ws/stream hub: filters, coalesced trade batches, and slow clients dropped."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from clock import ManualClock
from models import Side, Trade
from websocket_handler import SLOW_CLIENT_CLOSE, FilterError, Hub, TradeFilter, expand_trades


def trade(n: int, count: int = 100, side: Side = Side.YES, ticker: str = "KXBTC-X") -> Trade:
    return Trade(f"id-{n}", ticker, 4500, count, side, 1_000 + n, 1_001 + n)


class FakeSocket:
    """Stands in for a Starlette WebSocket: records what is sent, blocks sends when told to."""

    def __init__(self, block_sends: bool = False) -> None:
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming: asyncio.Queue[str] = asyncio.Queue()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.block = block_sends
        self.client = None

    async def accept(self) -> None:
        return None

    async def send_text(self, data: str) -> None:
        if self.block:
            await asyncio.Event().wait()
        await self.sent.put(orjson.loads(data))

    async def receive_text(self) -> str:
        return await self.incoming.get()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed.done():
            self.closed.set_result(code)


def make_hub(queue_size: int = 16) -> Hub:
    return Hub(
        clock=ManualClock(0),
        snapshot=lambda: {"type": "snapshot", "trades": []},
        queue_size=queue_size,
        batch_ms=100,
    )


async def next_of(sock: FakeSocket, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            msg = await sock.sent.get()
            if msg["type"] == kind:
                return msg


async def test_snapshot_first_then_coalesced_trades() -> None:
    hub = make_hub()
    sock = FakeSocket()
    task = asyncio.create_task(hub.serve(sock))  # type: ignore[arg-type]
    first = await asyncio.wait_for(sock.sent.get(), 5)
    assert first["type"] == "snapshot"
    for n in range(5):
        hub.add_trade(trade(n), "Bitcoin", 0)
    assert hub.flush_trades() == 5
    msg = await next_of(sock, "trades")
    trades = expand_trades(msg)
    assert [t["id"] for t in trades] == [f"id-{n}" for n in range(5)]
    assert trades[0]["yes_price"] == 4500 and trades[0]["count"] == 100
    assert trades[0]["title"] == "Bitcoin" and msg["titles"] == {trades[0]["ticker"]: "Bitcoin"}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hub.clients == 0


async def test_filter_message_limits_trades_and_is_acknowledged() -> None:
    hub = make_hub()
    sock = FakeSocket()
    task = asyncio.create_task(hub.serve(sock))  # type: ignore[arg-type]
    await next_of(sock, "snapshot")
    await sock.incoming.put('{"type":"filter","min_count":500,"side":"no","search":"kxnba"}')
    ack = await next_of(sock, "filter_ack")
    assert ack["filter"] == {
        "min_count": 500,
        "min_notional": None,
        "side": "no",
        "search": "KXNBA",
    }
    hub.add_trade(trade(1, count=1000, side=Side.NO, ticker="KXNBAGAME-A"), "", 0)
    hub.add_trade(trade(2, count=100, side=Side.NO, ticker="KXNBAGAME-A"), "", 0)
    hub.add_trade(trade(3, count=1000, side=Side.YES, ticker="KXNBAGAME-A"), "", 0)
    hub.add_trade(trade(4, count=1000, side=Side.NO, ticker="KXBTC-A"), "", 0)
    hub.flush_trades()
    msg = await next_of(sock, "trades")
    assert [t["id"] for t in expand_trades(msg)] == ["id-1"]
    await sock.incoming.put('{"type":"filter","min_count":-1}')
    err = await next_of(sock, "error")
    assert "min_count" in err["error"]
    await sock.incoming.put("not json")
    await next_of(sock, "error")
    assert hub.stats.bad_messages == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_slow_client_is_dropped_without_slowing_the_others() -> None:
    hub = make_hub(queue_size=4)
    slow, fast = FakeSocket(block_sends=True), FakeSocket()
    tasks = [asyncio.create_task(hub.serve(s)) for s in (slow, fast)]  # type: ignore[arg-type]
    await next_of(fast, "snapshot")
    for n in range(10):
        hub.publish({"type": "status", "n": n})  # never awaits, whoever is slow
        await next_of(fast, "status")
    assert await asyncio.wait_for(slow.closed, 5) == SLOW_CLIENT_CLOSE
    await asyncio.wait_for(tasks[0], 5)
    assert hub.stats.dropped_slow == 1
    assert hub.clients == 1
    tasks[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]


def test_filter_parse_rejects_bad_values() -> None:
    with pytest.raises(FilterError):
        TradeFilter.parse({"type": "filter", "side": "maybe"})
    with pytest.raises(FilterError):
        TradeFilter.parse({"type": "filter", "min_notional": 1.5})
    with pytest.raises(FilterError):
        TradeFilter.parse({"type": "filter", "min_count": True})
    assert TradeFilter.parse({"type": "filter"}).is_empty
    flt = TradeFilter.parse({"type": "filter", "min_notional": 1_000_000, "search": "bitcoin"})
    t = trade(1, count=300)  # 0.45 * 3 = $1.35 taker notional
    assert flt.matches(t, "Bitcoin above 100k")
    assert not flt.matches(t, "Ether")
    assert not TradeFilter(min_notional=2_000_000).matches(t, "")


async def test_a_client_that_chose_a_hot_window_gets_only_that_window() -> None:
    hub = make_hub()
    chooser, everything = FakeSocket(), FakeSocket()
    tasks = [asyncio.create_task(hub.serve(s)) for s in (chooser, everything)]  # type: ignore[arg-type]
    for s in (chooser, everything):
        await next_of(s, "snapshot")
    cards = {w: [{"ticker": f"KX-{w}", "volume": 1}] for w in ("1m", "5m", "15m", "1h", "24h")}
    hub.publish_hot(cards)
    assert set((await next_of(chooser, "hot"))["hot"]) == set(cards)
    await chooser.incoming.put('{"type":"hot_window","window":"15m"}')
    assert (await next_of(chooser, "hot"))["hot"] == {"15m": cards["15m"]}  # at once
    cards["15m"] = [{"ticker": "KX-new", "volume": 2}]
    hub.publish_hot(cards)
    assert (await next_of(chooser, "hot"))["hot"] == {"15m": cards["15m"]}
    await next_of(everything, "hot")
    assert set((await next_of(everything, "hot"))["hot"]) == set(cards)
    await chooser.incoming.put('{"type":"hot_window","window":"2m"}')
    assert "window must be one of" in (await next_of(chooser, "error"))["error"]
    await chooser.incoming.put('{"type":"hot_window","window":null}')
    assert set((await next_of(chooser, "hot"))["hot"]) == set(cards)
    for task in tasks:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
