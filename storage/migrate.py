"""Open a database file and bring its schema up to date: ``connect`` and ``migrate``.

Migrations 1..4 (and 6 on, ``LATER``) are scripts, each run in one transaction. Migration 5
rewrites the trades into
the compact layout (``storage.schema``, ``storage.trade_codec``): one transaction sets it up
(the old table renamed ``trades_v3``, its indexes dropped), then the old rows are copied in
chunks of ``chunk`` rows by id, each chunk copied and deleted from the old table in one
transaction with the position in ``migration_trades``, so an interrupted copy (a crash, Ctrl-C, a
full disk) loses nothing and resumes where it stopped at the next open; the last transaction
drops the old table and creates the ``trades`` view. Progress goes to the log every few seconds
(or to ``progress``). ``python -m storage.migrate FILE`` runs it ahead of a start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from storage.schema import (
    LATER,
    MIGRATIONS,
    SCHEMA_VERSION,
    SCRIPTED,
    TRADES_REWRITE,
    V4_COPY_DELETE,
    V4_COPY_TICKERS,
    V4_COPY_TRADES,
    V4_FINISH,
    V4_SETUP,
    WAL_CHECKPOINT_PAGES,
    SchemaError,
)
from storage.trade_codec import compact_id

log = logging.getLogger(__name__)

COPY_CHUNK = 50_000
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class CopyProgress:
    copied: int  # rows copied by this run
    left: int  # rows of the old table still to copy (by id span: an estimate, never below)
    elapsed_s: float

    def line(self) -> str:
        total = self.copied + self.left
        share = 100 * self.copied / total if total else 100.0
        rate = self.copied / self.elapsed_s if self.elapsed_s > 0 else 0.0
        eta = f", about {self.left / rate:.0f} s left" if rate > 0 and self.left else ""
        return (
            f"migrating trades to schema 5: {self.copied:,} of {total:,} copied ({share:.0f}%),"
            f" {rate:,.0f} rows/s{eta}"
        )


Progress = Callable[[CopyProgress], None]


def _log_progress(p: CopyProgress) -> None:
    log.info("%s", p.line())


async def _version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _has_table(conn: aiosqlite.Connection, name: str) -> bool:
    async with conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ) as cur:
        return await cur.fetchone() is not None


async def migrate(
    conn: aiosqlite.Connection,
    *,
    chunk: int = COPY_CHUNK,
    progress: Progress | None = None,
    progress_every_s: float = PROGRESS_EVERY_S,
) -> int:
    """Apply the migrations the file lacks; returns the version."""
    version = await _version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaError(f"database schema version {version} is newer than {SCHEMA_VERSION}")
    for number in range(version + 1, SCHEMA_VERSION + 1):
        if number == TRADES_REWRITE:
            await _migrate_trades(conn, chunk, progress or _log_progress, progress_every_s)
        else:
            script = (
                MIGRATIONS[number - 1] if number <= SCRIPTED else LATER[number - 1 - TRADES_REWRITE]
            )
            # executescript commits first; the BEGIN inside makes the migration atomic
            await conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        log.info("database migrated to schema version %d", number)
    return SCHEMA_VERSION


async def _migrate_trades(
    conn: aiosqlite.Connection, chunk: int, progress: Progress, every_s: float
) -> None:
    await conn.create_function("compact_id", 1, compact_id, deterministic=True)
    if not await _has_table(conn, "migration_trades"):
        await conn.executescript(f"BEGIN; {V4_SETUP}; COMMIT;")
    else:
        log.info("resuming the migration to schema version 4")
    async with conn.execute("SELECT next_id, last_id FROM migration_trades") as cur:
        row = await cur.fetchone()
    assert row is not None
    next_id, last_id = int(row[0]), int(row[1])
    started = time.monotonic()
    shown = started
    copied = 0
    while next_id <= last_id:
        end = min(next_id + chunk, last_id + 1)
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await conn.execute(V4_COPY_TICKERS, (next_id, end))
            cur = await conn.execute(V4_COPY_TRADES, (next_id, end))
            n = cur.rowcount
            await cur.close()
            await conn.execute(V4_COPY_DELETE, (next_id, end))
            await conn.execute("UPDATE migration_trades SET next_id = ?", (end,))
            await conn.execute("UPDATE meta SET value = value + ? WHERE name = 'trades'", (n,))
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        next_id = end
        copied += n
        now = time.monotonic()
        if now - shown >= every_s or next_id > last_id:
            shown = now
            progress(CopyProgress(copied, max(0, last_id + 1 - next_id), now - started))
    await conn.executescript(f"BEGIN; {V4_FINISH}; PRAGMA user_version = {TRADES_REWRITE}; COMMIT;")


async def connect(
    path: str | Path,
    *,
    chunk: int = COPY_CHUNK,
    progress: Progress | None = None,
    progress_every_s: float = PROGRESS_EVERY_S,
) -> aiosqlite.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=NORMAL,
    the schema brought up to date."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        # the rows of the newest hour and the recent ids stay in memory (64 MiB)
        await conn.execute("PRAGMA cache_size=-65536")
        # checkpointing every 64 MiB instead of 4 MiB writes each busy page back once per
        # checkpoint, not once per 4 MiB (bench/bench_sqlite.py)
        await conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        await conn.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_PAGES * 4096}")
        await migrate(conn, chunk=chunk, progress=progress, progress_every_s=progress_every_s)
    except BaseException:
        await conn.close()
        raise
    return conn


def main() -> None:
    parser = argparse.ArgumentParser(description="Bring a Flowboard database up to date.")
    parser.add_argument("db", type=Path)
    parser.add_argument("--chunk", type=int, default=COPY_CHUNK, help="rows per transaction")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    async def run() -> None:
        conn = await connect(args.db, chunk=args.chunk, progress=lambda p: print(p.line()))
        await conn.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
