"""The page at 500 trades/s from the simulator: main-thread busy share and long tasks.

Goal: no task over 50 ms and under 30% busy. Prints the median of three 10 s runs.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from config import Settings
from tests.conftest_browser import bench_page

RUNS = 3


def main() -> None:
    results = []
    for n in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                source="sim", sim_rate=500.0, db_path=str(Path(tmp) / "page.db"), port=0
            )
            result = bench_page(settings, seconds=10.0)
        print(f"run {n + 1}: {result}", flush=True)
        results.append(result)
    for key in sorted(results[0]):
        values = [r[key] for r in results]
        if all(isinstance(v, int | float) for v in values):
            print(f"median {key}: {statistics.median(values)}")
    print("goal: busy share < 30%, no task over 50 ms")


if __name__ == "__main__":
    main()
