"""``flowboard backtest``: run strategies over a recording at full speed and write a report.

    flowboard backtest RECORDING --strategies NAME,... [--param NAME.KEY=VALUE ...]
        [--sweep NAME.KEY=A,B,C ...] --report DIR [--latency-ms 150] [--processes N]

One run goes in this process, with a progress bar on stderr. A sweep runs every combination of
its values (the first ``--sweep`` varying slowest), one process per run on all cores
(``--processes``, default the number of cores), and the report shows the runs side by side in
that order, whatever order they finish in.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import itertools
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from backtest import report
from backtest.run import ParamError, RunSpec, check, run_backtest
from ingest.recording import RecordingError, read_header

BAR = 30


def _setting(text: str, flag: str) -> tuple[str, str, str]:
    name, dot, rest = text.partition(".")
    key, eq, value = rest.partition("=")
    if not (dot and eq and name and key):
        raise ParamError(f"{flag} {text!r}: expected NAME.KEY=VALUE")
    return name, key, value


def specs(args: argparse.Namespace) -> list[RunSpec]:
    """The runs the arguments ask for: one, or every combination of the sweeps' values."""
    names = tuple(n for n in (s.strip() for s in args.strategies.split(",")) if n)
    if not names:
        raise ParamError("--strategies: no strategy named")
    fixed = [_setting(p, "--param") for p in args.param]
    axes = []
    for text in args.sweep:
        name, key, values = _setting(text, "--sweep")
        options = [v for v in values.split(",") if v]
        if not options:
            raise ParamError(f"--sweep {text!r}: no values")
        axes.append([(name, key, v) for v in options])
    combos: list[tuple[tuple[str, str, str], ...]] = list(itertools.product(*axes)) or [()]
    out = []
    for combo in combos:
        swept = {(s, k) for s, k, _ in combo}
        params = tuple(p for p in fixed if (p[0], p[1]) not in swept) + combo
        label = ", ".join(f"{s}.{k}={v}" for s, k, v in combo)
        out.append(RunSpec(str(args.recording), names, params, args.latency_ms, label,
                           args.resamples, tuple(args.imports)))  # fmt: skip
    return out


class ProgressBar:
    def __init__(self, out: TextIO, label: str = "", unit: str = "records") -> None:
        self.out = out
        self.label = label
        self.unit = unit
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        pct = int(share * 100)
        if pct == self.shown:
            return
        self.shown = pct
        filled = int(share * BAR)
        self.out.write(f"\r{self.label}[{'#' * filled}{'.' * (BAR - filled)}] {pct:3d}% "
                       f"{done:,}/{total:,} {self.unit}")  # fmt: skip
        if done >= total:
            self.out.write("\n")
        self.out.flush()


def _run_one(spec: RunSpec) -> dict[str, Any]:
    """A sweep's run, in its own process."""
    return asyncio.run(run_backtest(spec))


def run_specs(
    runs: Sequence[RunSpec], *, processes: int, err: TextIO = sys.stderr
) -> list[dict[str, Any]]:
    """Every run's figures, in the order of ``runs``."""
    if len(runs) == 1 or processes <= 1:
        out = []
        for i, spec in enumerate(runs):
            label = f"run {i + 1}/{len(runs)} " if len(runs) > 1 else ""
            out.append(asyncio.run(run_backtest(spec, progress=ProgressBar(err, label))))
        return out
    bar = ProgressBar(err, "sweep ", "runs")
    bar(0, len(runs))
    results: list[dict[str, Any]] = []
    # spawn: each run starts from a clean interpreter, whatever this process holds
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(processes, len(runs))) as pool:
        for figures in pool.imap(_run_one, runs):  # in order of ``runs``: a stable merge
            results.append(figures)
            bar(len(results), len(runs))
    return results


def version() -> str:
    try:
        return metadata.version("flowboard")
    except metadata.PackageNotFoundError:
        return "unknown"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flowboard backtest",
        description="Run strategies over a recording at full speed, each beside a reverse "
        "control and a random baseline, and write DIR/report.json and DIR/report.html.",
    )
    p.add_argument("recording", type=Path, help="a recording (--record FILE; gzip is read too)")
    p.add_argument("--strategies", required=True, help="registered names, comma-separated")
    p.add_argument("--param", action="append", default=[], metavar="NAME.KEY=VALUE",
                   help="a strategy's parameter (its Config field); repeatable")  # fmt: skip
    p.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME.KEY=A,B,C",
        help="run once per value (several: every combination); repeatable",
    )
    p.add_argument("--report", required=True, type=Path, metavar="DIR", help="where to write")
    p.add_argument("--latency-ms", type=int, default=150, help="the desk's order latency")
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                   help="processes a sweep runs on (default: every core)")  # fmt: skip
    p.add_argument("--resamples", type=int, default=2_000, help="bootstrap resamples")
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (a module registering strategies of your own)",
    )
    return p


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    try:
        for module in args.imports:
            importlib.import_module(module)
        read_header(args.recording)
        if args.latency_ms < 0 or args.resamples < 1:
            raise ParamError("--latency-ms must be >= 0 and --resamples >= 1")
        runs = specs(args)
        for spec in runs:
            check(spec)  # every run's parameters are sound before any starts
    except (ParamError, RecordingError, ImportError) as exc:
        print(f"flowboard backtest: {exc}", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    figures = run_specs(runs, processes=args.processes)
    seconds = time.perf_counter() - t0
    events = sum(f["recording"]["events"] for f in figures)
    run = {
        "tool": f"flowboard backtest {version()}",
        "version": version(),
        "python": platform.python_version(),
        "started_utc": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds) if seconds else None,
        "processes": 1 if len(runs) == 1 else min(args.processes, len(runs)),
        "argv": list(argv),
    }
    report.write(args.report, figures, run)
    for f in figures:
        for name, fig in f["strategies"].items():
            label = f"{f['label']}: " if f["label"] else ""
            pnl = " ".join(f"{r} {report.dollars(fig[r]['pnl'])}" for r in report.ROLES)
            print(f"{label}{name}: {pnl}", file=sys.stderr)
    print(f"{args.report / 'report.html'} ({len(runs)} run(s), {seconds:.1f} s, "
          f"{events / seconds:,.0f} events/s)", file=sys.stderr)  # fmt: skip
    return 0
