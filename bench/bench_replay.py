"""Replay at full speed: a recorded simulated NBA night through the backtest driver.

First a recording: the simulator (a 15-game night, books followed on some of its markets) emits
trades as fast as it can, and the live feed records every frame and backfill as it reads them.
Then the recording runs through ``ingest.driver`` (the feed's dispatcher and parser, the
pipeline's books, windows, analytics and hub, the board's 1 s tick on event time), and beside
it the parser alone (``kalshi.wire.parse_frame``) over the same frames, in the same process.

    python -m bench replay [--trades 200000] [--books 20] [--runs 3]

Goal: >= 100,000 events/s through the driver, and >= 50% of the parser-only rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.common import median, report
from clock import SystemClock
from ingest.driver import Levels, World, book_levels, drive, open_world
from ingest.recording import Recorder, read_header, read_recording
from ingest.replay import RecordPlayer
from kalshi import wire
from kalshi.auth import Signer
from kalshi.book_store import BookStore
from kalshi.feed import KalshiFeed
from kalshi.rest import KalshiRest
from models import Event, Trade
from sim.exchange import SimExchange
from sim.nba_games import NightSim
from web.board import Board

KEY_ID = "b3c1f4a0-5d2e-4c8b-9a61-2f0e7d9c4b11"
GOALS = (100_000.0, 0.5)  # events/s, share of the parser-only rate


@dataclass(slots=True)
class LiveRun:
    """What the live feed delivered while recording, as a pipeline's books would hold it."""

    trade_ids: list[str] = field(default_factory=list)
    events: int = 0
    books: BookStore = field(default_factory=BookStore)
    followed: list[str] = field(default_factory=list)


async def record_sim_night(
    path: Path,
    *,
    trades: int,
    batch: int = 1_000,
    books: int = 20,
    seed: int = 7,
    drop_after: int | None = None,
) -> LiveRun:
    """Record a simulated 15-game night: ``trades`` emitted in batches, books followed on
    ``books`` open markets; with ``drop_after``, the exchange drops the connection after that
    many batches and the next batch goes out while the feed is away (REST backfills it).
    Returns what the live feed delivered, consumed in order as the pipeline would."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    clock = SystemClock()
    now = clock.now_ms()
    day = datetime.fromtimestamp(now / 1000, UTC).date().isoformat()
    night = NightSim(seed, day, now, 15, acceleration=60.0)
    sim = SimExchange(key_id=KEY_ID, public_key_pem=pem, seed=seed, rate=0.0, n_markets=60,
                      rate_limit_per_s=10_000.0, rate_limit_burst=10_000, night=night)  # fmt: skip
    await sim.start()
    live = LiveRun(followed=sim.open_tickers()[:books])
    rec = Recorder(str(path), source="sim", started_ms=now, flush_ms=50)
    out: asyncio.Queue[Event] = asyncio.Queue(maxsize=50_000)
    try:
        async with KalshiRest(sim.rest_url, signer=Signer(KEY_ID, key, clock), clock=clock) as rest:
            feed = KalshiFeed(ws_url=sim.ws_url, rest=rest, signer=Signer(KEY_ID, key, clock),
                              out=out, clock=clock, book_tickers=live.followed,
                              recorder=rec)  # fmt: skip
            live.books = BookStore(feed.request_snapshot)
            task = asyncio.create_task(feed.run(), name="bench-feed")
            recorder = asyncio.create_task(rec.run(), name="bench-recorder")
            try:
                async with asyncio.timeout(30):
                    await sim.wait_clients(1)
                want: set[str] = set()
                got: set[str] = set()

                async def consume_until_all() -> None:
                    async with asyncio.timeout(120):
                        while not want <= got:
                            _take(live, await out.get(), got)

                for n, i in enumerate(range(0, trades, batch)):
                    if n == drop_after:
                        reconnects = feed.stats.reconnects
                        sim.faults.drop_connections()
                        want |= set(await sim.emit_trades(min(batch, trades - i)))
                        async with asyncio.timeout(30):
                            while feed.stats.reconnects == reconnects:
                                _take(live, await out.get(), got)
                            await sim.wait_clients(1)
                        await consume_until_all()
                        continue
                    want |= set(await sim.emit_trades(min(batch, trades - i)))
                    await consume_until_all()
                async with asyncio.timeout(30):
                    await feed.backfill_idle()
            finally:
                for t in (task, recorder):
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
            while not out.empty():  # read before the feed stopped: recorded, so handled
                _take(live, out.get_nowait(), got)
    finally:
        await rec.close()
        await sim.stop()
    return live


def _take(live: LiveRun, event: Event, got: set[str]) -> None:
    live.events += 1
    live.books.apply(event)
    if isinstance(event, Trade):
        live.trade_ids.append(event.trade_id)
        got.add(event.trade_id)


def add_board(world: World) -> Board:
    """The board, ticking each second of event time as the app's board does."""
    board = Board(source="replay", clock=world.clock, aggregator=world.aggregator,
                  analytics=world.analytics, pipeline=world.pipeline, hub=world.hub,
                  meta=world.meta, db=world.db)  # fmt: skip
    world.timers.every(1000, "board-tick", board.tick)
    return board


