"""Every query the API issues walks an index and stops early: no full scan of the trades table,
no sort of its rows; a search for rare large trades reads few rows."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.migrate import connect
from storage.schema import LARGE_TRADE_TIERS, large_row_index
from storage.trade_codec import key_floor
from storage.trade_queries import (
    GAPS_QUERY,
    LAST_TRADE_QUERY,
    MARKETS_QUERY,
    TRADES_BETWEEN,
    recent_trades_query,
)

T0 = 1_767_225_600_000
ROWS = 5_000
LARGE_EVERY = 1_000  # one trade in this many is of LARGE (20,000 contracts); the rest are small
LARGE = 2_000_000


def fill(conn: sqlite3.Connection, rows: int = ROWS) -> None:
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 50)"
        " INSERT INTO markets (ticker) SELECT printf('KXT-%03d', i) FROM n"
    )
    conn.execute(
        """
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
        INSERT INTO trade_rows (key, tid, market, yes_price, count, taker_yes, recv_delta)
        SELECT ? + (i << 18), printf('id-%08d', i), 1 + i % 50, 5000,
               CASE WHEN i % ? = 0 THEN ? ELSE 100 + i % 300 END, i % 2, 5
        FROM n
        """,
        (rows, key_floor(T0), LARGE_EVERY, LARGE),
    )
    conn.execute(
        "INSERT INTO feed_gaps (kind, channel, sid, expected_seq, got_seq, ticker, from_ms, ts_ms,"
        " recv_ms) VALUES ('trade_seq', 'trade', 1, 5, 9, NULL, ?, ?, ?)",
        (T0, T0, T0),
    )
    conn.commit()


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    async def create() -> None:
        await (await connect(tmp_path / "plans.db")).close()

    asyncio.run(create())
    c = sqlite3.connect(tmp_path / "plans.db")
    fill(c)
    yield c
    c.close()


def plan(conn: sqlite3.Connection, sql: str, params: list[Any] | tuple[Any, ...]) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, tuple(params))]


def assert_bounded(details: list[str]) -> None:
    """Each step on trades is an index search or an ordered walk of an index or of the table by
    its key (``SCAN t``: trade_rows is keyed by time), never a sort of what it reads; nothing
    else is scanned."""
    for d in details:
        assert not (d.startswith("SCAN") and "INDEX" not in d and d != "SCAN t"), details
        assert "TEMP B-TREE" not in d, details


RECENT_SHAPES: list[dict[str, Any]] = [
    {"limit": 50},
    {"limit": 1000},
    {"limit": 50, "ticker": "KXT-007"},
    {"limit": 50, "ticker": "KXT-007", "before_ms": T0 + 3_000},
    {"limit": 50, "ticker": "KXT-007", "min_count": 50_000},
    {"limit": 50, "before_ms": T0 + 3_000},
    {"limit": 50, "min_count": 500},
    {"limit": 50, "min_count": 5_000, "before_ms": T0 + 3_000},
    *({"limit": 50, "min_count": tier} for tier in LARGE_TRADE_TIERS),
    *({"limit": 50, "min_count": tier * 3} for tier in LARGE_TRADE_TIERS),
    *({"limit": 50, "min_count": tier, "before_ms": T0 + 4_000} for tier in LARGE_TRADE_TIERS),
]


@pytest.mark.parametrize("analyzed", [False, True])
@pytest.mark.parametrize("shape", RECENT_SHAPES, ids=lambda s: ",".join(map(str, s.items())))
def test_recent_trades_plans_walk_an_index(
    conn: sqlite3.Connection, shape: dict[str, Any], analyzed: bool
) -> None:
    if analyzed:
        conn.execute("ANALYZE")
    sql, params = recent_trades_query(**shape)
    details = plan(conn, sql, params)
    assert_bounded(details)
    assert details[0].startswith(("SCAN t", "SEARCH t")), details


@pytest.mark.parametrize("tier", LARGE_TRADE_TIERS)
def test_large_trades_use_their_tier_index(conn: sqlite3.Connection, tier: int) -> None:
    for min_count in (tier, tier + 1, tier * 2):
        sql, params = recent_trades_query(limit=50, min_count=min_count)
        assert large_row_index(tier) in " ".join(plan(conn, sql, params))
        rows = conn.execute(sql, params).fetchall()
        assert rows and all(r[3] >= min_count for r in rows)


def test_other_api_queries_are_searches(conn: sqlite3.Connection) -> None:
    last = plan(conn, LAST_TRADE_QUERY, ())
    assert last == ["SEARCH trade_rows"], last
    between = plan(conn, TRADES_BETWEEN, (0, 1 << 62, 100))
    assert_bounded(between)
    assert between[0].startswith("SEARCH t USING INTEGER PRIMARY KEY"), between
    markets = plan(conn, MARKETS_QUERY.format(marks="?,?"), ("A", "B"))
    assert all(d.startswith("SEARCH markets") for d in markets), markets
    gaps = plan(conn, GAPS_QUERY, (100,))
    assert_bounded(gaps)
    assert any("feed_gaps_ts" in d for d in gaps), gaps


def steps(conn: sqlite3.Connection, sql: str, params: list[Any]) -> int:
    """Virtual-machine instructions (in thousands) the query runs: a measure of rows read."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    conn.set_progress_handler(tick, 1_000)
    try:
        conn.execute(sql, params).fetchall()
    finally:
        conn.set_progress_handler(None, 1_000)
    return count


def test_rare_large_trades_read_few_rows(conn: sqlite3.Connection) -> None:
    full = steps(conn, "SELECT count(*) FROM trade_rows WHERE yes_price > 0", [])
    sql, params = recent_trades_query(limit=5, min_count=LARGE)
    rows = conn.execute(sql, params).fetchall()
    assert len(rows) == 5 and all(r[3] == LARGE for r in rows)
    assert [r[5] for r in rows] == sorted((r[5] for r in rows), reverse=True)
    assert steps(conn, sql, params) * 20 < full
    # the same search without the tier index reads every row
    plain = "SELECT * FROM trade_rows WHERE count >= ? ORDER BY key DESC LIMIT 5"
    assert steps(conn, plain, [LARGE]) * 2 > full


def test_results_match_an_unindexed_query(conn: sqlite3.Connection) -> None:
    for shape in RECENT_SHAPES:
        sql, params = recent_trades_query(**shape)
        where = ["1"]
        args: list[Any] = []
        for key, clause in (("ticker", "ticker = ?"), ("min_count", "count >= ?"),
                            ("before_ms", "ts_ms < ?")):  # fmt: skip
            if key in shape:
                where.append(clause)
                args.append(shape[key])
        expect = conn.execute(
            "SELECT trade_id FROM trades WHERE " + " AND ".join(where)
            + " ORDER BY ts_ms DESC, id DESC LIMIT ?",
            [*args, shape["limit"]],
        ).fetchall()  # fmt: skip
        assert [r[0] for r in conn.execute(sql, params)] == [r[0] for r in expect], shape
