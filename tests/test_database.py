from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from aggregator import WINDOWS, Aggregator
from analytics import Analytics
from clock import ManualClock
from database import Database
from models import FeedGap, GapKind, GapRecovered, MarketInfo, SeriesInfo, Side, Trade
from storage.retention import PRUNE_CHUNK
from storage.schema import SCHEMA_VERSION, SchemaError
from tests.dbs import writing

T0 = 1_767_225_600_000


def trade(i: int, ticker: str = "KXA-1", ts: int = T0, count: int = 100) -> Trade:
    return Trade(f"id-{i:06d}", ticker, 5000 + i % 100, count, Side.YES if i % 2 else Side.NO,
                 ts, ts + 3)  # fmt: skip


async def open_db(path: Path, **kw: int) -> Database:
    kw.setdefault("flush_interval_ms", 60_000)  # the tests flush by hand unless they say so
    return await Database.open(path, clock=ManualClock(T0), **kw)


async def test_migrates_an_empty_file_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "flow.db"
    db = await open_db(path)
    db.add_trade(trade(1))
    await db.flush()
    await db.close()
    async with aiosqlite.connect(path) as conn:
        async with conn.execute("PRAGMA user_version") as cur:
            assert await cur.fetchone() == (SCHEMA_VERSION,)
        async with conn.execute("PRAGMA journal_mode") as cur:
            assert await cur.fetchone() == ("wal",)
    db = await open_db(path)
    assert await db.trade_count() == 1
    await db.close()


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    async with aiosqlite.connect(path) as conn:
        await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaError):
        await open_db(path)


async def test_many_adds_make_one_flush_in_one_transaction(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "f.db")
    statements: list[str] = []
    await db._conn.set_trace_callback(statements.append)
    db.add_trades(trade(i) for i in range(1500))
    db.add_trade(trade(1500))
    assert db.stats.pending == 1501
    assert await db.trade_count() == 0
    assert await db.flush() == 1501
    await db._conn.set_trace_callback(lambda _: None)
    begins = [s for s in statements if s.startswith("BEGIN")]
    commits = [s for s in statements if s == "COMMIT"]
    assert (len(begins), len(commits)) == (1, 1)
    assert (db.stats.flushes, db.stats.max_batch, db.stats.pending) == (1, 1501, 0)
    assert db.stats.last_flush_ms == T0
    assert await db.trade_count() == 1501
    assert await db.flush() == 0
    await db.close()


async def test_writer_flushes_on_row_count_and_on_interval(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "w.db", flush_rows=100)
    async with writing(db):
        waiter = asyncio.ensure_future(db.flushed())
        db.add_trades(trade(i) for i in range(100))
        async with asyncio.timeout(5):
            assert await waiter == 100
    await db.close()
    db = await open_db(tmp_path / "w.db", flush_interval_ms=10)
    async with writing(db):
        waiter = asyncio.ensure_future(db.flushed())
        db.add_trade(trade(500))
        async with asyncio.timeout(5):
            assert await waiter == 1
    assert await db.trade_count() == 101
    assert db.trades_stored == 101
    await db.close()


async def test_dedupe_on_trade_id_only(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "d.db")
    a = trade(1)
    twin = Trade("other-id", a.ticker, a.yes_price, a.count, a.taker_side, a.ts_ms, a.recv_ms)
    db.add_trades([a, a, twin])
    await db.flush()
    db.add_trade(a)
    await db.flush()
    assert await db.trade_count() == 2
    assert {t.trade_id for t in await db.recent_trades()} == {a.trade_id, "other-id"}
    await db.close()


async def test_close_writes_what_is_pending(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "c.db")
    db.add_trades(trade(i) for i in range(10))
    await db.close()
    db = await open_db(tmp_path / "c.db")
    assert await db.trade_count() == 10
    await db.close()


