"""The /ws/stream hub: filters, coalesced trade batches, and slow clients dropped."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.types import Message, Scope
from starlette.websockets import WebSocket

from bench.ws_swarm import trades_in
from clock import ManualClock
from models import Side, Trade
from stream.decoder import MissingTitle, TradeDecoder, expand_trades
from stream.filters import FilterError, TradeFilter
from stream.messages import TITLE_REFRESH_MS, Pending, encode, trades_message
from stream.requests import MAX_REQUEST_BYTES, too_big
from websocket_handler import SLOW_CLIENT_CLOSE, Hub, Subscriber


def trade(n: int, count: int = 100, side: Side = Side.YES, ticker: str = "KXBTC-X") -> Trade:
    return Trade(f"id-{n}", ticker, 4500, count, side, 1_000 + n, 1_001 + n)


class FakeSocket(WebSocket):
    """A real Starlette WebSocket over an in-memory ASGI channel: the client's side goes in as
    the ASGI messages uvicorn gives (``say``, ``say_bytes``, ``leave``), what the hub sends is
    recorded, and sends block when told to."""

    def __init__(self, block_sends: bool = False) -> None:
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.block = block_sends
        self.incoming.put_nowait({"type": "websocket.connect"})
        scope: Scope = {"type": "websocket", "path": "/ws/stream", "headers": [], "client": None}
        super().__init__(scope, self.incoming.get, self._from_app)

    async def _from_app(self, message: Message) -> None:
        if message["type"] == "websocket.send":
            if self.block:
                await asyncio.Event().wait()
            await self.sent.put(orjson.loads(message["text"]))
        elif message["type"] == "websocket.close" and not self.closed.done():
            self.closed.set_result(message["code"])

    def say(self, text: str) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": text})

    def say_bytes(self, data: bytes) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "bytes": data})

    def leave(self, code: int = 1001) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": code})


def snapshot() -> dict[str, Any]:
    return {"type": "snapshot", "trades": []}


def make_hub(queue_size: int = 16) -> Hub:
    return Hub(
        clock=ManualClock(0),
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
    task = asyncio.create_task(hub.serve(sock, snapshot))
    first = await asyncio.wait_for(sock.sent.get(), 5)
    assert first["type"] == "snapshot"
    for n in range(5):
        hub.add_trade(trade(n), "Bitcoin", 0)
    assert hub.flush_trades() == 5
    msg = await next_of(sock, "trades")
    trades = expand_trades(msg)
    assert [t["id"] for t in trades] == [f"id-{n}" for n in range(5)]
    assert trades[0]["yes_price"] == 4500 and trades[0]["count"] == 100
    assert trades[0]["title"] == "Bitcoin"
    assert msg["markets"] == ["KXBTC-X"] and msg["titles"] == {"KXBTC-X": "Bitcoin"}
    assert [t["ts_ms"] for t in trades] == [1_000 + n for n in range(5)]
    assert msg["t0"] == 1_000 and [r[-3] for r in msg["rows"]] == [0, 1, 2, 3, 4]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hub.clients == 0


async def test_filter_message_limits_trades_and_is_acknowledged() -> None:
    hub = make_hub()
    sock = FakeSocket()
    task = asyncio.create_task(hub.serve(sock, snapshot))
    await next_of(sock, "snapshot")
    sock.say('{"type":"filter","min_count":500,"side":"no","search":"kxnba"}')
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
    sock.say('{"type":"filter","min_count":-1}')
    err = await next_of(sock, "error")
    assert "min_count" in err["error"]
    sock.say("not json")
    await next_of(sock, "error")
    assert hub.stats.bad_messages == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_slow_client_is_dropped_without_slowing_the_others() -> None:
    hub = make_hub(queue_size=4)
    slow, fast = FakeSocket(block_sends=True), FakeSocket()
    tasks = [asyncio.create_task(hub.serve(s, snapshot)) for s in (slow, fast)]
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
    tasks = [asyncio.create_task(hub.serve(s, snapshot)) for s in (chooser, everything)]
    for s in (chooser, everything):
        await next_of(s, "snapshot")
    cards = {w: [{"ticker": f"KX-{w}", "volume": 1}] for w in ("1m", "5m", "15m", "1h", "24h")}
    hub.publish_hot(cards)
    assert set((await next_of(chooser, "hot"))["hot"]) == set(cards)
    chooser.say('{"type":"hot_window","window":"15m"}')
    assert (await next_of(chooser, "hot"))["hot"] == {"15m": cards["15m"]}  # at once
    cards["15m"] = [{"ticker": "KX-new", "volume": 2}]
    hub.publish_hot(cards)
    assert (await next_of(chooser, "hot"))["hot"] == {"15m": cards["15m"]}
    await next_of(everything, "hot")
    assert set((await next_of(everything, "hot"))["hot"]) == set(cards)
    chooser.say('{"type":"hot_window","window":"2m"}')
    assert "window must be one of" in (await next_of(chooser, "error"))["error"]
    chooser.say('{"type":"hot_window","window":null}')
    assert set((await next_of(chooser, "hot"))["hot"]) == set(cards)
    for task in tasks:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# ---- what a client sends: bad input is answered, counted and logged escaped, once -------------

# The close codes clients see (RFC 6455 7.4.1) and the documented limits, pinned here.
UNSUPPORTED_DATA, POLICY_VIOLATION, MESSAGE_TOO_BIG = 1003, 1008, 1009
BAD_LIMIT = 100  # websocket_handler.BAD_MESSAGE_LIMIT
LOG_EVERY_MS = 10_000  # websocket_handler.BAD_LOG_EVERY_MS


def hub_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "websocket_handler"]


async def serving(hub: Hub, *socks: FakeSocket) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(hub.serve(s, snapshot)) for s in socks]
    for s in socks:
        await next_of(s, "snapshot")
    return tasks


async def test_a_binary_message_is_closed_with_1003_and_raises_nothing() -> None:
    hub = make_hub()
    binary, other = FakeSocket(), FakeSocket()
    tasks = await serving(hub, binary, other)
    binary.say_bytes(b"\x00\xff\x81binary")
    await asyncio.wait_for(tasks[0], 5)  # returns: no KeyError out of the handler
    assert binary.closed.result() == UNSUPPORTED_DATA
    assert hub.stats.bad_messages == 1 and hub.stats.closed_bad == 1
    hub.publish({"type": "status", "n": 1})
    await next_of(other, "status")  # the others carry on
    assert hub.clients == 1
    tasks[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]


async def test_bad_text_is_logged_escaped_and_then_counted_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="websocket_handler")
    clock = ManualClock(T0)
    hub = Hub(clock=clock, queue_size=256, batch_ms=100)
    sock = FakeSocket()
    [task] = await serving(hub, sock)
    # a newline that would start a forged log line, and terminal escapes
    forged = "x\n2026-01-01 00:00:00 ERROR flowboard: forged \x1b[2J\x1b[31mred\x1b[0m"
    for _ in range(30):
        sock.say(forged)
        await next_of(sock, "error")  # each one answered; the connection goes on
    [first] = hub_lines(caplog)
    assert "\n" not in first and "\x1b" not in first
    assert "'x\\n2026-01-01 00:00:00 ERROR flowboard: forged \\x1b[2J" in first
    assert "1 bad messages in all, 0 not logged" in first
    clock.advance(LOG_EVERY_MS - 1)
    sock.say(forged)
    await next_of(sock, "error")
    assert len(hub_lines(caplog)) == 1
    clock.advance(1)
    sock.say("[1, 2")
    await next_of(sock, "error")
    second = hub_lines(caplog)[1]
    assert "'[1, 2'" in second and "32 bad messages in all, 30 not logged before it" in second
    for _ in range(5):
        sock.say('{"type":"filter","side":"\\u001b[31m\\n"}')
        await next_of(sock, "error")
    sock.leave()
    await asyncio.wait_for(task, 5)
    lines = hub_lines(caplog)
    assert len(lines) == 3 and "37 bad messages in all, the last 5 not logged" in lines[2]
    assert all("\n" not in line and "\x1b" not in line for line in lines)
    assert hub.stats.bad_messages == 37 and hub.stats.closed_bad == 0


async def test_a_flood_of_bad_messages_is_closed_with_1008_and_the_others_carry_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="websocket_handler")
    hub = Hub(clock=ManualClock(T0), queue_size=256, batch_ms=100)
    flood, polite = FakeSocket(), FakeSocket()
    tasks = await serving(hub, flood, polite)
    for n in range(1_000):  # sent at once, read by the hub one by one
        flood.say(f"bad {n}\n")
    polite.say('{"type":"filter","min_count":5}')
    await asyncio.wait_for(tasks[0], 5)
    assert flood.closed.result() == POLICY_VIOLATION
    assert hub.stats.bad_messages == BAD_LIMIT and hub.stats.closed_bad == 1
    first, closing = hub_lines(caplog)  # not 1,000 lines: the first, and the close
    assert "'bad 0\\n'" in first
    assert "with 1008" in closing and f"{BAD_LIMIT} bad messages in all" in closing
    assert (await next_of(polite, "filter_ack"))["filter"]["min_count"] == 5
    hub.add_trade(trade(1, count=10), "Bitcoin", 0)
    hub.flush_trades()
    assert [t["id"] for t in expand_trades(await next_of(polite, "trades"))] == ["id-1"]
    assert hub.clients == 1
    tasks[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]


async def test_an_oversized_message_is_closed_with_1009_and_never_parsed() -> None:
    hub = make_hub()
    sock, at_limit = FakeSocket(), FakeSocket()
    tasks = await serving(hub, sock, at_limit)
    head = '{"type":"filter","min_count":500,"pad":"'
    exact = head + "x" * (MAX_REQUEST_BYTES - len(head) - 2) + '"}'
    assert len(exact.encode()) == MAX_REQUEST_BYTES
    at_limit.say(exact)
    assert (await next_of(at_limit, "filter_ack"))["filter"]["min_count"] == 500
    sock.say(exact[:-2] + 'x"}')  # one byte more: a valid filter, refused unread
    await asyncio.wait_for(tasks[0], 5)
    assert sock.closed.result() == MESSAGE_TOO_BIG
    assert sock.sent.empty()  # no filter_ack, no error: it was not parsed
    assert hub.stats.bad_messages == 1 and hub.stats.closed_bad == 1
    tasks[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]


def test_the_size_limit_counts_utf8_bytes() -> None:
    limit = MAX_REQUEST_BYTES
    for char, size in (("a", 1), ("é", 2), ("🏀", 4)):
        assert not too_big(char * (limit // size)), char
        assert too_big(char * (limit // size + 1)), char


async def test_any_json_value_as_a_type_or_window_gets_a_short_error_reply() -> None:
    hub = make_hub()
    sock = FakeSocket()
    [task] = await serving(hub, sock)
    deep = "[" * 1000 + "]" * 1000  # within orjson's depth limit, beyond repr's recursion limit
    for text in [
        '{"type":"hot_window","window":[1]}',  # unhashable: not `in` a dict
        '{"type":"hot_window","window":{"15m":true}}',
        '{"type":"hot_window","window":5}',
        '{"type":' + deep + "}",
        '{"type":{"type":"filter"}}',
        '{"type":"' + "z" * 3000 + '"}',
        '{"type":"filter","search":' + deep + "}",
        "[" * 1025 + "]" * 1025,  # beyond orjson's depth limit
        '{"type":"filter","min_count":1e999}',
        '{"type":"filter","min_count":123456789012345678901234567890}',
    ]:
        sock.say(text)
        reply = await next_of(sock, "error")
        assert len(reply["error"]) < 200, text[:40]
    assert hub.stats.bad_messages == 10
    sock.leave()
    await asyncio.wait_for(task, 5)


# ---- the `trades` message: rows, markets once, times after t0 -----------------------------------


def wire(pending: list[Pending]) -> bytes:
    return encode(trades_message(pending)).encode()


def as_objects(pending: list[Pending]) -> list[dict[str, Any]]:
    return [
        {
            "id": t.trade_id,
            "ticker": t.ticker,
            "title": title,
            "yes_price": t.yes_price,
            "count": t.count,
            "side": t.taker_side.value,
            "ts_ms": t.ts_ms,
            "recv_ms": t.recv_ms,
            "tier": tier,
        }
        for t, title, tier in pending
    ]


def test_trades_message_names_each_market_once_and_counts_from_the_earliest_time() -> None:
    btc, nba = "KXBTCD-26JAN0117-T96999.99", "KXNBAGAME-26JAN04SACBOS-SAC"
    pending: list[Pending] = [
        (Trade("9b2f3c4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", btc, 4500, 100, Side.YES,
               1_767_225_600_010, 1_767_225_600_030), "Bitcoin price today?", 0),
        (Trade("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", nba, 6100, 250_000, Side.NO,
               1_767_225_600_020, 1_767_225_600_025), "SAC at BOS Winner?", 2),
        # a backfilled trade, older than the first: t0 moves back so no offset is negative
        (Trade("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", btc, 4400, 37, Side.YES,
               1_767_225_599_000, 1_767_225_600_031), "Bitcoin price today?", 0),
    ]  # fmt: skip
    data = wire(pending)
    msg = orjson.loads(data)
    assert msg["t0"] == 1_767_225_599_000
    assert msg["fields"] == ["id", "market", "yes_price", "count", "side", "ts_off", "recv_off",
                             "tier"]  # fmt: skip
    assert msg["markets"] == [btc, nba]
    assert msg["titles"] == {btc: "Bitcoin price today?", nba: "SAC at BOS Winner?"}
    assert msg["rows"] == [
        ["9b2f3c4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", 0, 4500, 100, "yes", 1010, 1030, 0],
        ["0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", 1, 6100, 250_000, "no", 1020, 1025, 2],
        ["5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", 0, 4400, 37, "yes", 0, 1031, 0],
    ]
    assert list(msg)[-1] == "rows"  # last, for clients that count rows without decoding
    assert expand_trades(msg) == as_objects(pending)
    assert trades_in(data) == 3


def test_an_empty_trades_message_is_well_formed() -> None:
    data = wire([])
    assert expand_trades(orjson.loads(data)) == []
    assert trades_in(data) == 0


TICKERS = st.sampled_from(["KXBTC-X", "KXNBAGAME-26JAN04SACBOS-SAC", "KXFED-26NOV-T3.75", "A"])
TEXT = st.text(max_size=40)  # quotes, brackets, backslashes and non-ASCII included
MS = st.integers(min_value=0, max_value=4_102_444_800_000)  # up to 2100


@st.composite
def pending_trades(draw: st.DrawFn) -> list[Pending]:
    titles = {t: draw(TEXT) for t in ["KXBTC-X", "KXNBAGAME-26JAN04SACBOS-SAC",
                                      "KXFED-26NOV-T3.75", "A"]}  # fmt: skip
    base = draw(MS)
    spread = draw(st.sampled_from([50, 5_000, 10**9]))
    near = st.integers(min_value=max(0, base - spread), max_value=base + spread)
    out: list[Pending] = []
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        ticker = draw(st.one_of(TICKERS, TEXT))
        trade_id = draw(st.one_of(st.uuids().map(str), TEXT))
        t = Trade(trade_id, ticker, draw(st.integers(1, 9999)), draw(st.integers(1, 10**9)),
                  draw(st.sampled_from(Side)), draw(near), draw(near))  # fmt: skip
        if ticker not in titles:
            titles[ticker] = draw(TEXT)  # a market has one title
        out.append((t, titles[ticker], draw(st.integers(0, 3))))
    return out


@settings(max_examples=300, deadline=None)
@given(pending_trades())
def test_trades_message_round_trips_every_field(pending: list[Pending]) -> None:
    data = wire(pending)
    msg = orjson.loads(data)
    assert expand_trades(msg) == as_objects(pending)
    offsets = [v for row in msg["rows"] for v in row[5:7]]
    assert min(offsets) == 0  # t0 is the earliest time in the batch
    tickers = msg["markets"]
    assert len(set(tickers)) == len(tickers) == len({t.ticker for t, _, _ in pending})
    assert trades_in(data) == len(pending)


# ---- market titles: announced once a minute, held by the clients -------------------------------

T0 = 1_767_225_600_000


def titled_hub(clock: ManualClock) -> Hub:
    return Hub(
        clock=clock,
        queue_size=10_000,
        batch_ms=50,
    )


def drain(sub: Subscriber) -> list[dict[str, Any]]:
    out = []
    while not sub.queue.empty():
        out.append(orjson.loads(sub.queue.get_nowait()))
    return out


class Feed:
    """Trades into a hub, one flush at a time; ``title`` per ticker as the pipeline gives it."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.n = 0

    def flush(self, *trades: tuple[str, str], count: int = 100) -> None:
        for ticker, title in trades:
            self.hub.add_trade(trade(self.n, count=count, ticker=ticker), title, 0)
            self.n += 1
        self.hub.flush_trades()


