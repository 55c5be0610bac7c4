"""The compact trade rows: ids read back exactly, keys keep (time, arrival) order across flushes
and restarts, duplicates are found around their time however old, a warm start's mark leaves
out the late trades stored after it, retention trims the recent ids and frees pages for reuse."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from clock import ManualClock
from database import Database
from models import CENT_GRID, MarketInfo, PriceRange, Side, Trade
from storage.trade_codec import BUCKET_BITS, EPOCH_MS, bucket_of, compact_id, readable_id

T0 = 1_767_225_600_000
HOUR_MS = 3_600_000


def trade(tid: str, ts: int, ticker: str = "KXA-1", count: int = 100) -> Trade:
    return Trade(tid, ticker, 4200, count, Side.NO, ts, ts + 7)


async def open_db(path: Path) -> Database:
    return await Database.open(path, clock=ManualClock(T0), flush_interval_ms=60_000)


def test_ids_read_back_exactly() -> None:
    canonical = str(uuid.uuid4())
    assert compact_id(canonical) == uuid.UUID(canonical).bytes
    for other in (canonical.upper(), canonical.replace("-", ""), "id-1", "", " " * 36,
                  canonical[:8] + " " + canonical[9:], "g" * 8 + canonical[8:]):  # fmt: skip
        assert compact_id(other) == other
    for tid in (canonical, canonical.upper(), "id-1"):
        assert readable_id(compact_id(tid)) == tid


async def test_ids_are_compact_in_the_file_and_readable_in_the_view(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "ids.db")
    ids = [str(uuid.uuid4()), str(uuid.uuid4()).upper(), "legacy-7"]
    db.add_trades(trade(tid, T0 + i) for i, tid in enumerate(ids))
    await db.flush()
    assert [t.trade_id for t in await db.recent_trades()] == ids[::-1]
    await db.close()
    with sqlite3.connect(tmp_path / "ids.db") as conn:
        kinds = conn.execute("SELECT typeof(tid) FROM trade_rows ORDER BY key").fetchall()
        assert kinds == [("blob",), ("text",), ("text",)]
        view = conn.execute("SELECT trade_id, ticker, ts_ms, recv_ms FROM trades ORDER BY id")
        assert view.fetchall() == [(tid, "KXA-1", T0 + i, T0 + i + 7) for i, tid in enumerate(ids)]


async def test_keys_keep_time_then_arrival_across_flushes_and_restarts(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    db = await open_db(path)
    db.add_trades([trade("a", T0 + 5), trade("b", T0 + 5), trade("old", T0 - 1)])
    await db.flush()
    db.add_trade(trade("c", T0 + 5))
    await db.flush()
    await db.close()
    db = await open_db(path)  # the next seq on T0 + 5 is read from the file
    db.add_trades([trade("d", T0 + 5), trade("e", T0 + 6)])
    await db.flush()
    assert [t.trade_id for t in await db.recent_trades()] == ["e", "d", "c", "b", "a", "old"]
    assert await db.last_trade_ms() == T0 + 6
    got = [t.trade_id async for batch in db.trades_between(T0, T0 + 6, batch=2) for t in batch]
    assert got == ["a", "b", "c", "d"]
    await db.close()


async def test_a_duplicate_is_found_across_a_bucket_boundary(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "edge.db")
    edge = EPOCH_MS + ((bucket_of(T0) + 1) << BUCKET_BITS)  # the first ms of the next bucket
    db.add_trade(trade("x", edge - 1))
    await db.flush()
    db.add_trades([trade("x", edge + 30 * 60_000), trade("x", edge - HOUR_MS)])  # REST's times
    await db.flush()
    assert db.trades_stored == 1 and await db.trade_count() == 1
    await db.close()


async def test_a_late_duplicate_is_found_after_its_hour_left_the_recent_ids(
    tmp_path: Path,
) -> None:
    db = await open_db(tmp_path / "late.db")
    db.add_trades([trade("early", T0), trade("early-2", T0 + 1)])
    await db.flush()
    db.add_trade(trade("later", T0 + 10 * HOUR_MS))
    await db.flush()
    assert await db.prune(T0 - HOUR_MS) == 0  # trims the recent ids only
    async with db.conn.execute("SELECT DISTINCT bucket FROM recent_ids") as cur:
        assert bucket_of(T0) not in {r[0] for r in await cur.fetchall()}
    # a backfill of the early hour: its ids are read in again, the stored ones are duplicates
    db.add_trades([trade("early", T0), trade("early-3", T0 + 2), trade("early-2", T0 + 5)])
    await db.flush()
    assert sorted(t.trade_id for t in await db.recent_trades()) == [
        "early", "early-2", "early-3", "later"
    ]  # fmt: skip
    assert db.trades_stored == 4
    await db.close()


async def test_the_warm_mark_leaves_out_late_trades_stored_after_it(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "mark.db")
    db.add_trades([trade("s1", T0), trade("s2", T0 + 10), trade("s3", T0 + 20)])
    await db.flush()
    through = await db.last_trade_id()
    db.add_trades([trade("late", T0 + 5), trade("tie", T0 + 20), trade("new", T0 + 30)])
    await db.flush()
    stored = [t.trade_id async for b in db.trades_between(T0, T0 + 100, through_id=through)
              for t in b]  # fmt: skip
    assert stored == ["s1", "s2", "s3"]
    assert await db.trade_count_between(T0, T0 + 100, through) == 3
    db.release_mark()
    everything = [t.trade_id async for b in db.trades_between(T0, T0 + 100) for t in b]
    assert everything == ["s1", "late", "s2", "s3", "tie", "new"]
    await db.close()


async def test_markets_keep_their_price_grid_and_a_traded_market_is_not_described(
    tmp_path: Path,
) -> None:
    db = await open_db(tmp_path / "grid.db")
    tapered = (PriceRange(0, 1000, 10), PriceRange(1000, 9000, 100), PriceRange(9000, 10000, 10))
    m = MarketInfo("KXG-1", "KXG", "KXGS", "G?", "", "active", T0, None,
                   price_level_structure="tapered_deci_cent", price_ranges=tapered,
                   fractional_trading_enabled=True)  # fmt: skip
    cent = MarketInfo("KXG-2", "KXG", "KXGS", "G2?", "", "active", None, None,
                      price_level_structure="linear_cent", price_ranges=CENT_GRID)  # fmt: skip
    db.add_trade(trade("t", T0, ticker="KXG-1"))
    db.add_trade(trade("u", T0, ticker="KXG-3"))  # traded, details unknown
    db.add_market(m)
    db.add_market(cent)
    await db.flush()
    assert await db.markets(["KXG-1", "KXG-2", "KXG-3"]) == {"KXG-1": m, "KXG-2": cent}
    async with db.conn.execute("SELECT price_ranges FROM markets WHERE ticker = 'KXG-2'") as cur:
        assert await cur.fetchone() == ("[[0,10000,100]]",)
    assert [t.ticker for t in await db.recent_trades(ticker="KXG-1")] == ["KXG-1"]
    await db.close()


async def freelist(db: Database) -> int:
    async with db.conn.execute("PRAGMA freelist_count") as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_prune_counts_and_frees_pages_that_later_inserts_reuse(tmp_path: Path) -> None:
    path = tmp_path / "reuse.db"
    db = await open_db(path)
    day = [trade(str(uuid.UUID(int=i + 1)), T0 + i * 20, f"KXR-{i % 40}") for i in range(20_000)]
    db.add_trades(day)
    await db.flush()
    size = await db.size_bytes()
    assert await db.prune(T0 + 20_000 * 20) == 20_000
    assert db.trades_stored == 0
    free = await freelist(db)
    assert free > 50
    later = T0 + 30 * 86_400_000
    db.add_trades(trade(str(uuid.UUID(int=i + 10**9)), later + i * 20, f"KXR-{i % 40}")
                  for i in range(20_000))  # fmt: skip
    await db.flush()
    assert await freelist(db) < free // 4
    assert db.trades_stored == 20_000
    await db.close()
    db = await open_db(path)  # the count comes from the file, not from a COUNT(*)
    assert db.trades_stored == 20_000
    assert await db.size_bytes() < size * 1.3
    await db.close()