@dataclass(frozen=True, slots=True)
class ReplayRun:
    events: int
    trades: int
    tail: list[str]  # the ids on the pipeline's tape at the end, oldest first
    frames: int
    drive_s: float
    flush_s: float
    ticks: int
    books: dict[str, tuple[Levels, Levels]]


async def replay_once(path: Path, db_path: Path) -> ReplayRun:
    world = await open_world(db_path, read_header(path)["started_ms"])
    board = add_board(world)
    player = RecordPlayer(path)
    gc.collect()
    gc.freeze()  # as the app does once it is assembled: the collector skips what exists
    t0 = time.perf_counter()
    events = drive(world, player, player.rows())
    drive_s = time.perf_counter() - t0
    gc.unfreeze()
    t1 = time.perf_counter()
    await world.close()
    flush_s = time.perf_counter() - t1
    tail = [p[0].trade_id for p in world.pipeline.recent]
    return ReplayRun(events, world.pipeline.stats.trades, tail, player.stats.frames, drive_s,
                     flush_s, board.ticks, book_levels(world.books))  # fmt: skip


def read_and_dispatch_s(path: Path) -> float:
    """Records read and turned into events, with no pipeline: the driver's own part."""
    player = RecordPlayer(path)
    gc.collect()
    t0 = time.perf_counter()
    for rec in player.rows():  # as the driver reads them
        player.play(rec).clear()
    return time.perf_counter() - t0


def parse_only_s(frames: list[tuple[int, str]]) -> float:
    parse = wire.parse_frame
    gc.collect()
    t0 = time.perf_counter()
    for recv_ms, raw in frames:
        parse(raw, recv_ms)
    return time.perf_counter() - t0


@dataclass(frozen=True, slots=True)
class BenchResult:
    events: int
    frames: int
    events_per_s: float
    frames_per_s: float
    parse_frames_per_s: float
    ratio: float  # frames/s through the driver over frames/s through the parser alone
    read_dispatch_frames_per_s: float  # read the file and dispatch, no pipeline
    flush_s: float
    ticks: int
    books_match_live: bool
    trades_match_live: bool


async def run_replay_bench(
    *, trades: int, books: int, runs: int, workdir: Path, echo: bool = True
) -> BenchResult:
    path = workdir / "night.rec"
    t0 = time.perf_counter()
    live = await record_sim_night(path, trades=trades, books=books)
    if echo:
        print(f"recorded {len(live.trade_ids):,} trades, {live.events:,} events, "
              f"{path.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - t0:.1f} s "
              f"(books on {len(live.followed)} markets)", flush=True)  # fmt: skip
    frames = [(r.recv_ms, r.body) for r in read_recording(path) if r.kind == "ws"]
    drives: list[ReplayRun] = []
    parses: list[float] = []
    reads: list[float] = []
    for i in range(runs):
        drives.append(await replay_once(path, workdir / f"replay-{i}.db"))
        parses.append(parse_only_s(frames))
        reads.append(read_and_dispatch_s(path))
    last = drives[-1]
    drive_s = median([d.drive_s for d in drives])
    parse_s = median(parses)
    frames_per_s = last.frames / drive_s
    parse_rate = len(frames) / parse_s
    live_books = book_levels(live.books)
    return BenchResult(
        events=last.events, frames=last.frames, events_per_s=last.events / drive_s,
        frames_per_s=frames_per_s, parse_frames_per_s=parse_rate,
        ratio=frames_per_s / parse_rate, read_dispatch_frames_per_s=len(frames) / median(reads),
        flush_s=median([d.flush_s for d in drives]),
        ticks=last.ticks, books_match_live=all(d.books == live_books for d in drives),
        trades_match_live=last.trades == len(live.trade_ids)
        and last.tail == live.trade_ids[-len(last.tail):],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--books", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowboard-bench-replay-") as tmp:
        r = asyncio.run(run_replay_bench(trades=args.trades, books=args.books, runs=args.runs,
                                         workdir=Path(tmp)))  # fmt: skip
    print(f"{r.events:,} events from {r.frames:,} frames; {r.ticks} board ticks on event "
          f"time; median of {args.runs} runs")  # fmt: skip
    report("driver: events/s (parser, books, windows, analytics, hub, tick)", r.events_per_s,
           "events/s", f">= {GOALS[0]:,.0f}")  # fmt: skip
    report("driver: frames/s", r.frames_per_s, "frames/s")
    report("parser only (wire.parse_frame), same frames", r.parse_frames_per_s, "frames/s")
    report("  read the file + dispatch, no pipeline", r.read_dispatch_frames_per_s, "frames/s")
    report("driver / parser only", r.ratio * 100, "%", f">= {GOALS[1] * 100:.0f}%")
    report("then SQLite: writing the queued rows", r.flush_s, "s")
    print(f"books at the end as the live run had them: {'yes' if r.books_match_live else 'NO'}")


if __name__ == "__main__":
    main()
