"""Exchange-to-browser latency: the simulator's emit time to a /ws/stream client's receive time.

    python -m bench.bench_latency [--runs 3] [--seconds 10] [--warmup 2] [--batch-ms N]

The simulator (``bench.sim_proc``, own process) emits at a fixed rate; every trade carries
``ts_ms``, the millisecond it was emitted. The app runs here as ``app.serve`` runs it
(``source=live`` pointed at the simulator). The clients (``bench.ws_swarm``, own process)
stamp each ``trades`` message when its last byte arrives; sampled clients record per trade
``receive - ts_ms`` (and its two parts: ``recv_ms - ts_ms`` up to the app's Kalshi client,
``receive - recv_ms`` through the pipeline and the hub). Same machine, same clock.

Configurations (goal p99): 1,000 and 10,000 trades/s with 100 clients (< 100 ms), 5,000
trades/s with 1,000 clients (< 250 ms). Each run times the trades emitted after the warm-up;
the table shows medians over the runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_ingest import KEY_ID, TradeCount
from bench.procs import (
    Child,
    LoadMonitor,
    ServedApp,
    format_load,
    run_bench,
    serve_app,
    spawn,
    write_keypair,
)
from config import Settings

log = logging.getLogger(__name__)

# trades/s, clients, goal for p99 ms (p50 goal at the first two: under 15 ms)
CONFIGS: tuple[tuple[int, int, int], ...] = ((100, 100, 50), (1_000, 100, 50), (10_000, 100, 100),
                                             (5_000, 1_000, 250))  # fmt: skip

HEADER = (
    "| trades/s | clients | p50 ms | p99 ms | goal p99 | exchange->app p50/p99 | "
    "app->client p50/p99 | max ms | every client got every trade | median load |"
)


def percentile(hist: Mapping[int, int], q: float) -> int:
    """The smallest value with at least ``q`` of the weight at or below it (nearest rank)."""
    total = sum(hist.values())
    if total == 0:
        raise ValueError("empty histogram")
    need = max(1, -(-int(q * total * 1_000_000) // 1_000_000))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= need:
            return value
    return max(hist)


def _hist(raw: Mapping[str, int]) -> dict[int, int]:
    return {int(k): v for k, v in raw.items()}


@dataclass
class LatencyRun:
    rate: int
    clients: int
    emitted: int
    timed: int  # trades timed at the sampled clients
    p50: int
    p99: int
    max: int
    feed_p50: int
    feed_p99: int
    hub_p50: int
    hub_p99: int
    delivered_min: int
    expected: int
    closed: int
    load: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.delivered_min == self.expected and self.closed == 0


@dataclass
class LatencyRow:
    rate: int
    clients: int
    goal_ms: int
    runs: list[LatencyRun]

    def med(self, name: str) -> float:
        return statistics.median(float(getattr(r, name)) for r in self.runs)


async def run_latency(
    *,
    configs: tuple[tuple[int, int, int], ...] = CONFIGS,
    runs: int = 3,
    seconds: float = 10.0,
    warmup: float = 2.0,
    sample: int = 5,
    markets: int = 2_000,
    batch_ms: int | None = None,
    workdir: Path,
    echo: bool = True,
) -> list[LatencyRow]:
    say = print if echo else (lambda *a, **k: None)
    private, public = write_keypair(workdir)
    sim_args = ["--key-id", KEY_ID, "--public-key", str(public), "--markets", str(markets)]
    rows: list[LatencyRow] = []
    async with spawn("sim", "bench.sim_proc", sim_args) as (sim, ready):
        settings = Settings(
            source="live", db_path=str(workdir / "latency.db"), port=0,
            kalshi_rest_url=ready["rest"], kalshi_ws_url=ready["ws"], kalshi_key_id=KEY_ID,
            kalshi_key_path=str(private), log_level="WARNING", nba=False,
        )  # fmt: skip
        if batch_ms is not None:
            settings = settings.with_(trade_batch_ms=batch_ms)
        async with serve_app(settings, on_abort=sim.stop) as served:
            rt = served.runtime
            sim.send(cmd="wait_clients", n=1)
            await sim.expect("clients", 30)
            count = TradeCount()
            rt.pipeline.listen("bench-latency", count)
            for rate, clients, goal in configs:
                row = LatencyRow(rate, clients, goal, [])
                rows.append(row)
                swarm_args = ["--url", served.stream_url, "--clients", str(clients),
                              "--sample", str(sample)]  # fmt: skip
                async with spawn("swarm", "bench.ws_swarm", swarm_args,
                                 ready_timeout_s=180) as (swarm, _):  # fmt: skip
                    swarm.send(cmd="report")
                    counts = (await swarm.expect("report", 60))["counts"]
                    for n in range(runs):
                        run, counts = await _timed_run(
                            served, sim, swarm, count, rate, clients, counts,
                            warmup=warmup, seconds=seconds, label=f"run {n + 1}", say=say,
                        )  # fmt: skip
                        row.runs.append(run)
    return rows


async def _timed_run(
    served: ServedApp, sim: Child, swarm: Child, count: TradeCount, rate: int, clients: int,
    before: list[int], *, warmup: float, seconds: float, label: str, say: Callable[..., None],
) -> tuple[LatencyRun, list[int]]:  # fmt: skip
    """One run at ``rate``; returns it and the clients' trade counts after it."""
    rt = served.runtime
    monitor = LoadMonitor({"app": os.getpid(), "sim": sim.pid, "swarm": swarm.pid})
    swarm.send(cmd="measure", from_ms=time.time_ns() // 1_000_000 + int(warmup * 1000))
    await swarm.expect("measuring", 10)
    sim.send(cmd="run", rate=rate, seconds=warmup + seconds)
    first = min(before, default=0)

    def tick() -> None:
        load = monitor.sample()
        got = swarm.latest.get("progress", {}).get("min", first) - first
        say(f"  {rate:,}/s {clients} clients {label}: handled {rt.pipeline.stats.trades:,} "
            f"clients min {got:,}  {format_load(load)}", flush=True)  # fmt: skip

    done = await sim.expect_ticking("done", warmup + seconds + 60, tick)
    emitted = int(done["run"])
    await count.reached(int(done["emitted"]), timeout_s=60)
    deadline = time.monotonic() + 30
    while swarm.latest.get("progress", {}).get("min", 0) < first + emitted:
        if time.monotonic() > deadline:
            break
        swarm.send(cmd="progress")
        await swarm.expect("progress", 10)
    swarm.send(cmd="report")
    rep = await swarm.expect("report", 60)
    after: list[int] = rep["counts"]
    got_min = min((a - b for a, b in zip(after, before, strict=True)), default=0)
    total, feed, hub = _hist(rep["total"]), _hist(rep["feed"]), _hist(rep["hub"])
    if not total:
        raise RuntimeError(f"no trade timed at {rate}/s with {clients} clients")
    run = LatencyRun(
        rate=rate, clients=clients, emitted=emitted, timed=sum(total.values()),
        p50=percentile(total, 0.50), p99=percentile(total, 0.99), max=max(total),
        feed_p50=percentile(feed, 0.50), feed_p99=percentile(feed, 0.99),
        hub_p50=percentile(hub, 0.50), hub_p99=percentile(hub, 0.99),
        delivered_min=got_min, expected=emitted, closed=len(rep["closed"]),
        load=monitor.medians(),
    )  # fmt: skip
    say(f"  {label}: p50 {run.p50} ms p99 {run.p99} ms max {run.max} ms ({run.timed:,} trades "
        f"timed; exchange->app p99 {run.feed_p99} ms, app->client p99 {run.hub_p99} ms; every "
        f"client got {'all' if run.complete else 'NOT all'} {run.expected:,})",
        flush=True)  # fmt: skip
    return run, after


def print_table(rows: list[LatencyRow], batch_ms: int) -> None:
    print(f"\nexchange-to-client latency, medians of {len(rows[0].runs) if rows else 0} runs "
          f"(hub batch {batch_ms} ms)\n")  # fmt: skip
    print(HEADER)
    print("|---:|---:|---:|---:|---|---|---|---:|---|---|")
    for row in rows:
        ok = row.med("p99") < row.goal_ms
        complete = all(r.complete for r in row.runs)
        load = {k: statistics.median(r.load.get(k, 0.0) for r in row.runs)
                for k in row.runs[0].load} if row.runs else {}  # fmt: skip
        print(f"| {row.rate:,} | {row.clients:,} | {row.med('p50'):.0f} | {row.med('p99'):.0f} | "
              f"< {row.goal_ms} {'met' if ok else 'MISSED'} | {row.med('feed_p50'):.0f} / "
              f"{row.med('feed_p99'):.0f} | {row.med('hub_p50'):.0f} / {row.med('hub_p99'):.0f} | "
              f"{row.med('max'):.0f} | {'yes' if complete else 'NO'} | "
              f"{format_load(load)} |")  # fmt: skip
    print(flush=True)


async def _main(args: argparse.Namespace) -> int:
    configs = CONFIGS
    if args.only:
        configs = tuple(c for c in CONFIGS if f"{c[0]}x{c[1]}" in args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="flowboard-latency-") as tmp:
        rows = await run_latency(
            configs=configs, runs=args.runs, seconds=args.seconds, warmup=args.warmup,
            sample=args.sample, batch_ms=args.batch_ms, workdir=Path(tmp),
        )  # fmt: skip
    print_table(rows, args.batch_ms if args.batch_ms is not None else Settings().trade_batch_ms)
    return 0 if all(r.complete for row in rows for r in row.runs) else 1


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_latency")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0, help="timed seconds per run")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--sample", type=int, default=5, help="clients that time every trade")
    p.add_argument("--batch-ms", type=int, default=None, help="the hub's trade batch interval")
    p.add_argument("--only", default="", help="e.g. 1000x100,5000x1000")
    run_bench(_main(p.parse_args(argv)))


if __name__ == "__main__":
    main()
