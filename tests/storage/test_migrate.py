"""Migration 5 on a file of the scripted schema (version 4) with trades, markets and series in it:
every trade comes through exactly once, as it was, in the same order; an interrupted copy
(stopped between chunks, or failing inside one) resumes at the next open and loses nothing."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from clock import ManualClock
from database import Database
from models import MarketInfo, SeriesInfo
from storage.migrate import CopyProgress, connect
from storage.schema import MIGRATIONS, SCHEMA_VERSION, SCRIPTED

T0 = 1_767_225_600_000
ROWS = 500
CHUNK = 40
OLD_ROWS = "SELECT trade_id, ticker, yes_price, count, taker_yes, ts_ms, recv_ms FROM trades"
ORDER = " ORDER BY ts_ms DESC, id DESC"


def old_file(path: Path) -> list[tuple[Any, ...]]:
    """A file at schema 3 with ROWS trades (UUIDs and other ids; several on one millisecond,
    arriving far apart so that they fall in different chunks), two markets, a series; returns
    its trades newest first."""
    conn = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS, start=1):
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {number}")
    rows = []
    for i in range(ROWS):
        tid = str(uuid.UUID(int=i * 7919 + 1)) if i % 3 else f"legacy-{i}"
        ts = T0 + (i * 37) % 200  # out of arrival order; up to three trades a millisecond
        rows.append((tid, f"KXOLD-{i % 9}", 1 + i % 9999, 100 + i, i % 2, ts, ts + i % 50))
    conn.executemany(
        "INSERT INTO trades (trade_id, ticker, yes_price, count, taker_yes, ts_ms, recv_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute(
        "INSERT INTO markets VALUES ('KXOLD-1', 'KXOLDE', 'KXOLD', 'Old one?', 'sub', 'active',"
        " ?, ?, '12.5', NULL, 'Yes', 'No', ?)",
        (T0, T0 + 1000, T0),
    )
    conn.execute(
        "INSERT INTO series VALUES ('KXOLD', 'Old', 'Sports', 'quadratic', 1000000, ?)", (T0,)
    )
    conn.commit()
    newest_first = conn.execute(OLD_ROWS + ORDER).fetchall()
    conn.close()
    return newest_first


def view_rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(OLD_ROWS + ORDER).fetchall()


async def check_migrated(path: Path, expected: list[tuple[Any, ...]]) -> None:
    assert view_rows(path) == expected  # the view reads as the old table did
    db = await Database.open(path, clock=ManualClock(T0))
    try:
        assert db.trades_stored == await db.trade_count() == ROWS
        got = await db.recent_trades(limit=ROWS + 10)
        assert [(t.trade_id, t.ticker, t.yes_price, t.count, int(t.taker_side == "yes"),
                 t.ts_ms, t.recv_ms) for t in got] == expected  # fmt: skip
        assert await db.market("KXOLD-1") == MarketInfo(
            "KXOLD-1", "KXOLDE", "KXOLD", "Old one?", "sub", "active", T0, T0 + 1000, "12.5",
            None, "Yes", "No",
        )  # fmt: skip
        assert await db.market("KXOLD-2") is None  # traded, never described
        assert await db.series(["KXOLD"]) == {
            "KXOLD": SeriesInfo("KXOLD", "Old", "Sports", "quadratic", 1_000_000)
        }
        async with db.conn.execute(
            "SELECT count(*) FROM trade_rows WHERE typeof(tid) = 'blob'"
        ) as cur:
            assert await cur.fetchone() == (sum(1 for r in expected if len(r[0]) == 36),)
        # a trade that was stored before the migration is still a duplicate after it
        again = got[5]
        db.add_trade(again)
        await db.flush()
        assert db.trades_stored == ROWS
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "trades_v3" not in tables and "migration_trades" not in tables


async def test_migrates_a_file_of_todays_schema_with_progress(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    expected = old_file(path)
    seen: list[CopyProgress] = []
    conn = await connect(path, chunk=CHUNK, progress=seen.append, progress_every_s=0)
    await conn.close()
    assert [p.copied for p in seen] == [min(ROWS, CHUNK * k) for k in range(1, len(seen) + 1)]
    assert seen[-1].left == 0 and "500 of 500 copied (100%)" in seen[-1].line()
    assert "of 500 copied" in seen[0].line() and "left" in seen[0].line()
    await check_migrated(path, expected)


class Stop(Exception):
    pass


async def test_an_interrupted_migration_resumes_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    expected = old_file(path)

    def stop_after_three(p: CopyProgress) -> None:
        if p.copied >= 3 * CHUNK:
            raise Stop  # as a Ctrl-C between two chunks

    with pytest.raises(Stop):
        await connect(path, chunk=CHUNK, progress=stop_after_three, progress_every_s=0)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCRIPTED,)
        assert conn.execute("SELECT count(*) FROM trade_rows").fetchone() == (3 * CHUNK,)
        assert conn.execute("SELECT count(*) FROM trades_v3").fetchone() == (ROWS - 3 * CHUNK,)
        # and a chunk that fails half-way (a full disk, a crash) leaves nothing of itself
        conn.executescript(
            """
            CREATE TABLE block (x);
            INSERT INTO block VALUES (1);
            CREATE TRIGGER fail_while_blocked AFTER INSERT ON trade_rows
            WHEN EXISTS (SELECT 1 FROM block) AND NEW.count >= 100 + 4 * 40 + 20
            BEGIN SELECT RAISE(ABORT, 'disk full'); END;
            """
        )
    resumed: list[CopyProgress] = []
    with pytest.raises(sqlite3.Error):
        await connect(path, chunk=CHUNK, progress=resumed.append, progress_every_s=0)
    with sqlite3.connect(path) as conn:
        copied = conn.execute("SELECT count(*) FROM trade_rows").fetchone()[0]
        left = conn.execute("SELECT count(*) FROM trades_v3").fetchone()[0]
        assert (copied, copied + left) == (4 * CHUNK, ROWS)
        assert conn.execute("SELECT value FROM meta").fetchone() == (copied,)
        conn.executescript("DROP TRIGGER fail_while_blocked; DROP TABLE block;")
    conn2 = await connect(path, chunk=CHUNK, progress=resumed.append, progress_every_s=0)
    await conn2.close()
    assert resumed[-1].left == 0 and resumed[-1].copied == ROWS - 4 * CHUNK
    await check_migrated(path, expected)


async def test_a_new_file_gets_the_schema_at_once(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "new.db", clock=ManualClock(T0))
    assert db.trades_stored == 0
    await db.close()
    assert view_rows(tmp_path / "new.db") == []
