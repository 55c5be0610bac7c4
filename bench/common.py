"""Helpers shared by the benchmarks: synthetic trades, medians, memory, printing."""

from __future__ import annotations

import os
import random
import statistics
import uuid
from collections.abc import Iterator

import psutil

from models import Side, Trade

H0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def rss_mb() -> float:
    """Resident memory of this process in MiB."""
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def median(values: list[float]) -> float:
    return statistics.median(values)


def synthetic_trades(
    n: int, *, markets: int = 2_000, start_ms: int = H0, per_ms: int = 20, seed: int = 1
) -> Iterator[Trade]:
    """``n`` trades with random-UUID ids (as Kalshi's), ``per_ms`` trades per millisecond."""
    rng = random.Random(seed)
    tickers = [f"KXBENCH-{i:05d}" for i in range(markets)]
    for i in range(n):
        ts = start_ms + i // per_ms
        yield Trade(
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            rng.choice(tickers),
            rng.randrange(1, 10_000),
            rng.randrange(1, 100_000),
            Side.YES if rng.random() < 0.5 else Side.NO,
            ts,
            ts + 5,
        )


def report(name: str, value: float, unit: str, goal: str = "") -> None:
    goal_text = f"   (goal: {goal})" if goal else ""
    print(f"{name:<58} {value:>12,.2f} {unit}{goal_text}", flush=True)
