"""Windows and analytics at 10,000 markets: memory, per-trade cost, the 1-second tick.

`python -m bench.bench_windows [--markets N]`

Every market gets one trade in each of the last 24 hours and in each of the last 60 minutes, so
all 60 minute slots and 24 hour slots of every market are live. Resident memory is the whole
process (psutil). The tick is what the board does each second: advance both, hot markets for
every window (top 50), 50 sparklines, both analytics views. It is timed within a minute (the
common case) and across a minute boundary, where every market's minute windows move.
"""

from __future__ import annotations

import argparse
import gc
import random
import time

from aggregator import HOUR_MS, MINUTE_MS, WINDOWS, Aggregator
from analytics import Analytics
from bench.common import H0, median, report, rss_mb
from models import Side, Trade


def fill(agg: Aggregator, an: Analytics, markets: int) -> tuple[int, float, int]:
    """Feed the load; returns (trades, seconds spent in add_trade, end time)."""
    rng = random.Random(3)
    tickers = [f"KXMEM-{i:05d}" for i in range(markets)]
    start = H0
    spent = 0.0
    n = 0
    times = [start + h * HOUR_MS + 1_000 for h in range(23)]
    times += [start + 23 * HOUR_MS + m * MINUTE_MS + 2_000 for m in range(60)]
    for ts in times:
        batch = [
            Trade(
                f"{ts}-{i}",
                tickers[i],
                rng.randrange(1, 10_000),
                rng.randrange(1, 50_000),
                Side.YES if i & 1 else Side.NO,
                ts + i % 1000,
                ts + i % 1000,
            )
            for i in range(markets)
        ]
        t0 = time.perf_counter()
        for t in batch:
            agg.add_trade(t)
            an.add_trade(t)
        spent += time.perf_counter() - t0
        n += len(batch)
    return n, spent, times[-1] + 30_000


def tick(agg: Aggregator, an: Analytics, now: int) -> float:
    t0 = time.perf_counter()
    agg.advance(now)
    an.advance(now)
    hot = {w: agg.hot(w, 50) for w in WINDOWS}
    for m in hot["1h"]:
        agg.sparkline(m.ticker)
    an.view("hour", now)
    an.view("day", now)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=10_000)
    args = parser.parse_args()
    gc.collect()
    base = rss_mb()
    agg, an = Aggregator(), Analytics()
    n, spent, now = fill(agg, an, args.markets)
    gc.collect()
    rss = rss_mb()
    assert agg.market_count() == args.markets
    full = agg.market(f"KXMEM-{args.markets - 1:05d}", "24h")
    assert full is not None and full.trades == 83
    print(f"{args.markets} markets, {n} trades, every minute and hour slot live")
    report("process RSS after filling (whole process)", rss, "MiB", "< 150 MiB")
    report("  of which windows + analytics (RSS growth)", rss - base, "MiB")
    report("add_trade, Aggregator + Analytics together", spent / n * 1e6, "us/trade")

    within = [tick(agg, an, now + i * 1000) for i in range(1, 21)]
    report("tick within a minute (advance, 5x hot, 50 sparks, 2 views)", median(within),
           "ms", "< 5 ms")  # fmt: skip
    boundary = []
    for i in range(1, 6):
        boundary.append(tick(agg, an, (now // MINUTE_MS + i) * MINUTE_MS))
    report("tick across a minute boundary (all markets roll)", boundary[0], "ms")
    report("  following boundaries (fewer live minute buckets)", median(boundary[1:]), "ms")
    t0 = time.perf_counter()
    for _ in range(20):
        agg.hot("1h", 50)
    report("hot('1h', 50) alone", (time.perf_counter() - t0) / 20 * 1000, "ms")

    # sparse: every market traded once in the last hour; only markets with a bucket leaving a
    # window are woken at a minute boundary
    sparse, sparse_an = Aggregator(), Analytics()
    start = H0 + 30 * HOUR_MS
    for i in range(args.markets):
        t = Trade(
            f"s{i}", f"KXSPARSE-{i:05d}", 5000, 100, Side.YES, start + i * 360, start + i * 360
        )
        sparse.add_trade(t)
        sparse_an.add_trade(t)
    end = start + args.markets * 360
    ticks = [tick(sparse, sparse_an, (end // MINUTE_MS + i) * MINUTE_MS) for i in range(1, 21)]
    report("sparse markets: tick across a minute boundary (median)", median(ticks), "ms")


if __name__ == "__main__":
    main()