async def test_failed_flush_is_counted_and_retried(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    db = await open_db(path, flush_interval_ms=5)
    async with aiosqlite.connect(path) as other:
        await other.executescript(
            """
            CREATE TABLE block (x);
            INSERT INTO block VALUES (1);
            CREATE TRIGGER fail_while_blocked BEFORE INSERT ON trade_rows
            WHEN EXISTS (SELECT 1 FROM block) BEGIN SELECT RAISE(ABORT, 'blocked'); END;
            """
        )
    db.add_trades(trade(i) for i in range(50))
    with pytest.raises(sqlite3.Error):
        await db.flush()
    assert db.stats.errors >= 1
    assert db.stats.pending == 50
    db.add_trade(trade(50))
    assert db.stats.pending == 51
    async with writing(db):
        waiter = asyncio.ensure_future(db.flushed())
        async with aiosqlite.connect(path) as other:
            await other.execute("DELETE FROM block")
            await other.commit()
        async with asyncio.timeout(5):
            assert await waiter == 51  # the writer task retried on its own
    assert await db.trade_count() == 51
    assert [t.trade_id for t in await db.recent_trades(limit=2)] == ["id-000050", "id-000049"]
    await db.close()


async def test_recent_trades_filters_and_order(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "q.db")
    db.add_trades(
        [
            trade(1, "A", T0 + 10, count=100),
            trade(2, "B", T0 + 20, count=500),
            trade(3, "A", T0 + 30, count=900),
            trade(4, "A", T0 + 30, count=50),  # same time: arrival order decides
        ]
    )
    await db.flush()
    ids = [t.trade_id for t in await db.recent_trades()]
    assert ids == ["id-000004", "id-000003", "id-000002", "id-000001"]
    assert [t.count for t in await db.recent_trades(ticker="A", min_count=100)] == [900, 100]
    assert [t.trade_id for t in await db.recent_trades(before_ms=T0 + 30, limit=1)] == ["id-000002"]
    first = (await db.recent_trades(ticker="B"))[0]
    assert first == trade(2, "B", T0 + 20, count=500)
    assert await db.last_trade_ms() == T0 + 30
    await db.close()


async def test_trades_between_pages_oldest_first(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "p.db")
    trades = [trade(i, ts=T0 + i // 3) for i in range(100)]  # three trades per millisecond
    db.add_trades(reversed(trades[50:]))
    db.add_trades(trades[:50])
    await db.flush()
    got: list[Trade] = []
    async for batch in db.trades_between(T0 + 2, T0 + 30, batch=7):
        assert len(batch) <= 7
        got.extend(batch)
    expected = [t for t in trades if T0 + 2 <= t.ts_ms < T0 + 30]
    assert sorted(got, key=lambda t: t.trade_id) == expected
    assert [t.ts_ms for t in got] == sorted(t.ts_ms for t in got)
    assert await db.last_trade_ms() == T0 + 33
    await db.close()


async def test_prune_deletes_old_trades_in_chunks(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "x.db")
    old = PRUNE_CHUNK * 2 + 7
    db.add_trades(trade(i, ts=T0 - 10_000 + i % 5) for i in range(old))
    db.add_trades(trade(old + i, ts=T0 + i) for i in range(5))
    await db.flush()
    size = await db.size_bytes()
    assert size > 0
    assert await db.prune(T0) == old
    assert await db.trade_count() == 5
    assert await db.prune(T0) == 0
    await db.close()


async def test_markets_series_and_gaps(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "m.db")
    m = MarketInfo("KXA-1", "KXA", "KXSER", "Will A?", "sub", "active", T0, T0 + 1000, "12.5")
    db.add_market(m)
    db.add_market(MarketInfo("KXB-1", "KXB", "KXSER", "B?", "", "active", None, None))
    db.add_series(SeriesInfo("KXSER", "Series", "Sports", "quadratic", 1_000_000))
    gap = FeedGap(GapKind.TRADE, "trade", 3, 10, 12, None, T0 - 50, T0, T0)
    db.add_gap(gap)
    db.add_gap(FeedGap(GapKind.BOOK, "orderbook_delta", 4, 5, 9, "KXA-1", T0 + 1, T0 + 1, T0 + 1))
    db.add_recovery(GapRecovered(GapKind.TRADE, T0 - 50, T0 + 5, 7, None, T0 + 6, T0 + 6))
    await db.flush()
    assert await db.market("KXA-1") == m
    assert await db.market("nope") is None
    assert set(await db.markets(["KXA-1", "KXB-1", "nope"])) == {"KXA-1", "KXB-1"}
    assert await db.series(["KXSER", "nope"]) == {
        "KXSER": SeriesInfo("KXSER", "Series", "Sports", "quadratic", 1_000_000)
    }
    gaps = await db.gaps()
    assert [g["kind"] for g in gaps] == ["book", "trade"]
    assert gaps[0]["recovered"] is None
    assert gaps[1]["recovered"] == {"to_ms": T0 + 5, "trades_recovered": 7, "ts_ms": T0 + 6}
    assert gaps[1]["expected_seq"] == 10
    db.add_market(MarketInfo("KXA-1", "KXA", "KXSER", "Will A?", "sub", "closed", T0, T0 + 1000))
    await db.flush()
    updated = await db.market("KXA-1")
    assert updated is not None and updated.status == "closed"
    await db.close()


async def test_restart_rebuilds_identical_windows(tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    db = await open_db(path)
    live_agg, live_an = Aggregator(), Analytics()
    for i in range(2000):
        t = trade(i, f"M{i % 13}", T0 + i * 41_000 - (i % 7) * 30_000, count=100 + i)
        db.add_trade(t)
        live_agg.add_trade(t)
        live_an.add_trade(t)
    await db.close()

    db = await open_db(path)
    now = T0 + 2000 * 41_000
    agg, an = Aggregator(), Analytics()
    async for batch in db.trades_between(now - 25 * 3_600_000, now + 1, batch=333):
        for t in batch:
            agg.add_trade(t)
            an.add_trade(t)
    await db.close()
    for a in (agg, live_agg):
        a.advance(now)
    for name in WINDOWS:
        assert agg.hot(name, 20) == live_agg.hot(name, 20)
    assert agg.sparkline("M3") == live_agg.sparkline("M3")
    for mode in ("hour", "day"):
        assert an.view(mode, now) == live_an.view(mode, now)
