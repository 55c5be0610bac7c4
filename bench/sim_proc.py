"""The simulated Kalshi exchange in its own process, driven by the bench over stdin.

    python -m bench.sim_proc --key-id ID --public-key PUB.pem [--markets N] [--seed S]

Prints ``{"event": "ready", "rest": URL, "ws": URL}``, then obeys JSON-line commands:

- ``{"cmd": "wait_clients", "n": N}`` -> ``clients`` once N WS connections have subscribed;
- ``{"cmd": "run", "rate": R, "seconds": S}``: emit R trades/s for S seconds (``progress`` every
  second, ``done`` at the end). ``rate`` 0 means as fast as the consumer takes them: the sim
  never runs more than the granted credit ahead, and the bench grants credit with
  ``{"cmd": "credit", "allowed": TOTAL}`` as the app absorbs trades;
- ``{"cmd": "stop"}`` ends a run early; ``{"cmd": "ids", "path": P}`` writes every trade id
  produced so far to P, one a line (``ids`` when written).

Every trade carries the exchange time it was emitted at (``ts_ms``, ms precision), which the
latency bench compares with the time a browser client receives it. The process exits when
stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from bench.procs import commands, emit
from sim.exchange import SimExchange

log = logging.getLogger(__name__)

TICK_S = 0.002
MAX_CHUNK = 250  # trades per emit call when running flat out, so senders get a turn


class Driver:
    def __init__(self, ex: SimExchange) -> None:
        self.ex = ex
        self.emitted = 0
        self.allowed = 0
        self._credit = asyncio.Event()
        self._stop = asyncio.Event()
        self._run: asyncio.Task[None] | None = None

    def grant(self, allowed: int) -> None:
        if allowed > self.allowed:
            self.allowed = allowed
            self._credit.set()

    def start(self, rate: float, seconds: float) -> None:
        if self._run is not None and not self._run.done():
            emit("error", error="a run is already going")
            return
        self._stop.clear()
        self._run = asyncio.create_task(self._go(rate, seconds), name="sim-run")

    def stop(self) -> None:
        self._stop.set()
        self._credit.set()

    async def close(self) -> None:
        if self._run is not None:
            self._run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run

    async def _emit(self, n: int) -> None:
        await self.ex.emit_trades(n)
        self.emitted += n

    async def _go(self, rate: float, seconds: float) -> None:
        start_emitted = self.emitted
        started = time.monotonic()
        end = started + seconds
        next_report = started + 1.0
        first_ms = time.time_ns() // 1_000_000
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_report:
                emit("progress", emitted=self.emitted, run=self.emitted - start_emitted,
                     t=round(now - started, 3))  # fmt: skip
                next_report += 1.0
            if rate > 0:
                owed = int((now - started) * rate) - (self.emitted - start_emitted)
                if owed > 0:
                    await self._emit(owed)
                await asyncio.sleep(TICK_S)
            elif self.emitted < self.allowed:
                await self._emit(min(MAX_CHUNK, self.allowed - self.emitted))
                await asyncio.sleep(0)
            else:
                self._credit.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, min(end, next_report) - now)):
                        await self._credit.wait()
        elapsed = time.monotonic() - started
        emit("done", emitted=self.emitted, run=self.emitted - start_emitted,
             seconds=round(elapsed, 3), first_ms=first_ms,
             last_ms=time.time_ns() // 1_000_000)  # fmt: skip


def write_ids(ex: SimExchange, path: str) -> int:
    ids = ex.produced_trade_ids()
    Path(path).write_text("".join(f"{i}\n" for i in ids))
    return len(ids)


async def serve(args: argparse.Namespace, public_pem: bytes) -> None:
    ex = SimExchange(
        key_id=args.key_id, public_key_pem=public_pem, seed=args.seed,
        rate=0, n_markets=args.markets, rate_limit_per_s=args.rate_limit,
        rate_limit_burst=max(100, int(args.rate_limit)),
    )  # fmt: skip
    await ex.start(args.host, 0)
    driver = Driver(ex)
    waiters: set[asyncio.Task[Any]] = set()

    async def wait_clients(n: int) -> None:
        await ex.wait_clients(n)
        emit("clients", n=n)

    try:
        emit("ready", rest=ex.rest_url, ws=ex.ws_url, markets=len(ex.tickers()))
        async for cmd in commands():
            name = cmd.get("cmd")
            if name == "credit":
                driver.grant(int(cmd["allowed"]))
            elif name == "run":
                driver.start(float(cmd.get("rate", 0)), float(cmd.get("seconds", 60)))
            elif name == "stop":
                driver.stop()
            elif name == "wait_clients":
                task = asyncio.create_task(wait_clients(int(cmd.get("n", 1))))
                waiters.add(task)
                task.add_done_callback(waiters.discard)
            elif name == "ids":
                emit("ids", n=write_ids(ex, str(cmd["path"])), path=cmd["path"])
            else:
                emit("error", error=f"unknown command {name!r}")
    finally:
        for task in list(waiters):
            task.cancel()
        await driver.close()
        await ex.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sim_proc")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--key-id", required=True)
    p.add_argument("--public-key", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--markets", type=int, default=2000)
    p.add_argument("--rate-limit", type=float, default=1000.0, help="REST requests per second")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="sim_proc %(levelname)s %(name)s: %(message)s")  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args, Path(args.public_key).read_bytes()))


if __name__ == "__main__":
    main()
