"""The SQLite schema as an ordered list of migrations; ``PRAGMA user_version`` = how many ran.

Append new migrations (paper orders and fills, ...) at the end; never edit one that
has shipped.

Trades live in a rowid table with a UNIQUE index on ``trade_id``: ``INSERT OR IGNORE`` dedupes on
the trade id alone (distinct trades may share ticker, time, price and size), and the rows stay in
arrival order. A key of (ticker, ts, trade_id) inserts faster (bench/bench_sqlite.py) but would
keep both copies of a trade whose WebSocket ``ts_ms`` and REST ``created_time`` differ, so the
random-UUID index is paid for; WAL checkpoints every WAL_CHECKPOINT_PAGES recover part of it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

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
    # 5: strategies: each order's signal and config version (fills carry the version too),
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

SCHEMA_VERSION = len(MIGRATIONS)
WAL_CHECKPOINT_PAGES = 16_384

TRADE_COLUMNS = "trade_id, ticker, yes_price, count, taker_yes, ts_ms, recv_ms"
INSERT_TRADE = f"INSERT OR IGNORE INTO trades ({TRADE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
TRADES_PER_STATEMENT = 1_000  # 7,000 parameters, under SQLite's 32,766


def insert_trades_sql(n: int) -> str:
    """One INSERT of ``n`` rows: its parameters are bound in one call and the rows are written
    in one step, with the GIL released, instead of a GIL hand-off per row (``executemany``)."""
    return INSERT_TRADE + ", (?, ?, ?, ?, ?, ?, ?)" * (n - 1)


UPSERT_MARKET = """
    INSERT OR REPLACE INTO markets (ticker, event_ticker, series_ticker, title, subtitle, status,
        open_ts_ms, close_ts_ms, floor_strike, result, yes_sub_title, no_sub_title, updated_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply the migrations the file lacks, each in its own transaction; returns the version."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise SchemaError(f"database schema version {version} is newer than {SCHEMA_VERSION}")
    for number in range(version + 1, SCHEMA_VERSION + 1):
        # executescript commits first; the BEGIN inside makes the migration atomic
        await conn.executescript(
            f"BEGIN; {MIGRATIONS[number - 1]}; PRAGMA user_version = {number}; COMMIT;"
        )
        log.info("database migrated to schema version %d", number)
    return SCHEMA_VERSION


async def connect(path: str | Path) -> aiosqlite.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=NORMAL."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        # random trade_id index pages are rewritten by many batches: checkpointing every 64 MiB
        # instead of 4 MiB writes each page back once per checkpoint (bench/bench_sqlite.py)
        await conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        await conn.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_PAGES * 4096}")
        await migrate(conn)
    except BaseException:
        await conn.close()
        raise
    return conn
