"""One transaction per flush; a failed one puts its rows back in front of newer ones."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from clock import ManualClock
from storage.write_batch import BatchStats, Row, WriteBatch, statement


async def test_a_failed_write_keeps_order_and_the_newest_row_per_key(tmp_path: Path) -> None:
    conn = await aiosqlite.connect(tmp_path / "w.db", isolation_level=None)
    try:
        await conn.execute("CREATE TABLE log (n INTEGER)")
        await conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)")
        fail = [True]

        async def log_rows(c: aiosqlite.Connection, rows: list[Row]) -> None:
            await c.executemany("INSERT INTO log (n) VALUES (?)", rows)
            if fail[0]:
                fail[0] = False
                raise OSError("disk went away")

        batch = WriteBatch(
            conn,
            clock=ManualClock(1_000),
            what="test",
            lists=[("log", log_rows)],
            maps=[("kv", statement("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"))],
        )
        batch.lists["log"].extend([(1,), (2,)])
        batch.maps["kv"]["a"] = ("a", 1)
        batch.maps["kv"]["b"] = ("b", 1)
        with pytest.raises(OSError):
            await batch.flush()
        assert len(batch) == 4  # nothing lost, and the transaction left nothing behind
        assert batch.stats == BatchStats(errors=1, pending=4)
        async with conn.execute("SELECT COUNT(*) FROM log") as cur:
            assert (await cur.fetchone()) == (0,)
        batch.lists["log"].append((3,))  # arrived while the write was failing
        batch.maps["kv"]["a"] = ("a", 2)
        assert await batch.flush() == 5
        assert len(batch) == 0 and await batch.flush() == 0
        assert batch.stats == BatchStats(rows_written=5, flushes=1, last_flush_ms=1_000,
                                         pending=0, errors=1, max_batch=5)  # fmt: skip
        async with conn.execute("SELECT n FROM log ORDER BY rowid") as cur:
            assert [r[0] for r in await cur.fetchall()] == [1, 2, 3]
        async with conn.execute("SELECT k, v FROM kv ORDER BY k") as cur:
            assert [tuple(r) for r in await cur.fetchall()] == [("a", 2), ("b", 1)]
    finally:
        await conn.close()


@pytest.mark.parametrize("landed_on", ["BEGIN", "COMMIT"])
async def test_a_cancel_while_the_thread_runs_a_statement(tmp_path: Path, landed_on: str) -> None:
    """The task is cancelled while the connection's thread runs BEGIN (as when a store closes
    while another connection holds the write lock) or COMMIT. No transaction is left open, and
    each row is written exactly once: queued again after a BEGIN, not after a COMMIT."""
    conn = await aiosqlite.connect(tmp_path / "c.db", isolation_level=None)
    try:
        await conn.execute("CREATE TABLE log (n INTEGER)")
        insert = statement("INSERT INTO log (n) VALUES (?)")
        batch = WriteBatch(conn, clock=ManualClock(0), what="test", lists=[("log", insert)])
        real_execute = conn.execute

        async def cancelled_after(sql: str, *args: Any) -> Any:
            result = await real_execute(sql, *args)
            if sql.startswith(landed_on):
                raise asyncio.CancelledError  # the await is cancelled; the thread ran it
            return result

        batch.lists["log"].extend([(1,), (2,)])
        conn.execute = cancelled_after  # type: ignore[method-assign,assignment]
        with pytest.raises(asyncio.CancelledError):
            await batch.flush()
        conn.execute = real_execute  # type: ignore[method-assign]
        assert not conn.in_transaction
        assert len(batch) == (2 if landed_on == "BEGIN" else 0)
        batch.lists["log"].append((3,))
        await batch.flush()
        async with conn.execute("SELECT n FROM log ORDER BY rowid") as cur:
            assert [r[0] for r in await cur.fetchall()] == [1, 2, 3]
    finally:
        await conn.close()