def only_trades(sub: Subscriber, decoder: TradeDecoder) -> tuple[dict[str, Any], list[Any]]:
    """The one `trades` message ``sub`` got since last asked (everything else fed to
    ``decoder`` too), and its trades as (ticker, title) pairs."""
    msgs = drain(sub)
    for m in msgs:
        if m["type"] != "trades":
            decoder.feed(m)
    [msg] = [m for m in msgs if m["type"] == "trades"]
    return msg, [(t["ticker"], t["title"]) for t in decoder.feed(msg)]


def test_a_title_is_announced_once_a_minute_and_again_at_once_when_it_changes() -> None:
    clock = ManualClock(T0)
    hub = titled_hub(clock)
    sub, decoder, feed = hub.subscribe("a", snapshot), TradeDecoder(), Feed(hub)
    [snap] = drain(sub)
    assert snap["titles"] == {}
    decoder.feed(snap)
    feed.flush(("A", "Alpha"), ("B", "Beta"), ("A", "Alpha"))
    msg, got = only_trades(sub, decoder)
    assert msg["titles"] == {"A": "Alpha", "B": "Beta"} and msg["markets"] == ["A", "B"]
    assert got == [("A", "Alpha"), ("B", "Beta"), ("A", "Alpha")]
    clock.advance(30_000)
    feed.flush(("A", "Alpha"))
    msg, got = only_trades(sub, decoder)
    assert msg["titles"] == {} and got == [("A", "Alpha")]  # the client holds it
    with pytest.raises(MissingTitle):
        TradeDecoder().feed(msg)  # one that missed the first message does not
    clock.advance(30_000)  # exactly TITLE_REFRESH_MS after the announcement: not more
    feed.flush(("A", "Alpha"), ("B", "Beta"))
    msg, got = only_trades(sub, decoder)
    assert msg["titles"] == {} and got == [("A", "Alpha"), ("B", "Beta")]
    clock.advance(1)
    feed.flush(("A", "Alpha"))
    assert only_trades(sub, decoder)[0]["titles"] == {"A": "Alpha"}  # re-announced
    feed.flush(("A", "Alpha"), ("B", "Beta"))
    assert only_trades(sub, decoder)[0]["titles"] == {"B": "Beta"}
    feed.flush(("A", "Alpha, renamed"))
    msg, got = only_trades(sub, decoder)
    assert msg["titles"] == {"A": "Alpha, renamed"} and got == [("A", "Alpha, renamed")]
    assert list(hub.announced) == ["B", "A"]  # oldest announcement first
    clock.advance(TITLE_REFRESH_MS + 1)
    feed.flush(("C", "Gamma"))
    assert hub.announced == {"C": ("Gamma", clock.now_ms())}  # the others aged out
    assert only_trades(sub, decoder)[1] == [("C", "Gamma")]


