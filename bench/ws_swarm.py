"""Many /ws/stream clients in one process, counting the trades they receive and timing some.

    python -m bench.ws_swarm --url ws://127.0.0.1:PORT/ws/stream --clients 100 [--sample 5]

Each client is a small RFC 6455 client on an asyncio Protocol (no per-message task, no parsing
for most clients), so that one process can hold a thousand of them. Every client counts the
trades in each ``trades`` message; ``--sample`` of them, spread over the set, also decode the
message (with the titles their snapshot and the messages carry) and record per trade the
latency ``receive time - ts_ms`` (the exchange's emit time), split into ``recv_ms - ts_ms``
(exchange to app) and ``receive time - recv_ms`` (app to browser), in 1 ms histograms, and the
trade ids.

Prints ``{"event": "ready"}`` once every client holds its snapshot and ``progress`` every second;
obeys ``{"cmd": "measure", "from_ms": T}`` (time only trades with ``ts_ms >= T``, histograms
cleared) and ``{"cmd": "report", "ids_dir": DIR?}`` (prints ``report``; sampled clients' ids
are written to DIR/client-<i>.txt). Exits when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.procs import commands, emit
from stream.decoder import TradeDecoder

log = logging.getLogger(__name__)

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
TRADES_PREFIX = b'{"type":"trades"'
SNAPSHOT_PREFIX = b'{"type":"snapshot"'
ROW_SEP = b'],["'  # between two trade rows (trade ids are strings)
ROWS_KEY = b',"rows":['  # the rows come last, after the markets and titles
HOT_WINDOW = b'{"type":"hot_window","window":"5m"}'
CONNECT_BATCH = 50


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Latencies:
    """1 ms histograms of the sampled clients' trades with ``ts_ms >= from_ms``."""

    def __init__(self) -> None:
        self.from_ms = 0
        self.total: Counter[int] = Counter()
        self.feed: Counter[int] = Counter()
        self.hub: Counter[int] = Counter()

    def reset(self, from_ms: int) -> None:
        self.from_ms = from_ms
        self.total.clear()
        self.feed.clear()
        self.hub.clear()

    def record(self, trades: list[dict[str, Any]], received_ms: int) -> None:
        from_ms = self.from_ms
        total, feed, hub = self.total, self.feed, self.hub
        for t in trades:
            ts = t["ts_ms"]
            if ts < from_ms:
                continue
            recv = t["recv_ms"]
            total[received_ms - ts] += 1
            feed[recv - ts] += 1
            hub[received_ms - recv] += 1


def trades_in(msg: bytes) -> int:
    """The trades in an encoded ``trades`` message, counted without decoding it."""
    start = msg.find(ROWS_KEY) + len(ROWS_KEY)
    return 0 if msg.startswith(b"]", start) else msg.count(ROW_SEP, start) + 1


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client-to-server frame (clients must mask, RFC 6455 5.3); small payloads only."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


