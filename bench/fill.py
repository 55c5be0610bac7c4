"""Files of many trades written inside SQLite (a recursive CTE), not row by row from Python.

``fill_trades`` writes ``rows`` trades, one every ``spacing_ms`` from ``start_ms`` (distinct
milliseconds, so each key's seq is 0), over ``markets`` markets with a skew (low ids trade more,
as a few hot markets do), random 16-byte ids (as Kalshi's UUIDs are stored), sizes spread over
the large-trade tiers (about 45% of at least 10 contracts, 12% of 100, 2.5% of 1,000, 0.5% of
10,000), then the recent ids of the newest dedupe buckets and the trade count, as the app's
writer leaves them. The indexes are dropped first and built again after (one sort each instead
of an insert per row in a random place); ``fast=True`` also writes without the journal.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.retention import RECENT_KEEP
from storage.schema import TIERS_V4, large_row_index
from storage.trade_codec import BUCKET_SHIFT, EPOCH_MS, SEQ_BITS

MARKETS_SQL = """
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
    INSERT OR IGNORE INTO markets (id, ticker, event_ticker, series_ticker, title, subtitle,
        status, yes_sub_title, no_sub_title, price_level_structure, price_ranges,
        fractional_trading_enabled, updated_ms)
    SELECT i, printf('KXBENCH-%05d', i), printf('KXBENCH-E%04d', i / 10), 'KXBENCH',
           printf('Bench market %d?', i), '', 'active', 'Yes', 'No', 'linear_cent',
           '[[0,10000,100]]', 0, ?
    FROM n
"""
# sizes (hundredths) spread over the large-trade tiers: 45% at least 10 contracts, 12% 100,
# 2.5% 1,000, 0.5% 10,000
COUNT_SQL = """CASE abs(random()) % 200
               WHEN 0 THEN 1000000 + abs(random()) % 9000000
               WHEN 1 THEN 100000 + abs(random()) % 900000
               WHEN 2 THEN 100000 + abs(random()) % 900000
               WHEN 3 THEN 100000 + abs(random()) % 900000
               ELSE CASE abs(random()) % 100 / 12
                   WHEN 0 THEN 10000 + abs(random()) % 90000
                   WHEN 1 THEN 1000 + abs(random()) % 9000
                   WHEN 2 THEN 1000 + abs(random()) % 9000
                   WHEN 3 THEN 1000 + abs(random()) % 9000
                   ELSE 1 + abs(random()) % 999 END
           END"""
TRADES_SQL = f"""
    WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
    INSERT INTO trade_rows (key, tid, market, yes_price, count, taker_yes, recv_delta)
    SELECT (?3 + i * ?4 / 1000 - {EPOCH_MS}) << {SEQ_BITS}, randomblob(16),
           1 + abs(random()) % (1 + abs(random()) % ?5), 1 + abs(random()) % 9999,
           {COUNT_SQL},
           abs(random()) % 2, 5 + abs(random()) % 200
    FROM n
"""
INDEXES = [
    ("trade_rows_market", "CREATE INDEX trade_rows_market ON trade_rows (market)"),
    *(
        (
            large_row_index(tier),
            f"CREATE INDEX {large_row_index(tier)} ON trade_rows ((key >> {BUCKET_SHIFT}))"
            f" WHERE count >= {tier}",
        )
        for tier in TIERS_V4
    ),
]


def fill_trades(
    path: Path,
    rows: int,
    *,
    start_ms: int,
    spacing_us: int,
    markets: int = 20_000,
    fast: bool = False,
    keep_indexes: bool = False,
    chunk: int = 5_000_000,
) -> None:
    """Add ``rows`` trades, ``spacing_us`` microseconds apart from ``start_ms``, to a file
    migrated to the current schema (by ``storage.migrate.connect``); with ``keep_indexes``,
    into the indexes as they are (as the app's inserts go), not built again after."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if fast:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("BEGIN")
        conn.execute(MARKETS_SQL, (markets, start_ms))
        for name, _ in [] if keep_indexes else INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.execute("COMMIT")
        for lo in range(0, rows, chunk):
            conn.execute("BEGIN")
            conn.execute(TRADES_SQL, (lo, min(rows, lo + chunk), start_ms, spacing_us, markets))
            conn.execute("COMMIT")
        conn.execute("BEGIN")
        for _, create in [] if keep_indexes else INDEXES:
            conn.execute(create)
        top = conn.execute("SELECT max(key) >> ? FROM trade_rows", (BUCKET_SHIFT,)).fetchone()[0]
        if top is not None:
            first = top - RECENT_KEEP
            conn.execute(
                "INSERT OR IGNORE INTO recent_ids SELECT key >> ?, tid FROM trade_rows"
                " WHERE key >= ?",
                (BUCKET_SHIFT, first << BUCKET_SHIFT),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO recent_buckets VALUES (?)",
                [(b,) for b in range(first, top + 2)],
            )
        conn.execute("UPDATE meta SET value = value + ? WHERE name = 'trades'", (rows,))
        conn.execute("COMMIT")
        if fast:
            conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
