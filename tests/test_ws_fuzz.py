"""Hostile /ws/stream clients against the real app, through uvicorn on loopback.

Every client message gets an `error` reply (or a `filter_ack`, or for a `hot_window` a `hot`),
or its connection is closed with a documented code: 1003 for a binary message, 1008 at the
100th bad message, 1009 for a message over 4 KiB. Nothing of it is logged raw or as an error,
and a well-behaved client on the same server gets every trade.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

import app as app_module
from stream.decoder import TradeDecoder
from stream.requests import MAX_REQUEST_BYTES
from tests.serving import Running, running_app
from tests.test_app_e2e import emit, recv_type, sim_settings

# What clients see (RFC 6455 7.4.1) and the documented limit, pinned here.
UNSUPPORTED_DATA, POLICY_VIOLATION, MESSAGE_TOO_BIG = 1003, 1008, 1009
BAD_LIMIT = 100

SEED = 20_260_104
HOSTILE_CLIENTS = 6
EPISODES = 8  # connections per hostile client
REPLIES = ("error", "filter_ack")  # the answers a client can tell apart from the broadcasts


@contextlib.contextmanager
def uvicorn_logs_too(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """uvicorn's loggers do not propagate to the root, where caplog listens: listen on them
    as well (after uvicorn configured them, which replaces their handlers)."""
    logger = logging.getLogger("uvicorn")
    logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        logger.removeHandler(caplog.handler)


def troubles(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name} {r.levelname}: {r.getMessage()[:300]}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info
    ]


def hub_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "websocket_handler"]


# ---- what hostile clients send ------------------------------------------------------------------


@dataclass(slots=True)
class Frame:
    data: str | bytes | list[str]  # a list: one text message in fragments
    expect: str | None  # the reply it gets: "error", "filter_ack", None (none to tell apart)
    close: int | None = None  # the close code the server answers it with


PIECES = [
    *string.ascii_letters, *string.digits, *string.punctuation, " ", "\n", "\r", "\t", "\x00",
    "\x1b[31m", "\x1b[2J", "\u2028", "\u202e", "\ufeff", "é", "中", "🏀", '\\"', "\\u0000",
    "\\ud800",
]  # fmt: skip
# bad as counts, every one: too big for a double, or read as a float (not "-0": that is 0)
HUGE_NUMBERS = ["1e999", "-1e999", "123456789012345678901234567890", "18446744073709551616",
                "-9223372036854775809", "1e-999", "0.1e1", "-0.0", "1E400"]  # fmt: skip
WINDOWS = ["1m", "5m", "15m", "1h", "24h"]


def text(rng: random.Random, most: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, most)))


def scalar(rng: random.Random) -> Any:
    return rng.choice(
        [None, True, False, 0, -1, 2**63 - 1, -(2**63), 1.5, -0.0, 1e308, 5e-324, "", "yes"]
        + [text(rng, 12)] * 4
    )


def value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return scalar(rng)
    if roll < 0.75:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {text(rng, 6): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def dumps(msg: Any) -> str:
    return orjson.dumps(msg).decode()


def good_filter(rng: random.Random) -> dict[str, Any]:
    return {
        "type": "filter",
        "min_count": rng.choice([None, 0, 1, 500, 2**63 - 1]),
        "min_notional": rng.choice([None, 0, 10**6]),
        "side": rng.choice([None, "yes", "no"]),
        "search": rng.choice([None, "", "KXNBA", text(rng, 25)[:100]]),
    }


def bad_filter(rng: random.Random) -> str:
    msg = good_filter(rng)
    name = rng.choice(["min_count", "min_notional", "side", "search"])
    if name == "side":
        bad = rng.choice(['"maybe"', '"YES"', "1", "[]", "{}", "true", dumps(text(rng, 5) + "!")])
    elif name == "search":
        bad = rng.choice(["123", "[]", "{}", "true", dumps("x" * 101), dumps("🏀" * 101)])
    else:
        bad = rng.choice(["-1", "1.5", '"5"', "true", "[1]", "{}", *HUGE_NUMBERS])
    msg[name] = "BAD"
    return dumps(msg).replace('"BAD"', bad)


def bad_text(rng: random.Random) -> str:
    while True:
        candidate = text(rng, 60)
        try:
            parsed = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            return candidate
        if not isinstance(parsed, dict):
            return candidate  # valid JSON, but not an object


def deep(rng: random.Random) -> str:
    depth = rng.choice([100, 900, 1000, 1024, 1025, 2000])
    nested = "[" * depth + "]" * depth
    return rng.choice(
        [nested, '{"type":' + nested[:2000] + "}", '{"a":' * 600 + "1" + "}" * 600,
         '{"type":"filter","search":' + nested[:2000] + "}"]
    )  # fmt: skip


def text_frame(rng: random.Random) -> Frame:
    kind = rng.choice(
        ["filter", "filter", "fragments", "at_limit", "hot", "text", "text", "value", "type",
         "bad_filter", "bad_filter", "window", "deep", "huge"]
    )  # fmt: skip
    if kind == "filter":
        return Frame(dumps(good_filter(rng)), "filter_ack")
    if kind == "fragments":
        whole = dumps(good_filter(rng))
        cuts = sorted(rng.sample(range(1, len(whole)), 2))
        return Frame([whole[: cuts[0]], whole[cuts[0] : cuts[1]], whole[cuts[1] :]], "filter_ack")
    if kind == "at_limit":  # exactly MAX_REQUEST_BYTES of UTF-8: accepted
        head = dumps(good_filter(rng))[:-1] + ',"pad":"'
        pad = MAX_REQUEST_BYTES - len(head.encode()) - 2
        return Frame(head + "é" * (pad // 2) + "x" * (pad % 2) + '"}', "filter_ack")
    if kind == "hot":
        return Frame(dumps({"type": "hot_window", "window": rng.choice([None, *WINDOWS])}), None)
    if kind == "text":
        return Frame(bad_text(rng), "error")
    if kind == "value":  # any JSON but an object
        return Frame(dumps(rng.choice([[value(rng)], scalar(rng)])), "error")
    if kind == "type":  # an object whose type is anything but "filter" and "hot_window"
        msg = {text(rng, 5): value(rng) for _ in range(rng.randint(0, 3))}
        msg["type"] = rng.choice([value(rng), text(rng, 20), "Filter", "hot-window", "snapshot"])
        if msg["type"] in ("filter", "hot_window"):
            msg["type"] = None
        return Frame(dumps(msg), "error")
    if kind == "bad_filter":
        return Frame(bad_filter(rng), "error")
    if kind == "window":
        window = rng.choice(['"2m"', '"1M"', '"15m "', "5", "[1]", '{"15m":1}', "true", "[]"])
        return Frame('{"type":"hot_window","window":' + window + "}", "error")
    if kind == "deep":
        return Frame(deep(rng), "error")
    return Frame('{"type":"filter","min_count":' + rng.choice(HUGE_NUMBERS) + "}", "error")


def closing_frame(rng: random.Random, bad_so_far: int) -> list[Frame]:
    """What ends a connection from the server's side, with the bad messages leading to it."""
    kind = rng.choice(["binary", "oversized", "flood"])
    if kind == "binary":
        data = rng.choice([rng.randbytes(rng.randint(0, 64)), dumps(good_filter(rng)).encode()])
        return [Frame(data, None, UNSUPPORTED_DATA)]
    if kind == "oversized":
        over = rng.choice([1, 2, 1000, 50_000])  # bytes over the limit
        char = rng.choice(["x", "é"])
        body = char * ((MAX_REQUEST_BYTES + over) // len(char.encode()) + 1)
        return [Frame(rng.choice([body, '{"type":"filter","pad":"' + body + '"}']), None,
                      MESSAGE_TOO_BIG)]  # fmt: skip
    flood = [Frame(bad_text(rng), "error") for _ in range(BAD_LIMIT - bad_so_far - 1)]
    return [*flood, Frame(bad_filter(rng), None, POLICY_VIOLATION)]  # the 100th: no reply


def episode(rng: random.Random) -> tuple[str, list[Frame]]:
    """One connection: how it ends ("close", "abort" or "server") and what is sent on it."""
    end = rng.choice(["close", "close", "abort", "server", "server"])
    frames = [text_frame(rng) for _ in range(rng.randint(0, 40))]
    if end == "server":
        frames += closing_frame(rng, sum(f.expect == "error" for f in frames))
    return end, frames


# ---- the clients --------------------------------------------------------------------------------


@dataclass
class Outcome:
    connections: int = 0
    server_closes: dict[int, int] = field(default_factory=dict)  # code -> how many
    frames: int = 0


async def read_replies(ws: ClientConnection, replies: asyncio.Queue[dict[str, Any]]) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for raw in ws:
            msg = orjson.loads(raw)
            if msg["type"] in REPLIES:
                replies.put_nowait(msg)


def received(replies: asyncio.Queue[dict[str, Any]]) -> list[str]:
    out = []
    while not replies.empty():
        msg = replies.get_nowait()
        if msg["type"] == "error":
            assert isinstance(msg["error"], str) and 0 < len(msg["error"]) < 200, msg
        out.append(msg["type"])
    return out


async def hostile(app: Running, seed: int, ids: list[str], outcome: Outcome) -> None:
    rng = random.Random(seed)
    for n in range(EPISODES):
        where = f"client seed {seed}, episode {n}"
        end, frames = episode(rng)
        expected = [f.expect for f in frames if f.expect is not None]
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with websockets.connect(app.ws_url + "/ws/stream") as ws:
            outcome.connections += 1
            reader = asyncio.create_task(read_replies(ws, replies))
            for frame in frames:  # as fast as it can, reading all the while
                await ws.send(frame.data)
            outcome.frames += len(frames)
            if end == "abort":  # gone mid-stream, no closing handshake
                ws.transport.abort()
            elif end == "close":
                got = [(await asyncio.wait_for(replies.get(), 10))["type"] for _ in expected]
                assert got == expected, where
                await ws.close()
            await asyncio.wait_for(reader, 10)
            got = received(replies)
            assert got == expected[: len(got)], where  # in order; the rest lost to the close
            if end == "server":
                code = frames[-1].close
                assert ws.close_code == code, f"{where}: closed {ws.close_code}, not {code}"
                assert code is not None
                outcome.server_closes[code] = outcome.server_closes.get(code, 0) + 1
            elif end == "close":
                assert ws.close_code == 1000, where
        ids.extend(await emit(app, 5))  # trades flow while the hostile clients come and go


class WellBehaved:
    """Reads everything from its snapshot on, and keeps the ids of the trades it got."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.decoder = TradeDecoder()
        self.seen: set[str] = set()
        self.changed = asyncio.Condition()
        self.unexpected: list[dict[str, Any]] = []

    async def run(self) -> None:
        self.decoder.feed(await recv_type(self.ws, "snapshot"))
        async for raw in self.ws:
            msg = orjson.loads(raw)
            if msg["type"] in REPLIES:
                self.unexpected.append(msg)
            trades = self.decoder.feed(msg)  # MissingTitle if a title never came
            if trades:
                async with self.changed:
                    self.seen.update(t["id"] for t in trades)
                    self.changed.notify_all()

    async def got(self, ids: list[str]) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: set(ids) <= self.seen)


async def test_hostile_clients_get_answers_or_clean_closes_and_the_others_every_trade(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="websocket_handler")
    async with (
        running_app(sim_settings(tmp_path, nba=False)) as app,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        with uvicorn_logs_too(caplog):
            await app.runtime.source.sim.wait_clients(1)
            async with websockets.connect(app.ws_url + "/ws/stream") as ws:
                good = WellBehaved(ws)
                reading = asyncio.create_task(good.run())
                try:
                    ids = await emit(app, 20)
                    outcome = Outcome()
                    async with asyncio.timeout(60):
                        await asyncio.gather(
                            *(hostile(app, SEED + i, ids, outcome) for i in range(HOSTILE_CLIENTS))
                        )
                        r = await http.get("/api/health")
                        assert r.status_code == 200 and r.json()["ok"] is True, r.text
                        ids += await emit(app, 20)
                        await good.got(ids)
                    assert not reading.done(), "the well-behaved client was closed"
                finally:
                    reading.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reading
    assert good.unexpected == []
    assert len(ids) == 20 + 20 + 5 * HOSTILE_CLIENTS * EPISODES
    assert troubles(caplog) == []
    stats = app.runtime.hub.stats
    closes = outcome.server_closes
    assert set(closes) == {UNSUPPORTED_DATA, POLICY_VIOLATION, MESSAGE_TOO_BIG}, closes
    # uvicorn refuses the oversized ones itself; the hub closes the others
    assert stats.closed_bad == closes[UNSUPPORTED_DATA] + closes[POLICY_VIOLATION]
    assert stats.bad_messages >= BAD_LIMIT * closes[POLICY_VIOLATION]
    lines = hub_lines(caplog)
    assert all(not set(line) & {"\n", "\r", "\x1b", "\u2028"} for line in lines)
    assert len(lines) <= 2 * outcome.connections  # never one line per bad message


# ---- one of each, directly ----------------------------------------------------------------------


async def closed_with(ws: ClientConnection) -> int | None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async with asyncio.timeout(10):
            async for _ in ws:
                pass
    return ws.close_code


async def test_a_binary_message_is_closed_with_1003_and_logs_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_app(sim_settings(tmp_path, nba=False)) as app:
        with uvicorn_logs_too(caplog):
            async with websockets.connect(app.ws_url + "/ws/stream") as ws:
                await recv_type(ws, "snapshot")
                await ws.send(b'{"type":"filter"}')
                assert await closed_with(ws) == UNSUPPORTED_DATA
            async with websockets.connect(app.ws_url + "/ws/stream") as ws:  # serving still
                await recv_type(ws, "snapshot")
                await ws.send('{"type":"filter"}')
                await recv_type(ws, "filter_ack")
    assert troubles(caplog) == []


async def test_a_message_over_the_limit_is_closed_with_1009_unread(tmp_path: Path) -> None:
    async with running_app(sim_settings(tmp_path, nba=False)) as app:
        async with websockets.connect(app.ws_url + "/ws/stream") as ws:
            await recv_type(ws, "snapshot")
            head = '{"type":"filter","min_count":5,"pad":"'
            await ws.send(head + "x" * (MAX_REQUEST_BYTES - len(head) - 1) + '"}')
            assert await closed_with(ws) == MESSAGE_TOO_BIG
        assert app.runtime.hub.stats.bad_messages == 0  # refused before the hub saw it


async def test_the_app_serves_with_the_hub_message_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """app.serve gives uvicorn the hub's limit (one literal there; this holds them together)."""
    configs: list[uvicorn.Config] = []

    async def serve(self: uvicorn.Server, sockets: list[Any] | None = None) -> None:
        configs.append(self.config)
        for sock in sockets or []:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "serve", serve)
    await app_module.serve(sim_settings(tmp_path))
    [config] = configs
    assert config.ws_max_size == MAX_REQUEST_BYTES
