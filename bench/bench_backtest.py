"""Backtest throughput on the bundled recording: all five strategies, each with its reverse
control and random baseline, through ``backtest.run`` (the feed's dispatcher and parser, the
pipeline, the NBA state, the desk, the strategies); beside it the parser alone
(``kalshi.wire.parse_frame``) over the same frames, in the same process, and the same backtest
with no strategy (the world and the desk only), to show where the time goes.

    python -m bench backtest [--runs 3] [--recording recordings/sim-night.rec.gz]

Goal: >= 100,000 events/s, and >= 40% of the parser-only rate (in frames/s).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from pathlib import Path

from backtest.run import RunSpec, run_backtest
from bench.bench_replay import parse_only_s
from bench.common import median, report
from ingest.recording import read_recording

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "recordings" / "sim-night.rec.gz"
FIVE = ("sharp_line", "momentum", "ev_multi", "mean_reversion", "correlation")
GOALS = (100_000.0, 0.4)


def timed(spec: RunSpec) -> tuple[float, int]:
    gc.collect()
    t0 = time.perf_counter()
    figures = asyncio.run(run_backtest(spec))
    return time.perf_counter() - t0, figures["recording"]["events"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--recording", type=Path, default=RECORDING)
    args = parser.parse_args()
    path = str(args.recording)
    frames = [(r.recv_ms, r.body) for r in read_recording(path) if r.kind == "ws"]
    full: list[float] = []
    bare: list[float] = []
    one: dict[str, list[float]] = {n: [] for n in FIVE}
    parses: list[float] = []
    events = 0
    for _ in range(args.runs):
        s, events = timed(RunSpec(path, FIVE))
        full.append(s)
        bare.append(timed(RunSpec(path, ()))[0])
        for name in FIVE:
            one[name].append(timed(RunSpec(path, (name,)))[0])
        parses.append(parse_only_s(frames))
    full_s, bare_s, parse_s = median(full), median(bare), median(parses)
    parse_rate = len(frames) / parse_s
    print(f"{events:,} events from {len(frames):,} frames ({args.recording.name}); "
          f"median of {args.runs} runs")  # fmt: skip
    report("backtest, five strategies + controls: events/s", events / full_s, "events/s",
           f">= {GOALS[0]:,.0f}")  # fmt: skip
    report("  frames/s", len(frames) / full_s, "frames/s")
    report("parser only (wire.parse_frame), same frames", parse_rate, "frames/s")
    report("backtest / parser only", len(frames) / full_s / parse_rate * 100, "%",
           f">= {GOALS[1] * 100:.0f}%")  # fmt: skip
    report("no strategy (world, NBA state, desk): events/s", events / bare_s, "events/s")
    for name in FIVE:
        report(f"  {name} alone + its controls: events/s", events / median(one[name]),
               "events/s")  # fmt: skip


if __name__ == "__main__":
    main()
