"""A month of flow in one file: start-up, API latency, insert rate, size and pruning by history.

`python -m bench history [--days 1,7,30] [--repeat 200] [--week-of-pruning]`

For each size (and an empty file first): a file of ``days`` x 2.5M trades at Kalshi's rate,
ending now, written inside SQLite (``bench.fill``); then

- the app (create_app + uvicorn, a quiet simulator) started on it: seconds to the
  page (``/``) and ``/api/health`` served, and to the windows warm (``WarmStart.done``); the
  warm windows compared with a full replay of the stored day (identical or not);
- p50/p99 of every API endpoint over HTTP (``repeat`` requests each);
- the app's trade writer's insert rate at that size (median of 3 x 50k new trades);
- bytes per trade: the trade tables and their indexes, and the whole file, over the trades;
- pruning the oldest day: the longest time one prune transaction held the writer's lock.

``--week-of-pruning`` adds a file that keeps one day through a week of hours (each hour an
hour of new trades inserted with the indexes in place, and the hour past the day pruned), then
its size against the pages in use and against the same rows written compactly (``VACUUM INTO``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from aggregator import WINDOWS, Aggregator
from analytics import MODES, Analytics
from app import Flowboard, create_app
from bench.bench_sqlite import raw_insert_rate
from bench.fill import fill_trades
from clock import ManualClock
from config import Settings
from database import Database
from sim.embedded import EmbeddedServer
from storage.migrate import connect
from storage.schema import file_size
from storage.trade_codec import ts_of

DAY_MS = 86_400_000
PER_DAY = 2_500_000
TRADE_TABLES = ("trade_rows", "recent_ids", "recent_buckets", "markets", "meta")
GOALS = "page/API < 2 s, warm < 10 s, p99 < 50 ms, insert >= 60% of empty, <= 110 B, prune < 50 ms"


@dataclass
class Figures:
    days: int
    trades: int = 0
    build_s: float = 0.0
    page_s: float = 0.0
    health_s: float = 0.0
    warm_s: float = 0.0
    rebuilt: int = 0
    identical: str = ""
    api: dict[str, tuple[float, float]] = field(default_factory=dict)
    insert_rate: float = 0.0
    bytes_trades: float = 0.0
    bytes_file: float = 0.0
    prune_deleted: int = 0
    prune_max_ms: float = 0.0
    prune_p99_ms: float = 0.0
    prune_s: float = 0.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def build(path: Path, days: int, now_ms: int, per_day: int) -> float:
    await (await connect(path)).close()
    started = time.perf_counter()
    if days:
        fill_trades(path, days * per_day, start_ms=now_ms - days * DAY_MS,
                    spacing_us=DAY_MS * 1000 // per_day, fast=True)  # fmt: skip
    return time.perf_counter() - started


def trade_bytes(path: Path) -> tuple[int, int]:
    """Bytes of the trade tables and their indexes; bytes of the file."""
    conn = sqlite3.connect(path)
    try:
        names = [
            r[0]
            for r in conn.execute(
                f"SELECT name FROM sqlite_master WHERE tbl_name IN ({','.join('?' * 5)})",
                TRADE_TABLES,
            )
        ]
        marks = ",".join("?" * len(names))
        row = conn.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})", names)
        tables = int(row.fetchone()[0] or 0)
        size = conn.execute(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        ).fetchone()[0]
        return tables, int(size)
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[Flowboard, int]]:
    """The app under uvicorn on a loopback port, as ``app.serve`` runs it; the socket named
    TCP, so that asyncio sets TCP_NODELAY on what it accepts (else each answer may wait ~40 ms
    for the client's delayed ACK)."""
    ready: asyncio.Future[Flowboard] = asyncio.get_running_loop().create_future()
    app = create_app(settings, on_ready=ready.set_result)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, lifespan="on", ws_per_message_deflate=False, log_level="warning")
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="bench-uvicorn")
    try:
        first: set[asyncio.Future[Any]] = {ready, task}
        done, _ = await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
            raise RuntimeError("the app stopped during start-up")
        yield ready.result(), sock.getsockname()[1]
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


