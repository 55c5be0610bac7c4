"""The feed's WebSocket readers alone: server frames in, messages out, no socket, no JSON.

    python -m bench.bench_reader [--messages 200000] [--chunk 65536] [--rounds 5]

Each reader (``kalshi.connection``, the hand-written one; ``kalshi.connection_sansio``, on
websockets' sans-I/O protocol) is opened on a transport this process holds, then handed
Kalshi-sized trade frames ``--chunk`` bytes at a time as the event loop would hand over socket
reads, with ``recv_batch()`` taking the messages after each chunk. The readers take turns,
``--rounds`` times; the figure is each reader's median messages/s and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from bench.procs import run_bench
from kalshi.connection import WsConnection, accept_for
from kalshi.connection_sansio import SansIoConnection

Conn = WsConnection | SansIoConnection
READERS = ("handwritten", "sansio")


class HeldTransport(asyncio.Transport):
    """Takes writes and pauses without a socket."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def trade_frames(n: int) -> bytes:
    """``n`` unmasked server text frames shaped like Kalshi's trade messages."""
    out = bytearray()
    for i in range(n):
        payload = (
            f'{{"type":"trade","sid":1,"seq":{i + 1},"msg":{{"trade_id":"{uuid.UUID(int=i)}",'
            f'"market_ticker":"KXBENCH-{i % 2000:05d}","yes_price_dollars":"0.5600",'
            '"no_price_dollars":"0.4400","count_fp":"10.00","taker_side":"yes","ts":1767225600}}'
        ).encode()
        n_bytes = len(payload)
        if n_bytes < 126:
            out += bytes((0x81, n_bytes))
        else:
            out += bytes((0x81, 126)) + n_bytes.to_bytes(2, "big")
        out += payload
    return bytes(out)


async def opened(reader: str) -> Conn:
    conn: Conn
    if reader == "handwritten":
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        conn = WsConnection(b"", accept_for(key), 16 * 1024 * 1024)
    else:
        protocol = ClientProtocol(parse_uri("ws://127.0.0.1/"), max_size=16 * 1024 * 1024)
        key = protocol.key
        conn = SansIoConnection(protocol, protocol.connect())
    conn.connection_made(HeldTransport())
    conn.data_received(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode()
    )
    await conn.opened
    return conn


async def read_rate(reader: str, chunks: list[bytes], expected: int) -> float:
    """Messages per second through one reader, from the first chunk to the last batch."""
    conn = await opened(reader)
    got = 0
    started = time.perf_counter()
    for chunk in chunks:
        conn.data_received(chunk)
        got += len(await conn.recv_batch())
    elapsed = time.perf_counter() - started
    if got != expected:
        raise RuntimeError(f"{reader}: {got} messages, wanted {expected}")
    return got / elapsed


async def _main(args: argparse.Namespace) -> int:
    data = trade_frames(args.messages)
    # chunks end mid-frame as socket reads do; the last frame ends in the last chunk
    chunks = [data[i : i + args.chunk] for i in range(0, len(data), args.chunk)]
    print(f"{args.messages:,} trade frames, {len(data) / args.messages:.0f} bytes each, "
          f"{len(chunks):,} chunks of {args.chunk:,} bytes", flush=True)  # fmt: skip
    rates: dict[str, list[float]] = {r: [] for r in READERS}
    for n in range(args.rounds):
        for reader in READERS:
            rates[reader].append(await read_rate(reader, chunks, args.messages))
        print(f"  round {n + 1}: " + ", ".join(f"{r} {rates[r][-1]:,.0f}/s" for r in READERS),
              flush=True)  # fmt: skip
    print("\n| reader | messages/s, median | µs a message |\n|---|---:|---:|")
    medians = {r: statistics.median(v) for r, v in rates.items()}
    for reader, rate in medians.items():
        print(f"| {reader} | {rate:,.0f} | {1e6 / rate:.2f} |")
    a, b = READERS
    print(f"\n{a} / {b}: {medians[a] / medians[b]:.2f}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_reader")
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--chunk", type=int, default=65_536, help="bytes a socket read hands over")
    p.add_argument("--rounds", type=int, default=5)
    run_bench(_main(p.parse_args(argv)))


if __name__ == "__main__":
    main()
