"""Sustained end-to-end ingest: the simulator in its own process, the app here, 100 clients.

    python -m bench.bench_ingest [--seconds 60] [--clients 100] [--rate 0] [--runs 1]
                                 [--reader handwritten|sansio|both] [--desk on|off|both]

The simulated exchange (``bench.sim_proc``) emits trades over its Kalshi WebSocket as fast as the
app absorbs them (``--rate 0``: it runs at most ``--window`` trades ahead of what the app has
handled and stored) or at a fixed rate. The app runs in this process exactly as ``app.serve``
runs it, with ``source=live`` pointed at the simulator with a fresh key pair, so every trade goes
through the real client, the pipeline, SQLite, the windows, the analytics and the hub;
``--clients`` /ws/stream clients in another process (``bench.ws_swarm``) count what they get.

At the end: every trade id the simulator produced must be in SQLite (and nothing else), every
client must have received every trade, and the sampled clients' ids must be exactly the
produced ids. Beside the figure: ``bench_sqlite.raw_insert_rate`` on the same schema at the
same row count, measured in the same run. Goal: >= 20,000 trades/s for 60 s, >= 70% of raw.

``--reader`` picks the feed's WebSocket reader (the ``kalshi_ws_reader`` setting); ``both`` runs
the two interleaved in one invocation (hand-written, sans-I/O, hand-written, ...; ``--runs``
each) and prints both medians side by side with their ratio: on a shared machine only figures
taken in the same run, close in time, compare. ``--desk`` does the same for the paper desk
(a listener on every event, no orders): ``both`` interleaves runs with it on and off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_sqlite import raw_insert_rate
from bench.procs import (
    LoadMonitor,
    ServedApp,
    format_load,
    run_bench,
    serve_app,
    spawn,
    write_keypair,
)
from config import KALSHI_WS_READERS, Settings
from models import Event, Trade

log = logging.getLogger(__name__)

KEY_ID = "flowboard-bench"
GOAL_RATE = 20_000
GOAL_SHARE = 0.70
CREDIT_EVERY_S = 0.02


@dataclass
class IngestResult:
    seconds: float  # the emitting phase
    emitted: int
    drained_s: float  # from the start until everything was stored and delivered
    handled: list[int] = field(default_factory=list)  # cumulative, sampled every second
    stored_at: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)  # the slowest client's count
    stored: int = 0
    missing_in_db: int = 0
    extra_in_db: int = 0
    client_counts: list[int] = field(default_factory=list)
    clients_closed: list[list[int]] = field(default_factory=list)
    sampled_mismatch: dict[int, str] = field(default_factory=dict)
    raw_rate: float = 0.0
    raw_rows: int = 0
    load: dict[str, float] = field(default_factory=dict)

    @property
    def overall_rate(self) -> float:
        return self.emitted / self.drained_s if self.drained_s > 0 else 0.0

    @property
    def completed_per_s(self) -> list[int]:
        """Per second of the run, trades that went all the way: handled, stored and at the
        slowest client (the per-second growth of the smallest of the three counts)."""
        done = [min(x) for x in zip(self.handled, self.stored_at, self.delivered, strict=True)]
        return _rates(done)

    @property
    def median_rate(self) -> float:
        """Median of ``completed_per_s``, leaving out the first (ramp-up) second if 3+."""
        per_s = self.completed_per_s
        if len(per_s) >= 3:
            per_s = per_s[1:]
        return statistics.median(per_s) if per_s else 0.0

    @property
    def lost(self) -> bool:
        return bool(
            self.missing_in_db
            or self.extra_in_db
            or self.sampled_mismatch
            or self.clients_closed
            or any(c != self.emitted for c in self.client_counts)
        )


class TradeCount:
    """Counts trades the pipeline handles; ``reached(n)`` resolves once it has handled ``n``."""

    def __init__(self) -> None:
        self.n = 0
        self._target: tuple[int, asyncio.Future[None]] | None = None

    def __call__(self, event: Event) -> None:
        if type(event) is Trade:
            self.n += 1
            target = self._target
            if target is not None and self.n >= target[0] and not target[1].done():
                target[1].set_result(None)

    async def reached(self, n: int, timeout_s: float) -> None:
        if self.n >= n:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._target = (n, fut)
        async with asyncio.timeout(timeout_s):
            await fut


def _rates(samples: list[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(samples)]


def check_db(db_path: Path, produced: set[str]) -> tuple[int, int, int]:
    """(stored rows, produced ids missing from SQLite, stored ids never produced)."""
    conn = sqlite3.connect(db_path)
    try:
        stored = {row[0] for row in conn.execute("SELECT trade_id FROM trades")}
    finally:
        conn.close()
    return len(stored), len(produced - stored), len(stored - produced)


def check_sampled(ids_dir: Path, sampled: list[int], produced: set[str]) -> dict[int, str]:
    bad: dict[int, str] = {}
    for index in sampled:
        got = (ids_dir / f"client-{index}.txt").read_text().split()
        seen = set(got)
        if len(seen) != len(got):
            bad[index] = f"{len(got) - len(seen)} duplicates"
        elif seen != produced:
            bad[index] = f"{len(produced - seen)} missing, {len(seen - produced)} unknown"
    return bad


async def _credit_loop(served: ServedApp, sim: Any, window: int) -> None:
    rt = served.runtime
    while True:
        absorbed = min(rt.pipeline.stats.trades, rt.db.stats.rows_written)
        sim.send(cmd="credit", allowed=absorbed + window)
        await asyncio.sleep(CREDIT_EVERY_S)


async def run_ingest(
    *,
    seconds: float,
    clients: int = 100,
    rate: float = 0.0,
    window: int = 20_000,
    markets: int = 2_000,
    sample: int = 3,
    raw_rows: int | None = None,
    workdir: Path,
    echo: bool = True,
    reader: str = "handwritten",
    paper: bool = True,
) -> IngestResult:
    """One run; ``raw_rows`` None = as many rows as the run stored, 0 = skip the raw rate."""
    say = print if echo else (lambda *a, **k: None)
    private, public = write_keypair(workdir)
    ids_dir = workdir / "ids"
    ids_dir.mkdir(exist_ok=True)
    db_path = workdir / "ingest.db"
    sim_args = ["--key-id", KEY_ID, "--public-key", str(public), "--markets", str(markets)]
    async with spawn("sim", "bench.sim_proc", sim_args) as (sim, ready):
        settings = Settings(
            source="live", db_path=str(db_path), port=0, kalshi_rest_url=ready["rest"],
            kalshi_ws_url=ready["ws"], kalshi_key_id=KEY_ID, kalshi_key_path=str(private),
            log_level="WARNING", nba=False, kalshi_ws_reader=reader, paper=paper,
        )  # fmt: skip
        async with serve_app(settings, on_abort=sim.stop) as served:
            rt = served.runtime
            sim.send(cmd="wait_clients", n=1)
            await sim.expect("clients", 30)
            swarm_args = ["--url", served.stream_url, "--clients", str(clients),
                          "--sample", str(sample)]  # fmt: skip
            async with spawn("swarm", "bench.ws_swarm", swarm_args, ready_timeout_s=120) as (
                swarm,
                _,
            ):
                if rt.hub.clients != clients:
                    raise RuntimeError(f"{rt.hub.clients} stream clients, wanted {clients}")
                count = TradeCount()
                rt.pipeline.listen("bench-ingest", count)
                monitor = LoadMonitor({"app": os.getpid(), "sim": sim.pid, "swarm": swarm.pid})
                result = IngestResult(seconds=seconds, emitted=0, drained_s=0.0)
                handled, stored, delivered = [0], [0], [0]
                started = time.monotonic()
                sim.send(cmd="run", rate=rate, seconds=seconds)
                credit = None
                if rate <= 0:
                    credit = asyncio.create_task(_credit_loop(served, sim, window))

                def tick() -> None:
                    load = monitor.sample()
                    handled.append(rt.pipeline.stats.trades)
                    stored.append(rt.db.stats.rows_written)
                    delivered.append(swarm.latest.get("progress", {}).get("min", 0))
                    swarm.send(cmd="progress")  # fresh for the next tick
                    say(
                        f"  t={time.monotonic() - started:5.1f}s handled {handled[-1]:>9,} "
                        f"(+{handled[-1] - handled[-2]:>6,}/s) stored {stored[-1]:>9,} "
                        f"clients min {delivered[-1]:>9,}  queue {rt.events.qsize():>6,} "
                        f"db pending {rt.db.stats.pending:>6,}  {format_load(load)}",
                        flush=True,
                    )

                try:
                    done = await sim.expect_ticking("done", seconds + 60, tick)
                finally:
                    if credit is not None:
                        credit.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await credit
                result.emitted = emitted = int(done["emitted"])
                result.seconds = float(done["seconds"])
                await count.reached(emitted, timeout_s=120)
                await rt.db.flush()
                deadline = time.monotonic() + 60
                while swarm.latest.get("progress", {}).get("min", 0) < emitted:
                    if time.monotonic() > deadline:
                        say("  clients did not receive every trade within 60 s", flush=True)
                        break
                    swarm.send(cmd="progress")
                    await swarm.expect("progress", 10)
                result.drained_s = time.monotonic() - started
                result.handled, result.stored_at, result.delivered = handled, stored, delivered
                result.load = monitor.medians()
                swarm.send(cmd="report", ids_dir=str(ids_dir))
                report = await swarm.expect("report", 60)
                result.client_counts = report["counts"]
                result.clients_closed = report["closed"]
            ids_path = workdir / "produced.txt"
            sim.send(cmd="ids", path=str(ids_path))
            await sim.expect("ids", 120)
    produced = set(ids_path.read_text().split())
    result.stored, result.missing_in_db, result.extra_in_db = await asyncio.to_thread(
        check_db, db_path, produced
    )
    result.sampled_mismatch = check_sampled(ids_dir, report["sampled"], produced)
    rows = result.stored if raw_rows is None else raw_rows
    if rows > 0:
        say(f"  raw batched insert rate at {rows:,} rows ...", flush=True)
        result.raw_rows = rows
        result.raw_rate = await raw_insert_rate(workdir / "raw.db", rows)
    return result


def print_result(r: IngestResult, clients: int) -> None:
    share = r.median_rate / r.raw_rate if r.raw_rate else 0.0
    lost = "NOTHING LOST" if not r.lost else "LOSS"
    print(f"\n  emitted {r.emitted:,} trades in {r.seconds:.1f} s; stored {r.stored:,}; "
          f"missing in SQLite {r.missing_in_db}; unknown in SQLite {r.extra_in_db}; "
          f"clients' counts min {min(r.client_counts, default=0):,} "
          f"max {max(r.client_counts, default=0):,}; clients closed {len(r.clients_closed)}; "
          f"sampled clients' ids {'identical' if not r.sampled_mismatch else r.sampled_mismatch}"
          f"  => {lost}")  # fmt: skip
    print(f"  per-second rates, completed (handled, stored, at every client): "
          f"{r.completed_per_s}")  # fmt: skip
    print("\n| ingest figure | value | goal |\n|---|---:|---|")
    print(f"| sustained, median per-second rate of trades handled, stored and delivered to all "
          f"{clients} clients (first second left out) | {r.median_rate:,.0f} trades/s "
          f"| >= {GOAL_RATE:,} |")  # fmt: skip
    print(f"| overall, first emit to last trade stored and delivered | {r.overall_rate:,.0f} "
          f"trades/s | >= {GOAL_RATE:,} |")  # fmt: skip
    print(f"| median per-second: handled / stored / delivered | "
          f"{statistics.median(_rates(r.handled) or [0]):,.0f} / "
          f"{statistics.median(_rates(r.stored_at) or [0]):,.0f} / "
          f"{statistics.median(_rates(r.delivered) or [0]):,.0f} | |")  # fmt: skip
    print(f"| raw batched SQLite insert, same schema, {r.raw_rows:,} rows | {r.raw_rate:,.0f} "
          f"rows/s | |")  # fmt: skip
    print(f"| end-to-end / raw | {share:.0%} | >= {GOAL_SHARE:.0%} |")
    print(f"| nothing lost ({r.emitted:,} trades: SQLite ids, {clients} clients' counts, "
          f"sampled clients' ids) | {'yes' if not r.lost else 'NO'} | yes |")  # fmt: skip
    print(f"| median load: {format_load(r.load)} | | |", flush=True)


def print_readers(runs: list[tuple[str, IngestResult]], readers: tuple[str, ...]) -> None:
    """Every run in the order it ran, then each variant's medians and their ratio."""
    print("\n| run | reader | sustained trades/s | overall trades/s | nothing lost |")
    print("|---:|---|---:|---:|---|")
    for i, (reader, r) in enumerate(runs, 1):
        print(f"| {i} | {reader} | {r.median_rate:,.0f} | {r.overall_rate:,.0f} "
              f"| {'yes' if not r.lost else 'NO'} |")  # fmt: skip
    medians: dict[str, tuple[float, float]] = {}
    print("\n| reader | runs | overall, median | sustained, median |\n|---|---:|---:|---:|")
    for reader in readers:
        mine = [r for name, r in runs if name == reader]
        overall = statistics.median(r.overall_rate for r in mine)
        sustained = statistics.median(r.median_rate for r in mine)
        medians[reader] = (overall, sustained)
        print(f"| {reader} | {len(mine)} | {overall:,.0f} | {sustained:,.0f} |")
    if len(readers) == 2:
        a, b = readers
        (a_all, a_sus), (b_all, b_sus) = medians[a], medians[b]
        # each run of one reader beside the run of the other next to it in time
        pairs = [
            ra.overall_rate / rb.overall_rate
            for (_, ra), (_, rb) in zip(runs[0::2], runs[1::2], strict=False)
            if rb.overall_rate > 0
        ]
        print(f"\n{a} / {b}: overall {a_all / b_all if b_all else 0:.3f}, sustained "
              f"{a_sus / b_sus if b_sus else 0:.3f}; per adjacent pair (overall) "
              f"{', '.join(f'{p:.3f}' for p in pairs)}", flush=True)  # fmt: skip


