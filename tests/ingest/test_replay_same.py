"""A recording replays the same, every time, and as the live run saw it: the backtest driver
stores the same trades, ends with the same books and builds the same windows."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from aggregator import WINDOWS
from analytics import MODES
from bench.bench_replay import add_board, record_sim_night
from ingest.driver import DriveSummary, World, book_levels, run_recording
from ingest.recording import read_header, read_recording
from models import Event


def stored_rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT trade_id, ticker, yes_price, count, taker_yes, ts_ms, recv_ms FROM trades"
            " ORDER BY id"
        ).fetchall()


def windows_of(world: World) -> dict[str, Any]:
    agg, now = world.aggregator, world.clock.now_ms()
    tickers = sorted({m.ticker for w in WINDOWS for m in agg.hot(w, 1_000)})
    return {
        "hot": {w: agg.hot(w, 50) for w in WINDOWS},
        "markets": {(t, w): agg.market(t, w) for t in tickers for w in WINDOWS},
        "analytics": {mode: world.analytics.view(mode, now) for mode in MODES},
    }


async def replay(path: Path, db: Path) -> tuple[DriveSummary, World, list[int]]:
    worlds: list[World] = []
    ticks: list[int] = []  # the board's tick count as of each event

    def setup(world: World) -> None:
        worlds.append(world)
        board = add_board(world)
        latest = [world.clock.now_ms()]

        def check(event: Event) -> None:
            # the clock is the consumer's: at the latest receipt time handled, never ahead
            latest[0] = max(latest[0], event.recv_ms)
            assert world.clock.now_ms() == latest[0]
            ticks.append(board.ticks)

        world.pipeline.listen("check-clock", check)

    summary = await run_recording(path, db, setup=setup, flush_every=700)
    assert worlds[0].pipeline.stats.listener_errors == 0
    return summary, worlds[0], ticks


async def test_a_recording_replays_identically_and_as_live(tmp_path: Path) -> None:
    rec = tmp_path / "night.rec"
    live = await record_sim_night(rec, trades=3_000, batch=500, books=8, drop_after=3)
    kinds = {r.kind for r in read_recording(rec)}
    assert kinds == {"ws", "backfill"}  # the batch sent while the feed was away came by REST
    assert len(set(live.trade_ids)) == len(live.trade_ids) == 3_000

    first, world1, ticks1 = await replay(rec, tmp_path / "a.db")
    second, world2, ticks2 = await replay(rec, tmp_path / "b.db")

    rows = stored_rows(tmp_path / "a.db")
    assert rows == stored_rows(tmp_path / "b.db")
    assert sorted(r[0] for r in rows) == sorted(live.trade_ids)
    assert first == second  # events, trades, timer runs, end time, books
    assert first.trades == 3_000 and first.skipped_lines == 0 and first.bad_frames == 0
    assert first.books and first.books == book_levels(live.books)  # as live had them
    assert any(yes or no for yes, no in first.books.values())
    assert windows_of(world1) == windows_of(world2)
    assert ticks1 == ticks2  # the board ticked at the same events
    start = read_header(rec)["started_ms"]
    assert ticks1[-1] == first.end_ms // 1000 - start // 1000  # once a second of event time
