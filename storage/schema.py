"""The SQLite schema as an ordered list of migrations; ``PRAGMA user_version`` = how many ran.

Append new migrations (paper orders and fills, ...) at the end; never edit one that
has shipped.

Since migration 5 the trades live in ``trade_rows``, keyed by time (``storage.trade_codec``):
the rowid is the exchange time and an arrival seq, so the table is its own time index, the
newest rows are always at its end and retention deletes its first pages. A row holds a market
id (``markets.id``), the 16 bytes of a UUID id, and ``recv_ms`` as a delta: ~43 bytes, and
~75 with its indexes, against ~225 before (``bench/bench_sqlite.py``). The index on ``market``
and the partial indexes of the large-trade tiers end with the key, so they are walked in time
order. There is no unique index over every ``trade_id`` (it slowed every insert as the table
grew): ``storage.trade_writer`` dedupes against the ids of the recent hours in
``recent_ids``. The ``trades`` view shows the rows as they came, with the old column names.
"""

from __future__ import annotations

from pathlib import Path

from storage.trade_codec import BUCKET_SHIFT, EPOCH_MS, SEQ_BITS, readable_id_sql

LARGE_TRADE_TIERS: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)
"""Counts (hundredths: 10, 100, 1,000, 10,000 contracts) with a partial time index of the trades
at least that large. A ``min_count`` query walks the index of the largest tier under it, newest
first: within a tier a match is common, so it stops after ``limit`` matches. Never edit: each
tier names an index that migration 3 made."""


def large_trade_tier(min_count: int) -> int | None:
    """The largest tier at most ``min_count``, or None below the first tier."""
    found = [t for t in LARGE_TRADE_TIERS if t <= min_count]
    return found[-1] if found else None


def large_trade_index(tier: int) -> str:
    """The name of the partial time index of the trades of at least ``tier``."""
    return f"trades_ts_count_{tier}"


