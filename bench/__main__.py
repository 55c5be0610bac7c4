"""`make bench`: run every benchmark in its own process and print its figures.

`python -m bench` runs them all but the long ones (``LONG``: the hour-long soak); `python -m bench
ingest latency` runs the named ones; flags after the names go to each of them (`python -m bench
ingest --seconds 10`, `python -m bench soak --minutes 10`).
Each benchmark prints medians of several runs and the goal it is measured against.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STOP_GRACE_S = 30.0
ORDER = [
    "sqlite",
    "queries",
    "history",
    "windows",
    "dedupe",
    "paper",
    "ingest",
    "replay",
    "backtest",
    "latency",
    "page",
]
LONG = {"soak"}  # only when named


def run(name: str, flags: list[str]) -> int:
    """Run one benchmark; on Ctrl-C (which reaches it too) give it time to stop its children."""
    proc = subprocess.Popen([sys.executable, "-m", f"bench.bench_{name}", *flags], cwd=HERE.parent)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def main(argv: list[str]) -> int:
    available = {p.stem.removeprefix("bench_"): p for p in HERE.glob("bench_*.py")}
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    argv, flags = argv[:split], argv[split:]
    names = argv or [n for n in ORDER if n in available] + sorted(
        set(available) - set(ORDER) - LONG
    )
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(sorted(available))}")
        return 2
    failed = 0
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        started = time.monotonic()
        rc = run(name, flags)
        print(f"=== {name}: exit {rc}, {time.monotonic() - started:.0f} s ===", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