async def _main(args: argparse.Namespace) -> int:
    readers = KALSHI_WS_READERS if args.reader == "both" else (args.reader,)
    desks = (True, False) if args.desk == "both" else (args.desk == "on",)
    variants = [(r, d) for r in readers for d in desks]

    def label(reader: str, desk: bool) -> str:
        parts = [reader] if len(readers) > 1 else []
        parts += [f"desk {'on' if desk else 'off'}"] if len(desks) > 1 else []
        return ", ".join(parts) or reader

    order = [v for _ in range(args.runs) for v in variants]
    runs: list[tuple[str, IngestResult]] = []
    for n, (reader, desk) in enumerate(order, 1):
        print(f"run {n}/{len(order)}: {args.seconds:.0f} s, {args.clients} clients, "
              f"rate {'max' if args.rate <= 0 else f'{args.rate:,.0f}/s'}, "
              f"reader {reader}, paper desk {'on' if desk else 'off'}", flush=True)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="flowboard-ingest-") as tmp:
            result = await run_ingest(
                seconds=args.seconds, clients=args.clients, rate=args.rate,
                window=args.window, markets=args.markets, sample=args.sample,
                raw_rows=args.raw_rows, workdir=Path(tmp), reader=reader, paper=desk,
            )  # fmt: skip
        print_result(result, args.clients)
        runs.append((label(reader, desk), result))
    results = [r for _, r in runs]
    if len(variants) > 1:
        print_readers(runs, tuple(label(r, d) for r, d in variants))
    elif len(results) > 1:
        print(f"\nmedian of {len(results)} runs: sustained "
              f"{statistics.median(r.median_rate for r in results):,.0f} trades/s, overall "
              f"{statistics.median(r.overall_rate for r in results):,.0f} trades/s, raw "
              f"{statistics.median(r.raw_rate for r in results):,.0f} rows/s")  # fmt: skip
    return 1 if any(r.lost for r in results) else 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_ingest")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--rate", type=float, default=0.0, help="trades/s; 0 = as fast as absorbed")
    p.add_argument("--window", type=int, default=20_000, help="trades the sim may run ahead")
    p.add_argument("--markets", type=int, default=2_000)
    p.add_argument("--sample", type=int, default=3, help="clients that check every trade id")
    p.add_argument("--raw-rows", type=int, default=None, help="rows for the raw rate (0: skip)")
    p.add_argument("--runs", type=int, default=3, help="runs (of each reader with --reader both)")
    p.add_argument(
        "--reader",
        choices=(*KALSHI_WS_READERS, "both"),
        default="handwritten",
        help="the feed's WebSocket reader; both: the two interleaved in one invocation",
    )
    p.add_argument(
        "--desk",
        choices=("on", "off", "both"),
        default="on",
        help="the paper desk on the pipeline; both: on and off interleaved in one invocation",
    )
    run_bench(_main(p.parse_args(argv)))


if __name__ == "__main__":
    main()