async def serve_and_measure(path: Path, fig: Figures, repeat: int) -> None:
    settings = Settings(source="sim", db_path=str(path), port=0, sim_rate=0, sim_markets=50)
    started = time.perf_counter()
    async with (
        serve(settings) as (runtime, port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        page = await client.get("/")
        fig.page_s = time.perf_counter() - started
        health = await client.get("/api/health")
        fig.health_s = time.perf_counter() - started
        assert page.status_code == 200 and health.status_code == 200, health.text
        warm = runtime.warm
        await asyncio.wait_for(warm.done.wait(), 600)
        fig.warm_s = time.perf_counter() - started
        fig.rebuilt = warm.rebuilt
        recent = (await client.get("/api/trades/recent?limit=1")).json()
        rows = recent.get("trades", []) if isinstance(recent, dict) else []
        ticker = rows[0]["ticker"] if rows else "KXBENCH-00001"
        paths = [
            "/api/health", "/api/stats", "/api/markets/hot", "/api/trades/recent",
            "/api/trades/recent?limit=1000", "/api/trades/recent?min_count=50",
            "/api/trades/recent?min_count=10000", "/api/trades/recent?ticker=T",
            "/api/markets/T", "/api/markets/T/trades", "/api/analytics", "/api/gaps",
            "/metrics",
        ]  # fmt: skip
        for label in paths:
            p = label.replace("=T", f"={ticker}").replace("/T", f"/{ticker}")
            samples = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                answer = await client.get(p)
                samples.append((time.perf_counter() - t0) * 1000)
                assert answer.status_code in (200, 404), (p, answer.status_code, answer.text)
            fig.api[label] = (statistics.median(samples), percentile(samples, 0.99))
        agg, flow = runtime.aggregator, runtime.analytics
    if fig.trades:
        fig.identical = await same_as_replay(path, agg, flow, warm.from_ms, warm.to_ms)


async def same_as_replay(
    path: Path, agg: Aggregator, flow: Analytics, from_ms: int, to_ms: int
) -> str:
    """The warm windows against the stored trades of the span the windows can hold (what a
    replay of every trade leaves in them: ``ingest.warm``) added in order."""
    now = int(time.time() * 1000)
    db = await Database.open(path, clock=ManualClock(now))
    ref, ref_flow = Aggregator(), Analytics()
    try:
        async for trades in db.trades_between(from_ms, to_ms):
            for t in trades:
                ref.add_trade(t)
                ref_flow.add_trade(t)
    finally:
        await db.close()
    for a in (agg, ref):
        a.advance(now)
    differ = [
        name
        for name, same in (
            ("markets", agg.market_count() == ref.market_count()),
            *(
                (f"hot {w} by {by}", agg.hot(w, 50, by) == ref.hot(w, 50, by))
                for w in WINDOWS
                for by in ("volume", "notional", "trades")
            ),
            ("large trades", agg.large_trades(200) == ref.large_trades(200)),
            *((f"analytics {m}", flow.view(m, now) == ref_flow.view(m, now)) for m in MODES),
        )
        if not same
    ]
    return "identical" if not differ else "differ: " + ", ".join(differ)


async def prune_day(path: Path, fig: Figures) -> None:
    db = await Database.open(path, clock=ManualClock(int(time.time() * 1000)))
    try:
        async with db.conn.execute("SELECT min(key) FROM trade_rows") as cur:
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return
        oldest = ts_of(int(row[0]))
        started = time.perf_counter()
        fig.prune_deleted = await db.prune(oldest + DAY_MS)
        fig.prune_s = time.perf_counter() - started
        holds = db.prune_holds_ms
        fig.prune_max_ms, fig.prune_p99_ms = max(holds), percentile(holds, 0.99)
    finally:
        await db.close()


async def measure(days: int, workdir: Path, repeat: int, per_day: int = PER_DAY) -> Figures:
    fig = Figures(days, trades=days * per_day)
    path = workdir / f"history-{days}d.db"
    now = int(time.time() * 1000)
    fig.build_s = await build(path, days, now, per_day)
    print(f"  {days} days: {fig.trades:,} trades built in {fig.build_s:.0f} s", flush=True)
    if fig.trades:
        tables, size = trade_bytes(path)
        fig.bytes_trades, fig.bytes_file = tables / fig.trades, size / fig.trades
    await serve_and_measure(path, fig, repeat)
    rates = []
    for _ in range(3):  # the shared machine's noise: the median of three
        start = int(time.time() * 1000)
        rates.append(await raw_insert_rate(path, 50_000, start_ms=start, seed=start))
    fig.insert_rate = statistics.median(rates)
    await prune_day(path, fig)
    return fig


async def week_of_pruning(workdir: Path, per_day: int = PER_DAY) -> str:
    """A day kept, a week of hours: each hour a new hour of trades inserted (indexes in place,
    as the app's writer inserts) and the hour past the day pruned, as retention runs hourly."""
    path = workdir / "week.db"
    hour = DAY_MS // 24
    now = int(time.time() * 1000) - 8 * DAY_MS
    await build(path, 1, now, per_day)
    worst = 0.0
    spacing = DAY_MS * 1000 // per_day
    for step in range(7 * 24):
        start = now + step * hour
        fill_trades(path, per_day // 24, start_ms=start, spacing_us=spacing, keep_indexes=True)
        db = await Database.open(path, clock=ManualClock(start + hour))
        try:
            await db.prune(start + hour - DAY_MS)
            worst = max(worst, max(db.prune_holds_ms))
        finally:
            await db.close()
    compact = workdir / "week-compact.db"
    conn = sqlite3.connect(path)
    try:
        pages, free, page = conn.execute(
            "SELECT page_count, freelist_count, page_size FROM pragma_page_count(),"
            " pragma_freelist_count(), pragma_page_size()"
        ).fetchone()
        conn.execute("VACUUM INTO ?", (str(compact),))
    finally:
        conn.close()
    size = path.stat().st_size + file_size(Path(f"{path}-wal"))
    live = (pages - free) * page
    tight = compact.stat().st_size
    return (
        f"a week of hourly pruning at 1 day kept ({per_day:,} trades a day): file"
        f" {size / 2**20:,.0f} MiB, pages in use {live / 2**20:,.0f} MiB ({size / live:.2f}x),"
        f" the same rows written compactly (VACUUM INTO) {tight / 2**20:,.0f} MiB"
        f" ({size / tight:.2f}x); longest prune transaction {worst:.1f} ms"
    )


def table(figs: list[Figures]) -> None:
    head = f"{'figure':<44}" + "".join(f"{f'{f.days} days':>14}" for f in figs)
    print("\n" + head)

    def row(name: str, cells: list[str]) -> None:
        print(f"{name:<44}" + "".join(f"{c:>14}" for c in cells), flush=True)

    row("trades", [f"{f.trades:,}" for f in figs])
    row("build (s)", [f"{f.build_s:.0f}" for f in figs])
    row("start to page served (s)", [f"{f.page_s:.2f}" for f in figs])
    row("start to /api/health (s)", [f"{f.health_s:.2f}" for f in figs])
    row("start to windows warm (s)", [f"{f.warm_s:.1f}" for f in figs])
    row("trades rebuilt into the windows", [f"{f.rebuilt:,}" for f in figs])
    row("windows vs a full replay", [f.identical or "-" for f in figs])
    for f in figs:
        if f.identical.startswith("differ"):
            print(f"  {f.days} days: {f.identical}")
    for p in figs[0].api:
        row(f"{p[:34]} p50/p99 ms", [f"{f.api[p][0]:.1f}/{f.api[p][1]:.1f}" for f in figs])
    row("writer insert rate (trades/s)", [f"{f.insert_rate:,.0f}" for f in figs])
    row("  vs the empty file", [f"{f.insert_rate / figs[0].insert_rate:.0%}" for f in figs])
    row("bytes per trade, trade tables + indexes", [f"{f.bytes_trades:.1f}" for f in figs])
    row("bytes per trade, whole file", [f"{f.bytes_file:.1f}" for f in figs])
    row("prune of the oldest day: trades", [f"{f.prune_deleted:,}" for f in figs])
    row("  longest transaction (ms)", [f"{f.prune_max_ms:.1f}" for f in figs])
    row("  p99 transaction (ms)", [f"{f.prune_p99_ms:.1f}" for f in figs])
    row("  whole prune (s)", [f"{f.prune_s:.1f}" for f in figs])
    print(f"(goals: {GOALS})", flush=True)


async def main(
    days: list[int], repeat: int, week: bool, workdir: Path | None, per_day: int
) -> None:
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        figs = []
        for d in [0, *days]:
            figs.append(await measure(d, Path(tmp), repeat, per_day))
            for suffix in ("", "-wal", "-shm"):
                await asyncio.to_thread(
                    Path(tmp, f"history-{d}d.db{suffix}").unlink, missing_ok=True
                )
        table(figs)
        if week:
            print(await week_of_pruning(Path(tmp), per_day), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", default="1,7")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--week-of-pruning", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--per-day", type=int, default=PER_DAY, help="trades a day")
    args = parser.parse_args()
    asyncio.run(main([int(d) for d in args.days.split(",") if d], args.repeat,
                     args.week_of_pruning, args.workdir, args.per_day))  # fmt: skip
