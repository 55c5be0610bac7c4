"""`make bench`: run every benchmark in its own process and print its figures.

`python -m bench` runs them all; `python -m bench ingest latency` runs the named ones.
Each benchmark prints medians of several runs and the goal it is measured against.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["sqlite", "windows", "ingest", "latency", "page"]


def main(argv: list[str]) -> int:
    available = {p.stem.removeprefix("bench_"): p for p in HERE.glob("bench_*.py")}
    names = argv or [n for n in ORDER if n in available] + sorted(set(available) - set(ORDER))
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(sorted(available))}")
        return 2
    failed = 0
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, "-m", f"bench.bench_{name}"], cwd=HERE.parent)
        print(f"=== {name}: exit {rc}, {time.monotonic() - started:.0f} s ===", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