PAPER_MIGRATION = """
    CREATE TABLE paper_orders (
        order_id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        ticker TEXT NOT NULL,
        side TEXT NOT NULL,           -- yes | no
        action TEXT NOT NULL,         -- buy | sell
        price INTEGER NOT NULL,       -- centicents of the side
        count INTEGER NOT NULL,       -- hundredths
        remaining INTEGER NOT NULL,
        filled INTEGER NOT NULL,
        status TEXT NOT NULL,         -- the order's last change: accepted | resting | ...
        reason TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE INDEX paper_orders_status ON paper_orders (status, order_id);
    CREATE INDEX paper_orders_account ON paper_orders (account, order_id);
    CREATE TABLE paper_fills (
        fill_id INTEGER PRIMARY KEY,
        order_id INTEGER NOT NULL,
        account TEXT NOT NULL,
        ticker TEXT NOT NULL,
        side TEXT NOT NULL,
        action TEXT NOT NULL,
        count INTEGER NOT NULL,       -- hundredths
        cost INTEGER NOT NULL,        -- micro-dollars paid (buy) or received (sell), before fee
        fee INTEGER NOT NULL,         -- micro-dollars
        maker INTEGER NOT NULL,       -- 1 maker, 0 taker
        expected_price INTEGER NOT NULL,  -- centicents the book offered at decision time
        legs TEXT NOT NULL,           -- [[price, count], ...] the levels it took
        ts_ms INTEGER NOT NULL
    );
    CREATE INDEX paper_fills_account ON paper_fills (account, fill_id);
    CREATE INDEX paper_fills_ticker ON paper_fills (ticker, fill_id);
    CREATE TABLE paper_positions (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        ticker TEXT NOT NULL,
        net INTEGER NOT NULL,         -- hundredths, + YES / - NO
        cost INTEGER NOT NULL,
        realised INTEGER NOT NULL,
        cash INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL
    );
    CREATE INDEX paper_positions_account ON paper_positions (account, ticker, id);
    CREATE TABLE paper_settlements (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        ticker TEXT NOT NULL,
        yes_value INTEGER NOT NULL,
        net INTEGER NOT NULL,
        payout INTEGER NOT NULL,
        pnl INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL
    );
    CREATE INDEX paper_settlements_account ON paper_settlements (account, id);
    CREATE TABLE paper_risk_events (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        ticker TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        ts_ms INTEGER NOT NULL
    );
    CREATE TABLE paper_equity (
        account TEXT NOT NULL,
        ts_ms INTEGER NOT NULL,
        cash INTEGER NOT NULL,
        equity_mid INTEGER NOT NULL,
        equity_exit INTEGER NOT NULL,
        at_risk INTEGER NOT NULL,
        PRIMARY KEY (account, ts_ms)
    ) WITHOUT ROWID;
    CREATE TABLE paper_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        ts_ms INTEGER NOT NULL,
        body TEXT NOT NULL            -- the desk's snapshot, JSON
    );
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: trades, market metadata, series, feed gaps and their recoveries
    """
    CREATE TABLE trades (
        id INTEGER PRIMARY KEY,
        trade_id TEXT NOT NULL,
        ticker TEXT NOT NULL,
        yes_price INTEGER NOT NULL,   -- centicents
        count INTEGER NOT NULL,       -- hundredths of a contract
        taker_yes INTEGER NOT NULL,   -- 1 = taker bought YES, 0 = taker bought NO
        ts_ms INTEGER NOT NULL,
        recv_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX trades_trade_id ON trades (trade_id);
    CREATE INDEX trades_ts ON trades (ts_ms);
    CREATE INDEX trades_ticker_ts ON trades (ticker, ts_ms);

    CREATE TABLE markets (
        ticker TEXT PRIMARY KEY,
        event_ticker TEXT NOT NULL,
        series_ticker TEXT NOT NULL,
        title TEXT NOT NULL,
        subtitle TEXT NOT NULL,
        status TEXT NOT NULL,
        open_ts_ms INTEGER,
        close_ts_ms INTEGER,
        floor_strike TEXT,
        result TEXT,
        yes_sub_title TEXT NOT NULL,
        no_sub_title TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );

    CREATE TABLE series (
        ticker TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        category TEXT NOT NULL,
        fee_type TEXT NOT NULL,
        fee_multiplier_ppm INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );

    CREATE TABLE feed_gaps (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        sid INTEGER,
        expected_seq INTEGER,
        got_seq INTEGER,
        ticker TEXT,
        from_ms INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        recv_ms INTEGER NOT NULL
    );
    CREATE INDEX feed_gaps_match ON feed_gaps (kind, from_ms);

    CREATE TABLE gap_recoveries (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        from_ms INTEGER NOT NULL,
        to_ms INTEGER NOT NULL,
        trades_recovered INTEGER NOT NULL,
        ticker TEXT,
        ts_ms INTEGER NOT NULL,
        recv_ms INTEGER NOT NULL
    );
    CREATE INDEX gap_recoveries_match ON gap_recoveries (kind, from_ms);
    """,
    # 2: NBA games (latest state), their score timeline, sportsbook odds, Kalshi event matches
    """
    CREATE TABLE nba_games (
        game_id INTEGER PRIMARY KEY,  -- balldontlie game id
        date TEXT NOT NULL,           -- US date, YYYY-MM-DD
        home TEXT NOT NULL,
        away TEXT NOT NULL,
        home_score INTEGER NOT NULL,
        away_score INTEGER NOT NULL,
        status TEXT NOT NULL,         -- scheduled | live | halftime | final
        period INTEGER NOT NULL,
        seconds_left INTEGER NOT NULL,
        start_ms INTEGER,
        ts_ms INTEGER NOT NULL,
        recv_ms INTEGER NOT NULL
    );
    CREATE INDEX nba_games_date ON nba_games (date);

    -- one row per distinct state of a game: a state seen again is not stored twice
    CREATE TABLE nba_scores (
        id INTEGER PRIMARY KEY,
        game_id INTEGER NOT NULL,
        home_score INTEGER NOT NULL,
        away_score INTEGER NOT NULL,
        status TEXT NOT NULL,
        period INTEGER NOT NULL,
        seconds_left INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX nba_scores_state
        ON nba_scores (game_id, period, seconds_left, home_score, away_score, status);

    -- one row per change of a (game, vendor, market) quote
    CREATE TABLE nba_odds (
        id INTEGER PRIMARY KEY,
        game_id INTEGER NOT NULL,
        vendor TEXT NOT NULL,
        market TEXT NOT NULL,         -- moneyline | spread | total
        home_odds INTEGER,            -- American odds
        away_odds INTEGER,
        line_tenths INTEGER,          -- home spread / total points, tenths of a point
        over_odds INTEGER,
        under_odds INTEGER,
        ts_ms INTEGER NOT NULL,
        recv_ms INTEGER NOT NULL
    );
    CREATE INDEX nba_odds_game_ts ON nba_odds (game_id, ts_ms);

    -- Kalshi NBA events and the balldontlie game each was matched to (NULL: unmatched)
    CREATE TABLE nba_matches (
        event_ticker TEXT PRIMARY KEY,
        series_ticker TEXT NOT NULL,
        game_id INTEGER,
        reason TEXT,                  -- why it is unmatched
        updated_ms INTEGER NOT NULL
    );
    CREATE INDEX nba_matches_game ON nba_matches (game_id);
    """,
    # 3: every API query bounded at month scale: newest gaps by time; the newest large trades
    # through a partial time index per size tier (LARGE_TRADE_TIERS), so a rare size is found
    # without walking every trade. On an existing file this reads the trades table once.
    """
    CREATE INDEX feed_gaps_ts ON feed_gaps (ts_ms);
    """
    + "".join(
        f"CREATE INDEX {large_trade_index(tier)} ON trades (ts_ms) WHERE count >= {tier};\n"
        for tier in LARGE_TRADE_TIERS
    ),
    # 4: the paper desk: orders as they stand, fills, position changes, settlements, risk
    # events, equity points, and the desk's last snapshot (a restart resumes from it)
    PAPER_MIGRATION,
)

TRADES_REWRITE = 5
"""The one migration that is not a script: it copies the trades into the compact layout in
resumable chunks (``storage.migrate``). Scripts before it run first; scripts after it (6, ...)
are appended to ``LATER`` and run after it."""
SCRIPTED = len(MIGRATIONS)  # migrations 1..4: scripts
LATER: tuple[str, ...] = (  # migrations TRADES_REWRITE + 1, ...: scripts again
    # 6: strategies: each order's signal and config version (fills carry the version too),
    # and every version of every strategy's config, with whether it was enabled
    """
    ALTER TABLE paper_orders ADD COLUMN signal TEXT NOT NULL DEFAULT '';
    ALTER TABLE paper_orders ADD COLUMN version INTEGER;
    ALTER TABLE paper_fills ADD COLUMN version INTEGER;
    CREATE TABLE strategy_versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        enabled INTEGER NOT NULL,
        config TEXT NOT NULL,         -- the config's fields as JSON
        note TEXT NOT NULL,           -- what changed ("defaults", "PATCH", "disabled after ...")
        ts_ms INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    );
    """,
)
SCHEMA_VERSION = TRADES_REWRITE + len(LATER)
WAL_CHECKPOINT_PAGES = 16_384

TIERS_V4 = LARGE_TRADE_TIERS


def large_row_index(tier: int) -> str:
    """The name of the partial key index of the stored trades of at least ``tier``."""
    return f"trade_rows_count_{tier}"


# 5: compact trades keyed by time (``storage.trade_codec``); market ids; recent ids for dedupe.
# V4_SETUP runs in one transaction on a file at version 4: the old trades table is kept as
# ``trades_v3`` without its indexes (what they took is reused by the new table) and copied in
# chunks by ``storage.migrate``, each chunk deleted from it in the transaction that copies it;
# V4_FINISH drops it and puts the ``trades`` view in its place.
MARKET_COLUMNS = (
    "ticker, event_ticker, series_ticker, title, subtitle, status, open_ts_ms, close_ts_ms,"
    " floor_strike, result, yes_sub_title, no_sub_title, price_level_structure, price_ranges,"
    " fractional_trading_enabled, updated_ms"
)
V4_SETUP = (
    """
    ALTER TABLE trades RENAME TO trades_v3;
    DROP INDEX trades_trade_id;
    DROP INDEX trades_ts;
    DROP INDEX trades_ticker_ts;
    """
    + "".join(f"DROP INDEX {large_trade_index(tier)};\n" for tier in LARGE_TRADE_TIERS)
    + f"""
    ALTER TABLE markets RENAME TO markets_v3;
    -- a row per ticker ever stored; the details are NULL (updated_ms too) until they are known
    CREATE TABLE markets (
        id INTEGER PRIMARY KEY,
        ticker TEXT NOT NULL UNIQUE,
        event_ticker TEXT,
        series_ticker TEXT,
        title TEXT,
        subtitle TEXT,
        status TEXT,
        open_ts_ms INTEGER,
        close_ts_ms INTEGER,
        floor_strike TEXT,
        result TEXT,
        yes_sub_title TEXT,
        no_sub_title TEXT,
        price_level_structure TEXT,
        price_ranges TEXT,            -- JSON [[start, end, step], ...] in centicents
        fractional_trading_enabled INTEGER,
        updated_ms INTEGER
    );
    INSERT INTO markets ({MARKET_COLUMNS})
        SELECT ticker, event_ticker, series_ticker, title, subtitle, status, open_ts_ms,
               close_ts_ms, floor_strike, result, yes_sub_title, no_sub_title, '', '[]', 0,
               updated_ms
        FROM markets_v3 ORDER BY ticker;
    DROP TABLE markets_v3;

    CREATE TABLE trade_rows (
        key INTEGER PRIMARY KEY,      -- (ts_ms - EPOCH_MS) << 18 | seq (storage.trade_codec)
        tid BLOB NOT NULL,            -- trade_id: 16 bytes if a lowercase UUID, else its text
        market INTEGER NOT NULL,      -- markets.id
        yes_price INTEGER NOT NULL,   -- centicents
        count INTEGER NOT NULL,       -- hundredths of a contract
        taker_yes INTEGER NOT NULL,   -- 1 = taker bought YES, 0 = taker bought NO
        recv_delta INTEGER NOT NULL   -- recv_ms - ts_ms
    );
    -- (market, key) and (bucket, key) in effect: every index entry ends with the key, so an
    -- index on (market, key) would hold the key twice
    CREATE INDEX trade_rows_market ON trade_rows (market);
    """
    + "".join(
        f"CREATE INDEX {large_row_index(tier)} ON trade_rows ((key >> {BUCKET_SHIFT}))"
        f" WHERE count >= {tier};\n"
        for tier in TIERS_V4
    )
    + """
    -- the ids of the trades in the dedupe buckets listed in recent_buckets (the last few hours,
    -- and any older bucket a late trade needed), all of each such bucket's trades
    CREATE TABLE recent_ids (
        bucket INTEGER NOT NULL,
        tid BLOB NOT NULL,
        PRIMARY KEY (bucket, tid)
    ) WITHOUT ROWID;
    CREATE TABLE recent_buckets (bucket INTEGER PRIMARY KEY);

    -- counters kept in the transactions that change them: 'trades' = rows in trade_rows
    CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta VALUES ('trades', 0);

    -- the copy in progress: rows of trades_v3 with id < next_id are in trade_rows
    CREATE TABLE migration_trades (next_id INTEGER NOT NULL, last_id INTEGER NOT NULL);
    INSERT INTO migration_trades SELECT coalesce(min(id), 1), coalesce(max(id), 0) FROM trades_v3;
    """
)
V4_COPY_TICKERS = (
    "INSERT OR IGNORE INTO markets (ticker)"
    " SELECT DISTINCT ticker FROM trades_v3 WHERE id >= ? AND id < ?"
)
# keys in (ts_ms, id) order: after the ones a millisecond already has (copied in an earlier
# chunk), numbered by old id; the SELECT reads trade_rows, so SQLite runs it before inserting
V4_COPY_TRADES = f"""
    INSERT INTO trade_rows (key, tid, market, yes_price, count, taker_yes, recv_delta)
    SELECT ((o.ts_ms - {EPOCH_MS}) << {SEQ_BITS})
           + coalesce((SELECT max(r.key) FROM trade_rows r
                       WHERE r.key >= (o.ts_ms - {EPOCH_MS}) << {SEQ_BITS}
                         AND r.key < (o.ts_ms - {EPOCH_MS} + 1) << {SEQ_BITS})
                      - ((o.ts_ms - {EPOCH_MS}) << {SEQ_BITS}) + 1, 0)
           + row_number() OVER (PARTITION BY o.ts_ms ORDER BY o.id) - 1,
           compact_id(o.trade_id), m.id, o.yes_price, o.count, o.taker_yes, o.recv_ms - o.ts_ms
    FROM trades_v3 o JOIN markets m ON m.ticker = o.ticker
    WHERE o.id >= ? AND o.id < ?
"""
V4_COPY_DELETE = "DELETE FROM trades_v3 WHERE id >= ? AND id < ?"
V4_FINISH = f"""
    DROP TABLE trades_v3;
    DROP TABLE migration_trades;
    -- the trades as they came, for people querying the file (and the old column names)
    CREATE VIEW trades (id, trade_id, ticker, yes_price, count, taker_yes, ts_ms, recv_ms) AS
        SELECT t.key, {readable_id_sql("t.tid")}, m.ticker, t.yes_price, t.count, t.taker_yes,
               (t.key >> {SEQ_BITS}) + {EPOCH_MS}, (t.key >> {SEQ_BITS}) + {EPOCH_MS} + t.recv_delta
        FROM trade_rows t JOIN markets m ON m.id = t.market;
"""

TRADES_PER_STATEMENT = 1_000  # 7,000 parameters, under SQLite's 32,766
INSERT_ROWS = (
    "INSERT INTO trade_rows (key, tid, market, yes_price, count, taker_yes, recv_delta) VALUES "
)
INSERT_RECENT = "INSERT OR IGNORE INTO recent_ids (bucket, tid) VALUES "


def values_sql(head: str, rows: int, width: int) -> str:
    """``head`` followed by ``rows`` groups of ``width`` parameters: one statement binds them in
    one call and writes the rows in one step, with the GIL released, instead of a GIL hand-off
    per row (``executemany``)."""
    group = "(" + ", ".join("?" * width) + ")"
    return head + ", ".join([group] * rows)


UPSERT_MARKET = f"""
    INSERT INTO markets ({MARKET_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (ticker) DO UPDATE SET
        event_ticker = excluded.event_ticker, series_ticker = excluded.series_ticker,
        title = excluded.title, subtitle = excluded.subtitle, status = excluded.status,
        open_ts_ms = excluded.open_ts_ms, close_ts_ms = excluded.close_ts_ms,
        floor_strike = excluded.floor_strike, result = excluded.result,
        yes_sub_title = excluded.yes_sub_title, no_sub_title = excluded.no_sub_title,
        price_level_structure = excluded.price_level_structure,
        price_ranges = excluded.price_ranges,
        fractional_trading_enabled = excluded.fractional_trading_enabled,
        updated_ms = excluded.updated_ms
"""
UPSERT_SERIES = """
    INSERT OR REPLACE INTO series (ticker, title, category, fee_type, fee_multiplier_ppm,
        updated_ms)
    VALUES (?, ?, ?, ?, ?, ?)
"""
INSERT_GAP = """
    INSERT INTO feed_gaps (kind, channel, sid, expected_seq, got_seq, ticker, from_ms, ts_ms,
        recv_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_RECOVERY = """
    INSERT INTO gap_recoveries (kind, from_ms, to_ms, trades_recovered, ticker, ts_ms, recv_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?)
"""


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class SchemaError(RuntimeError):
    """The file was written by a newer Flowboard (its schema version is unknown here)."""
