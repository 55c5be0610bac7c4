"""Latency of each query the API issues, on a file of many trades, through ``Database``.

`python -m bench queries [--rows N] [--repeat R] [--keep PATH]`

The file gets the real schema (``storage.migrate.connect``) and ``rows`` trades written inside
SQLite (``bench.fill``: random 16-byte ids, 2,000 markets, 30 trades a second, sizes over the
large-trade tiers), then ``ANALYZE``. Each query runs
``repeat`` times through the ``Database`` method the API calls; p50 and p99 are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import H0
from bench.fill import fill_trades
from clock import ManualClock
from database import Database
from storage.migrate import connect

GOAL_MS = 10.0


async def build(path: Path, rows: int) -> None:
    conn = await connect(path)
    try:
        await conn.execute(
            "INSERT INTO feed_gaps (kind, channel, sid, expected_seq, got_seq, ticker, from_ms,"
            " ts_ms, recv_ms) VALUES ('trade_seq', 'trade', 1, 5, 9, NULL, ?, ?, ?)",
            (H0, H0, H0),
        )
    finally:
        await conn.close()
    started = time.perf_counter()
    # 30 trades a second over 2,000 markets (bench.fill)
    fill_trades(path, rows, start_ms=H0, spacing_us=33_333, markets=2_000)
    conn = await connect(path)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    print(f"built {rows:,} trades in {time.perf_counter() - started:.1f} s", flush=True)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(path: Path, repeat: int) -> None:
    db = await Database.open(path, clock=ManualClock(H0))
    try:
        newest = await db.last_trade_ms()
        assert newest is not None
        cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("recent limit=50", lambda: db.recent_trades(limit=50)),
            ("recent limit=1000", lambda: db.recent_trades(limit=1000)),
            ("recent min_count=5 (1 in 10)", lambda: db.recent_trades(limit=50, min_count=500)),
            ("recent min_count=50", lambda: db.recent_trades(limit=50, min_count=5_000)),
            ("recent min_count=10000 (rare)",
             lambda: db.recent_trades(limit=50, min_count=1_000_000)),
            ("recent min_count=1e9 (none)",
             lambda: db.recent_trades(limit=50, min_count=100_000_000_000)),
            ("recent ticker", lambda: db.recent_trades(limit=50, ticker="KXBENCH-00007")),
            ("recent ticker min_count=10000",
             lambda: db.recent_trades(limit=50, ticker="KXBENCH-00007", min_count=1_000_000)),
            ("recent before_ms (mid-file)",
             lambda: db.recent_trades(limit=50, before_ms=(H0 + newest) // 2)),
            ("market trades limit=100",
             lambda: db.recent_trades(limit=100, ticker="KXBENCH-00042")),
            ("market info", lambda: db.market("KXBENCH-00042")),
            ("gaps limit=100", lambda: db.gaps(100)),
            ("last_trade_ms", db.last_trade_ms),
            ("size_bytes", db.size_bytes),
        ]  # fmt: skip
        print(f"\n{'query':<36} {'p50 ms':>9} {'p99 ms':>9} {'rows':>6}", flush=True)
        for name, run in cases:
            samples: list[float] = []
            found: Any = None
            for _ in range(repeat):
                started = time.perf_counter()
                found = await run()
                samples.append((time.perf_counter() - started) * 1000)
            size = len(found) if isinstance(found, list) else 1
            print(
                f"{name:<36} {statistics.median(samples):>9.2f} "
                f"{percentile(samples, 0.99):>9.2f} {size:>6}",
                flush=True,
            )
        started = time.perf_counter()
        total = await db.trade_count()
        print(
            f"\n(for comparison) COUNT(*) = {total:,}: {(time.perf_counter() - started) * 1000:.0f}"
            f" ms; /api/stats reads the writer's count, {db.trades_stored:,}   (goal: every"
            f" API query p99 under {GOAL_MS:.0f} ms)",
            flush=True,
        )
    finally:
        await db.close()


async def main(rows: int, repeat: int, keep: Path | None, reuse: bool) -> None:
    if keep is not None and reuse:
        await measure(keep, repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = keep or Path(tmp) / "queries.db"
        await build(path, rows)
        await measure(path, repeat)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keep", type=Path, default=None, help="build here once, reuse after")
    parser.add_argument("--quick", action="store_true", help="20k rows, 20 repeats")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 20_000, 20
    reuse = args.keep is not None and args.keep.exists()
    asyncio.run(main(args.rows, args.repeat, args.keep, reuse))