def test_a_client_connecting_later_gets_every_title_it_may_need_in_its_snapshot() -> None:
    clock = ManualClock(T0)
    hub = titled_hub(clock)
    first, feed = hub.subscribe("first", snapshot), Feed(hub)
    feed.flush(("A", "Alpha"), ("B", "Beta"))
    clock.advance(10_000)
    feed.flush(("B", "Beta, renamed"))
    clock.advance(10_000)
    late, decoder = hub.subscribe("late", snapshot), TradeDecoder()
    [snap] = drain(late)
    assert snap["titles"] == {"A": "Alpha", "B": "Beta, renamed"}
    decoder.feed(snap)
    feed.flush(("A", "Alpha"), ("B", "Beta, renamed"))
    msg, got = only_trades(late, decoder)
    assert msg["titles"] == {} and got == [("A", "Alpha"), ("B", "Beta, renamed")]
    clock.advance(40_001)  # A's announcement is older than a minute now, B's is not
    later = hub.subscribe("later", snapshot)
    assert drain(later)[0]["titles"] == {"B": "Beta, renamed"}
    assert drain(first)[-1]["titles"] == {}


def test_filtered_clients_get_the_title_of_every_market_they_get_trades_of() -> None:
    clock = ManualClock(T0)
    hub = titled_hub(clock)
    everything, big = hub.subscribe("everything", snapshot), hub.subscribe("big", snapshot)
    decoders = {everything: TradeDecoder(), big: TradeDecoder()}
    for sub, decoder in decoders.items():
        decoder.feed(drain(sub)[0])
    hub._handle_client_message(big, '{"type":"filter","min_count":500}')
    ack = drain(big)[0]
    assert ack["type"] == "filter_ack" and "titles" not in ack  # its messages name every title
    feed = Feed(hub)
    feed.flush(("KXNBA-A", "Game"), ("KXBTC-B", "Bitcoin"))  # too small for `big`
    assert only_trades(everything, decoders[everything])[0]["titles"] == {
        "KXNBA-A": "Game",
        "KXBTC-B": "Bitcoin",
    }
    assert drain(big) == []  # so it never saw those announcements
    feed.flush(("KXNBA-A", "Game"), count=1000)
    assert only_trades(everything, decoders[everything])[0]["titles"] == {}
    msg, got = only_trades(big, decoders[big])
    assert msg["titles"] == {"KXNBA-A": "Game"} and got == [("KXNBA-A", "Game")]
    # back among the unfiltered clients: the ack carries every title announced to them
    hub._handle_client_message(big, '{"type":"filter"}')
    ack = drain(big)[0]
    assert ack["type"] == "filter_ack"
    assert ack["titles"] == {"KXNBA-A": "Game", "KXBTC-B": "Bitcoin"}
    decoders[big].feed(ack)
    feed.flush(("KXBTC-B", "Bitcoin"))
    for sub, decoder in decoders.items():
        msg, got = only_trades(sub, decoder)
        assert msg["titles"] == {} and got == [("KXBTC-B", "Bitcoin")]


