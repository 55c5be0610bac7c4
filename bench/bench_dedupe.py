"""The feed's trade-id dedupe (``kalshi.dispatch.RecentIds``): cost of an add, ids and bytes held.

`python -m bench.bench_dedupe [--ids N] [--rate R]`

``N`` fresh random-UUID ids (Kalshi's shape) at ``R`` trades/s of exchange time go through:

- the capped set and deque of id texts RecentIds was (500,000 ids at most);
- RecentIds as a replay uses it (no ``keep_from``: only the capacity forgets);
- RecentIds as the live feed uses it, ``keep_from`` the watermark less the feed's margin;
- the capped set and deque holding canonical UUIDs as 128-bit ints (an earlier attempt).

An add is timed on ids made beforehand (the parser makes them; the hot path only looks them up);
memory is traced with the ids made in the loop, so that each id's text counts where it is kept.
Goal: the hot path as cheap as the set it replaced (~0.3-0.5 us an add); the feed's memory bounded
by the time a backfill can reach back, not by the capacity.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from typing import Protocol

from bench.common import median, report
from kalshi.dispatch import RecentIds
from kalshi.feed import DEDUPE_MARGIN_MS

CAPACITY = 500_000
T0 = 1_780_000_000_000
RUNS = 3


class Dedupe(Protocol):
    def add(self, item: str, ts_ms: int) -> bool: ...

    def __len__(self) -> int: ...


class CappedTexts:
    """What RecentIds was: the texts in a set and a deque, the oldest dropped past capacity."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._order: deque[object] = deque()
        self._set: set[object] = set()

    def add(self, item: str, ts_ms: int) -> bool:
        return self._add(item)

    def _add(self, key: object) -> bool:
        if key in self._set:
            return False
        self._set.add(key)
        self._order.append(key)
        if len(self._order) > self._capacity:
            self._set.discard(self._order.popleft())
        return True

    def __len__(self) -> int:
        return len(self._set)


def uuid_key(item: str) -> int | str:
    """A canonical lowercase UUID as its 128-bit int, any other text as itself (exact)."""
    if len(item) == 36 and item[8] == item[13] == item[18] == item[23] == "-":
        digits = item[:8] + item[9:13] + item[14:18] + item[19:23] + item[24:]
        if digits.isascii() and digits.isalnum() and digits == digits.lower():
            try:
                return int(digits, 16)
            except ValueError:
                return item
    return item


class CappedInts(CappedTexts):
    def add(self, item: str, ts_ms: int) -> bool:
        return self._add(uuid_key(item))


Make = Callable[[list[int]], Dedupe]  # from the watermark, which the caller moves


def feed_like(watermark: list[int]) -> Dedupe:
    """RecentIds with the feed's ``keep_from`` while no backfill is pending."""
    return RecentIds(CAPACITY, keep_from=lambda: watermark[0] - DEDUPE_MARGIN_MS)


def uuid_text(rng: random.Random) -> str:
    x = f"{rng.getrandbits(128):032x}"
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def time_adds(make: Make, ids: list[str], times: list[int]) -> float:
    """Microseconds an add, the feed's way (every id new, as almost all are)."""
    watermark = [T0]
    add = make(watermark).add
    gc.collect()
    t0 = time.perf_counter()
    for item, ts in zip(ids, times, strict=True):
        watermark[0] = ts
        add(item, ts)
    return (time.perf_counter() - t0) / len(ids) * 1e6


def traced(make: Make, times: list[int]) -> tuple[int, float]:
    """(ids held, traced bytes held) after an id at each of ``times``."""
    rng = random.Random(7)
    watermark = [T0]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        held = make(watermark)
        for ts in times:
            watermark[0] = ts
            held.add(uuid_text(rng), ts)
        return len(held), tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=2_000.0, help="trades/s of exchange time")
    args = parser.parse_args()
    n, rate = args.ids, args.rate
    rng = random.Random(1)
    ids = [uuid_text(rng) for _ in range(n)]
    times = [T0 + int(i * 1000 / rate) for i in range(n)]
    alternatives: list[tuple[str, Make]] = [
        ("capped set+deque of texts (before)", lambda _: CappedTexts(CAPACITY)),
        ("RecentIds, no keep_from (a replay)", lambda _: RecentIds(CAPACITY)),
        ("RecentIds, the feed's keep_from (now)", feed_like),
        ("capped set+deque of uuid ints (considered)", lambda _: CappedInts(CAPACITY)),
    ]
    print(f"{n:,} new ids at {rate:,.0f} trades/s of exchange time, capacity {CAPACITY:,}")
    for name, make in alternatives:
        us = median([time_adds(make, ids, times) for _ in range(RUNS)])
        count, held = traced(make, times)
        report(f"{name}: add", us, "us/add", "~0.3-0.5 us, the set's")
        report(f"  ids held at the end, {held / max(count, 1):.0f} B each", count, "ids")
        report("  traced memory held", held / 2**20, "MiB")


if __name__ == "__main__":
    main()