class StreamClient(asyncio.Protocol):
    def __init__(self, index: int, host: str, port: int, path: str,
                 latencies: Latencies | None) -> None:  # fmt: skip
        self.index = index
        self._request_head = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        )
        self._key = base64.b64encode(os.urandom(16))
        self._latencies = latencies
        # sampled clients keep the titles (from the snapshot on) to decode their trades
        self._decoder = TradeDecoder() if latencies is not None else None
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._upgraded = False
        self.transport: asyncio.Transport | None = None
        self.snapshot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.trades = 0
        self.messages = 0
        self.ids: list[str] = []
        self.close_code: int | None = None
        self.lost = False

    # ---- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        head = self._request_head + f"Sec-WebSocket-Key: {self._key.decode()}\r\n\r\n"
        transport.write(head.encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError(f"client {self.index}: closed early"))

    def data_received(self, data: bytes) -> None:
        received = now_ms()
        buf = self._buf
        buf += data
        if not self._upgraded and not self._handshake():
            return
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:
                self._fail("server frames must not be masked")
                return
            end = pos + head + length
            if end > n:
                break
            payload = bytes(buf[pos + head : end])
            pos = end
            self._frame(b0 & 0x80, b0 & 0x0F, payload, received)
        if pos:
            del buf[:pos]

    # ---- protocol --------------------------------------------------------------------------

    def _handshake(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        accept = base64.b64encode(hashlib.sha1(self._key + WS_GUID).digest()).decode()
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        if " 101 " not in head[0] + " " or headers.get("sec-websocket-accept") != accept:
            self._fail(f"handshake refused: {head[0]!r}")
            return False
        self._upgraded = True
        return True

    def _frame(self, fin: int, opcode: int, payload: bytes, received: int) -> None:
        if opcode == OP_CONT:
            self._parts.append(payload)
            if fin:
                whole, self._parts = b"".join(self._parts), []
                self._message(whole, received)
        elif opcode in (OP_TEXT, OP_BINARY):
            if fin:
                self._message(payload, received)
            else:
                self._parts = [payload]
        elif opcode == OP_PING:
            self._send(masked_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._send(masked_frame(OP_CLOSE, payload[:2]))
            if self.transport is not None:
                self.transport.close()

    def _message(self, msg: bytes, received: int) -> None:
        self.messages += 1
        if msg.startswith(TRADES_PREFIX):
            self.trades += trades_in(msg)
            if self._latencies is not None and self._decoder is not None:
                trades = self._decoder.trades(orjson.loads(msg))
                self._latencies.record(trades, received)
                self.ids.extend(t["id"] for t in trades)
        elif msg.startswith(SNAPSHOT_PREFIX) and not self.snapshot.done():
            if self._decoder is not None:
                self._decoder.feed(orjson.loads(msg))
            # like the page: hot updates for the one window on show
            self._send(masked_frame(OP_TEXT, HOT_WINDOW))
            self.snapshot.set_result(None)

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _fail(self, why: str) -> None:
        log.warning("client %d: %s", self.index, why)
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError(f"client {self.index}: {why}"))
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(masked_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
            self.transport.close()


def sampled_indices(clients: int, sample: int) -> set[int]:
    """``sample`` client indices spread evenly over ``range(clients)``."""
    sample = max(0, min(sample, clients))
    return {i * clients // sample for i in range(sample)} if sample else set()


async def connect_all(url: str, clients: int, sample: int,
                      latencies: Latencies) -> list[StreamClient]:  # fmt: skip
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    loop = asyncio.get_running_loop()
    sampled = sampled_indices(clients, sample)
    out: list[StreamClient] = []
    for first in range(0, clients, CONNECT_BATCH):
        batch = [
            StreamClient(i, host, port, path, latencies if i in sampled else None)
            for i in range(first, min(clients, first + CONNECT_BATCH))
        ]
        out.extend(batch)
        for c in batch:
            await loop.create_connection(lambda c=c: c, host, port)  # type: ignore[misc]
        await asyncio.gather(*(c.snapshot for c in batch))
    return out


def progress(clients: list[StreamClient]) -> dict[str, Any]:
    counts = [c.trades for c in clients]
    return {
        "min": min(counts, default=0),
        "max": max(counts, default=0),
        "sum": sum(counts),
        "open": sum(1 for c in clients if not c.lost),
        "t_ms": now_ms(),
    }


def report(clients: list[StreamClient], latencies: Latencies, ids_dir: str | None) -> None:
    if ids_dir:
        for c in clients:
            if c._latencies is not None:
                Path(ids_dir, f"client-{c.index}.txt").write_text("".join(f"{i}\n" for i in c.ids))
    emit(
        "report",
        counts=[c.trades for c in clients],
        messages=[c.messages for c in clients],
        closed=[[c.index, c.close_code] for c in clients if c.lost],
        sampled=sorted(c.index for c in clients if c._latencies is not None),
        total={str(k): v for k, v in latencies.total.items()},
        feed={str(k): v for k, v in latencies.feed.items()},
        hub={str(k): v for k, v in latencies.hub.items()},
    )


async def run(args: argparse.Namespace) -> None:
    latencies = Latencies()
    clients: list[StreamClient] = []
    ticker: asyncio.Task[None] | None = None

    async def tick() -> None:
        while True:
            await asyncio.sleep(1.0)
            emit("progress", **progress(clients))

    try:
        clients = await connect_all(args.url, args.clients, args.sample, latencies)
        emit("ready", clients=len(clients))
        ticker = asyncio.create_task(tick())
        async for cmd in commands():
            name = cmd.get("cmd")
            if name == "measure":
                latencies.reset(int(cmd["from_ms"]))
                emit("measuring", from_ms=latencies.from_ms)
            elif name == "report":
                report(clients, latencies, cmd.get("ids_dir"))
            elif name == "progress":
                emit("progress", **progress(clients))
            else:
                emit("error", error=f"unknown command {name!r}")
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        for c in clients:
            c.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.ws_swarm")
    p.add_argument("--url", required=True)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--sample", type=int, default=5, help="clients that decode and time trades")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="ws_swarm %(levelname)s %(name)s: %(message)s")  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