TITLE_TICKERS = ["KXBTC-A", "KXBTC-B", "KXNBA-C", "KXNBA-D", "KXFED-E"]
FILTERS = [
    '{"type":"filter"}',
    '{"type":"filter","min_count":500}',
    '{"type":"filter","search":"KXNBA"}',
    '{"type":"filter","side":"no","search":"kxbtc"}',
]
STEPS = st.sampled_from([0, 1, 50, 50, 1_000, 30_000, 59_999, 60_000, 60_001, 200_000])
CLIENTS = st.integers(0, 7)  # which of the connected clients, modulo their number
EVENTS = st.one_of(
    st.none(),
    st.tuples(st.just("connect")),
    st.tuples(st.just("filter"), CLIENTS, st.sampled_from(FILTERS)),
    st.tuples(st.just("leave"), CLIENTS),
    st.tuples(st.just("rename"), st.sampled_from(TITLE_TICKERS)),
)
TRADES = st.lists(
    st.tuples(st.sampled_from(TITLE_TICKERS), st.sampled_from(Side), st.sampled_from([100, 1000])),
    max_size=5,
)
# one batch: a client or title event, a clock step, trades (the event may fall between them)
ROUNDS = st.lists(st.tuples(EVENTS, STEPS, TRADES, st.integers(0, 5)), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(ROUNDS)
@example(  # a client that clears its filter after announcements it was not sent
    [
        (("connect",), 0, [], 0),
        (("filter", 1, FILTERS[1]), 0, [("KXBTC-A", Side.YES, 100)], 0),
        (("filter", 1, FILTERS[0]), 1_000, [("KXBTC-A", Side.YES, 100)], 0),
    ]
)
def test_every_client_always_holds_the_titles_of_the_trades_it_gets(
    rounds: list[tuple[Any, int, list[tuple[str, Side, int]], int]],
) -> None:
    """Random trades, renames, clock steps, connects, filter changes and leaves: every client,
    decoding what it is sent from its snapshot on, knows the title of every trade it gets."""
    clock = ManualClock(T0)
    hub = titled_hub(clock)
    titles = {t: f"{t} title" for t in TITLE_TICKERS}
    given_title: dict[str, str] = {}  # trade id -> the title the pipeline gave with it
    clients = [(hub.subscribe("c0", snapshot), TradeDecoder())]
    n = 0

    def check(sub: Subscriber, decoder: TradeDecoder) -> None:
        for msg in drain(sub):
            trades = decoder.feed(msg)  # MissingTitle if the client lacks one
            first: dict[str, str] = {}  # a message carries a market's title once: its first
            for t in trades:
                want = first.setdefault(t["ticker"], given_title[t["id"]])
                assert t["title"] == want

    def happen(event: tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "connect":
            clients.append((hub.subscribe(f"c{len(clients)}", snapshot), TradeDecoder()))
        elif kind == "rename":
            titles[event[1]] += "'"
        elif kind == "filter" and clients:
            sub, decoder = clients[event[1] % len(clients)]
            check(sub, decoder)  # what came before the filter change
            hub._handle_client_message(sub, event[2])
        elif kind == "leave" and clients:
            sub, _ = clients.pop(event[1] % len(clients))
            hub._subs.discard(sub)

    for event, step, trades, at in rounds:
        clock.advance(step)
        for i, (ticker, side, count) in enumerate(trades):
            if event is not None and i == at:
                happen(event)
            t = Trade(f"id-{n}", ticker, 4500, count, side, clock.now_ms(), clock.now_ms())
            given_title[t.trade_id] = titles[ticker]
            hub.add_trade(t, titles[ticker], 0)
            n += 1
        if event is not None and at >= len(trades):
            happen(event)
        if hub.flush_trades():  # and so pruned: what traded in the last minute, at most
            assert all(
                clock.now_ms() - when <= TITLE_REFRESH_MS for _, when in hub.announced.values()
            )
        for sub, decoder in clients:
            check(sub, decoder)
    assert hub.stats.dropped_slow == 0
