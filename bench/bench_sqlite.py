"""SQLite insert rate of the trade-table layouts, as the table grows; and the raw batched rate.

`python -m bench.bench_sqlite [--rows N] [--window W] [--quick]`

For each layout: a fresh WAL file (synchronous=NORMAL), batches of 1000 rows with
``INSERT OR IGNORE`` + ``executemany`` in one transaction each, random-UUID trade ids; the rate is
measured over ``window`` rows in 3 slices (median printed) when the table holds 0, N/2 and N rows.
Every layout carries the indexes the queries need (time, ticker+time).

``raw_insert_rate`` is the same kind of load through aiosqlite on the real schema
(``database.connect``): the ceiling the end-to-end ingest is compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import median, report, synthetic_trades
from database import TradeRow, insert_trades, trade_row
from storage.schema import INSERT_TRADE, MIGRATIONS, WAL_CHECKPOINT_PAGES, connect

BATCH = 1000
COLUMNS = """
    ticker TEXT NOT NULL, yes_price INTEGER NOT NULL, count INTEGER NOT NULL,
    taker_yes INTEGER NOT NULL, ts_ms INTEGER NOT NULL, recv_ms INTEGER NOT NULL
"""
TIME_INDEXES = """
    CREATE INDEX trades_ts ON trades (ts_ms);
    CREATE INDEX trades_ticker_ts ON trades (ticker, ts_ms);
"""
CHOSEN = MIGRATIONS[0].split("CREATE TABLE markets")[0]
LAYOUTS = {
    "rowid + UNIQUE(trade_id), checkpoint every 1k pages": CHOSEN,
    "rowid + UNIQUE(trade_id), 64 MiB page cache": "PRAGMA cache_size=-65536;" + CHOSEN,
    "rowid + UNIQUE(trade_id), checkpoint every 16k pages [chosen]": (
        f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES};" + CHOSEN
    ),
    "TEXT PRIMARY KEY trade_id (rowid table)": f"""
        CREATE TABLE trades (trade_id TEXT PRIMARY KEY, {COLUMNS}); {TIME_INDEXES}
    """,
    "WITHOUT ROWID, PRIMARY KEY trade_id": f"""
        CREATE TABLE trades (trade_id TEXT PRIMARY KEY, {COLUMNS}) WITHOUT ROWID;
        {TIME_INDEXES}
    """,
    "WITHOUT ROWID, PK (ticker, ts, trade_id) + UNIQUE(trade_id)": f"""
        CREATE TABLE trades (trade_id TEXT NOT NULL, {COLUMNS},
                             PRIMARY KEY (ticker, ts_ms, trade_id)) WITHOUT ROWID;
        CREATE UNIQUE INDEX trades_trade_id ON trades (trade_id);
        CREATE INDEX trades_ts ON trades (ts_ms);
    """,
    # for comparison only: misses duplicates whose time differs between WS and REST
    "rowid + UNIQUE(ticker, ts, trade_id) (not trade_id-only)": f"""
        CREATE TABLE trades (id INTEGER PRIMARY KEY, trade_id TEXT NOT NULL, {COLUMNS});
        CREATE UNIQUE INDEX trades_key ON trades (ticker, ts_ms, trade_id);
        CREATE INDEX trades_ts ON trades (ts_ms);
    """,
}


def _rows(n: int, seed: int, start_ms: int) -> list[TradeRow]:
    return [trade_row(t) for t in synthetic_trades(n, seed=seed, start_ms=start_ms)]


def _insert(conn: sqlite3.Connection, rows: list[TradeRow]) -> None:
    for i in range(0, len(rows), BATCH):
        conn.execute("BEGIN")
        conn.executemany(INSERT_TRADE, rows[i : i + BATCH])
        conn.execute("COMMIT")


def layout_rates(ddl: str, levels: list[int], window: int) -> list[float]:
    """Median rows/s over 3 slices of ``window`` rows at each fill level."""
    rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "t.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(ddl)
            held, seed = 0, 0
            for level in levels:
                while held < level:
                    n = min(100_000, level - held)
                    seed += 1
                    _insert(conn, _rows(n, seed, held // 20))
                    held += n
                slices = []
                for _ in range(3):
                    seed += 1
                    rows = _rows(window // 3, seed, held // 20)
                    started = time.perf_counter()
                    _insert(conn, rows)
                    slices.append(len(rows) / (time.perf_counter() - started))
                    held += len(rows)
                rates.append(median(slices))
        finally:
            conn.close()
    return rates


async def raw_insert_rate(path: str | Path, n: int, batch: int = BATCH) -> float:
    """Rows/s of batched inserts through aiosqlite into the real schema at ``path`` (created if
    needed), one transaction per ``batch`` rows, with the statements the app's writer uses."""
    rows = _rows(n, seed=99, start_ms=0)
    conn = await connect(path)
    try:
        started = time.perf_counter()
        for i in range(0, n, batch):
            await conn.execute("BEGIN IMMEDIATE")
            await insert_trades(conn, rows[i : i + batch])
            await conn.execute("COMMIT")
        return n / (time.perf_counter() - started)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=60_000)
    parser.add_argument("--quick", action="store_true", help="200k rows instead of 1M")
    parser.add_argument("--only", default="", help="run the layouts whose name contains this")
    args = parser.parse_args()
    top = 200_000 if args.quick else args.rows
    levels = [0, top // 2, top]
    print(f"insert rate (rows/s, median of 3 slices of {args.window // 3} rows) at", levels)
    for name, ddl in LAYOUTS.items():
        if args.only not in name:
            continue
        rates = layout_rates(ddl, levels, args.window)
        print(f"  {name:<62}" + "".join(f"{r:>10,.0f}" for r in rates), flush=True)

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
