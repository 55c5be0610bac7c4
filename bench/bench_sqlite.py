"""Trade-table layouts: bytes per trade and insert rate as the table grows; the writer's rate.

`python -m bench.bench_sqlite [--levels 0,1000000,10000000] [--only TEXT]`

Each layout gets a fresh WAL file (synchronous=NORMAL, 64 MiB cache), filled to each level by
SQL (trades 34.56 ms apart, 2.5M a day, over 20,000 markets, random 16-byte or UUID-text ids),
with every index the API's queries need. At each level the insert rate is the median of 3
slices of 20 transactions of 1,000 trades (generated inside SQLite, so the rate is SQLite's
own cost of the layout, dedupe included), and bytes per trade is every page of the trade
tables and indexes over the rows (``dbstat``).

``raw_insert_rate`` is the app's writer (``storage.trade_writer``) through aiosqlite on the real
schema: the ceiling the end-to-end ingest is compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import H0, median, report, synthetic_trades
from bench.fill import COUNT_SQL
from database import trade_row
from storage.migrate import connect
from storage.trade_codec import BUCKET_SHIFT, EPOCH_MS, SEQ_BITS
from storage.trade_writer import TradeWriter

BATCH = 1000
SPACING_US = 34_560  # 2.5M trades a day
UUID_TEXT = (
    "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-' || hex(randomblob(2)) || '-'"
    " || hex(randomblob(2)) || '-' || hex(randomblob(6)))"
)
TS = f"(?3 + i * {SPACING_US} / 1000)"
SERIES = "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)"
SIZE = COUNT_SQL
MARKET = "1 + abs(random()) % (1 + abs(random()) % 20000)"
TIERS = (1_000, 10_000, 100_000, 1_000_000)


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    ddl: str
    insert: str  # one statement adding rows ?1 <= i < ?2 at time base ?3
    tables: tuple[str, ...]


def _partials(table: str, column: str) -> str:
    return "".join(
        f"CREATE INDEX {table}_c{t} ON {table} ({column}) WHERE count >= {t};" for t in TIERS
    )


V3 = Layout(
    "v3: rowid, text id UNIQUE, text ticker, ms times, ts + ticker indexes",
    """CREATE TABLE trades (id INTEGER PRIMARY KEY, trade_id TEXT NOT NULL, ticker TEXT NOT NULL,
         yes_price INTEGER NOT NULL, count INTEGER NOT NULL, taker_yes INTEGER NOT NULL,
         ts_ms INTEGER NOT NULL, recv_ms INTEGER NOT NULL);
       CREATE UNIQUE INDEX trades_trade_id ON trades (trade_id);
       CREATE INDEX trades_ts ON trades (ts_ms);
       CREATE INDEX trades_ticker_ts ON trades (ticker, ts_ms);"""
    + _partials("trades", "ts_ms"),
    f"""{SERIES} INSERT OR IGNORE INTO trades (trade_id, ticker, yes_price, count, taker_yes,
         ts_ms, recv_ms)
       SELECT {UUID_TEXT}, printf('KXBENCHMARK-26JAN01-T%05d', {MARKET}), 1 + abs(random()) % 9999,
              {SIZE}, abs(random()) % 2, {TS}, {TS} + 40 FROM n""",
    ("trades",),
)
COMPACT = """(id INTEGER PRIMARY KEY, tid BLOB NOT NULL, market INTEGER NOT NULL,
         yes_price INTEGER NOT NULL, count INTEGER NOT NULL, taker_yes INTEGER NOT NULL,
         ts_rel INTEGER NOT NULL, recv_delta INTEGER NOT NULL)"""
COMPACT_ROW = f"""SELECT randomblob(16), {MARKET}, 1 + abs(random()) % 9999, {SIZE},
              abs(random()) % 2, {TS} - {EPOCH_MS}, 40 FROM n"""
ARRIVAL_UNIQUE = Layout(
    "compact columns, rowid in arrival order, blob id UNIQUE, ts + market indexes",
    f"""CREATE TABLE t {COMPACT}; CREATE UNIQUE INDEX t_tid ON t (tid);
       CREATE INDEX t_ts ON t (ts_rel); CREATE INDEX t_market ON t (market, ts_rel);"""
    + _partials("t", "ts_rel"),
    f"""{SERIES} INSERT OR IGNORE INTO t (tid, market, yes_price, count, taker_yes, ts_rel,
         recv_delta) {COMPACT_ROW}""",
    ("t",),
)
ARRIVAL_BUCKET = Layout(
    "compact columns, rowid in arrival order, UNIQUE(hour, blob id), ts + market indexes",
    f"""CREATE TABLE t {COMPACT}; CREATE UNIQUE INDEX t_tid ON t (ts_rel >> 22, tid);
       CREATE INDEX t_ts ON t (ts_rel); CREATE INDEX t_market ON t (market, ts_rel);"""
    + _partials("t", "ts_rel"),
    ARRIVAL_UNIQUE.insert,
    ("t",),
)
KEYED = """CREATE TABLE trade_rows (key INTEGER PRIMARY KEY, tid BLOB NOT NULL,
         market INTEGER NOT NULL, yes_price INTEGER NOT NULL, count INTEGER NOT NULL,
         taker_yes INTEGER NOT NULL, recv_delta INTEGER NOT NULL);
       CREATE INDEX trade_rows_market ON trade_rows (market);""" + _partials(
    "trade_rows", f"(key >> {BUCKET_SHIFT})"
)
KEY = f"({TS} - {EPOCH_MS}) << {SEQ_BITS}"
KEYED_UNIQUE = Layout(
    "keyed by time, blob id UNIQUE, market index",
    KEYED + "CREATE UNIQUE INDEX trade_rows_tid ON trade_rows (tid);",
    f"""{SERIES} INSERT OR IGNORE INTO trade_rows (key, tid, market, yes_price, count,
         taker_yes, recv_delta)
       SELECT {KEY}, randomblob(16), {MARKET}, 1 + abs(random()) % 9999, {SIZE},
              abs(random()) % 2, 40 FROM n""",
    ("trade_rows",),
)
CHOSEN = Layout(
    "keyed by time, ids of the last hours in recent_ids, market index [chosen]",
    KEYED
    + """CREATE TABLE recent_ids (bucket INTEGER NOT NULL, tid BLOB NOT NULL,
         PRIMARY KEY (bucket, tid)) WITHOUT ROWID;
       CREATE TABLE batch (key INTEGER PRIMARY KEY, tid BLOB);""",
    # the writer's work in SQL: look the ids up in the buckets around them, insert the rows and
    # their ids (the bench's ids are all new, so every row goes in); trimming is retention's
    f"""{SERIES} INSERT INTO batch SELECT {KEY}, randomblob(16) FROM n;
       INSERT INTO trade_rows (key, tid, market, yes_price, count, taker_yes, recv_delta)
       SELECT b.key, b.tid, {MARKET}, 1 + abs(random()) % 9999,
              {SIZE}, abs(random()) % 2, 40 FROM batch b
       WHERE NOT EXISTS (SELECT 1 FROM recent_ids r WHERE r.bucket IN (
           (b.key >> {BUCKET_SHIFT}) - 1, b.key >> {BUCKET_SHIFT}, (b.key >> {BUCKET_SHIFT}) + 1)
           AND r.tid = b.tid);
       INSERT INTO recent_ids SELECT key >> {BUCKET_SHIFT}, tid FROM batch;
       DELETE FROM recent_ids WHERE bucket < (SELECT max(key) >> {BUCKET_SHIFT} FROM batch) - 2;
       DELETE FROM batch;""",
    ("trade_rows", "recent_ids"),
)
LAYOUTS = (V3, ARRIVAL_UNIQUE, ARRIVAL_BUCKET, KEYED_UNIQUE, CHOSEN)


def _run(conn: sqlite3.Connection, layout: Layout, lo: int, hi: int) -> None:
    conn.execute("BEGIN")
    for statement in layout.insert.split(";"):
        if statement.strip():
            conn.execute(statement, (lo, hi, H0) if "?" in statement else ())
    conn.execute("COMMIT")


def _bytes(conn: sqlite3.Connection, layout: Layout) -> int:
    marks = ",".join("?" * len(layout.tables))
    names = [
        r[0]
        for r in conn.execute(
            f"SELECT name FROM sqlite_master WHERE tbl_name IN ({marks})", layout.tables
        )
    ]
    marks = ",".join("?" * len(names))
    row = conn.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})", names)
    return int(row.fetchone()[0] or 0)


def layout_figures(layout: Layout, levels: list[int]) -> list[tuple[float, float]]:
    """(rows/s, bytes per trade) at each fill level."""
    out: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "t.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA wal_autocheckpoint=16384")
            conn.executescript(layout.ddl)
            held = 0
            for level in levels:
                while held < level:
                    step = min(200_000, level - held)
                    _run(conn, layout, held, held + step)
                    held += step
                slices = []
                for _ in range(3):
                    started = time.perf_counter()
                    for _ in range(20):
                        _run(conn, layout, held, held + BATCH)
                        held += BATCH
                    slices.append(20 * BATCH / (time.perf_counter() - started))
                out.append((statistics.median(slices), _bytes(conn, layout) / held))
        finally:
            conn.close()
    return out


async def raw_insert_rate(
    path: str | Path, n: int, batch: int = BATCH, *, start_ms: int = H0, seed: int = 99
) -> float:
    """Rows/s of batched inserts through aiosqlite into the real schema at ``path`` (created if
    needed), one transaction per ``batch`` rows, with the app's trade writer; the trades are
    new ones, 20 a millisecond from ``start_ms``."""
    rows = [trade_row(t) for t in synthetic_trades(n, seed=seed, start_ms=start_ms)]
    conn = await connect(path)
    try:
        async with conn.execute("SELECT max(key) FROM trade_rows") as cur:
            top = await cur.fetchone()
        async with conn.execute("SELECT bucket FROM recent_buckets") as cur:
            loaded = [int(r[0]) for r in await cur.fetchall()]
        writer = TradeWriter(None if top is None else top[0], loaded)
        started = time.perf_counter()
        for i in range(0, n, batch):
            await conn.execute("BEGIN IMMEDIATE")
            await writer.write(conn, rows[i : i + batch])
            await conn.execute("COMMIT")
        return n / (time.perf_counter() - started)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="0,1000000,10000000")
    parser.add_argument("--quick", action="store_true", help="levels 0 and 200k")
    parser.add_argument("--only", default="", help="run the layouts whose name contains this")
    args = parser.parse_args()
    levels = [0, 200_000] if args.quick else [int(x) for x in args.levels.split(",")]
    print(f"insert rate (rows/s) and bytes per trade (indexes included) at {levels} rows")
    for layout in LAYOUTS:
        if args.only not in layout.name:
            continue
        figures = layout_figures(layout, levels)
        cells = "".join(f"{rate:>10,.0f} {size:>6.1f} B" for rate, size in figures)
        print(f"  {layout.name:<80}{cells}", flush=True)

    async def raw() -> list[float]:
        out = []
        for run in range(3):
            with tempfile.TemporaryDirectory() as tmp:
                out.append(await raw_insert_rate(Path(tmp) / f"raw{run}.db", 100_000))
        return out

    report("raw batched insert via aiosqlite, real schema, 100k rows", median(asyncio.run(raw())),
           "rows/s")  # fmt: skip


if __name__ == "__main__":
    main()
