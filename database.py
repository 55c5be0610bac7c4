"""SQLite storage: the versioned schema, the single batched writer, and the queries.

``Database`` holds the file's one connection and its one write batch; other stores on the file
(the NBA store) add their buffers to that batch. ``add_*`` never await: rows join the pending
batch. One writer, ``run()`` (started by the app's task owner), flushes the batch every
``flush_interval_ms`` or as soon as ``flush_rows`` are pending, in ONE transaction, many rows to
an INSERT statement. A failed flush is logged, counted and put
back in front of the queue to be retried; nothing is dropped. Trades are deduplicated on
``trade_id`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable
from itertools import chain
from pathlib import Path
from typing import Any

import aiosqlite

from clock import Clock
from models import FeedGap, GapRecovered, MarketInfo, SeriesInfo, Side, Trade
from storage.schema import (
    INSERT_GAP,
    INSERT_RECOVERY,
    TRADE_COLUMNS,
    TRADES_PER_STATEMENT,
    UPSERT_MARKET,
    UPSERT_SERIES,
    connect,
    file_size,
    insert_trades_sql,
    large_trade_index,
    large_trade_tier,
)
from storage.write_batch import WriteBatch, final_flush, statement

log = logging.getLogger(__name__)

PRUNE_CHUNK = 5_000


async def insert_trades(conn: aiosqlite.Connection, rows: list[TradeRow]) -> int:
    """INSERT OR IGNORE ``rows``, many to a statement (inside the caller's transaction); returns
    how many were new."""
    step = TRADES_PER_STATEMENT
    inserted = 0
    for i in range(0, len(rows), step):
        chunk = rows[i : i + step]
        cur = await conn.execute(_insert_sql(len(chunk)), tuple(chain.from_iterable(chunk)))
        inserted += cur.rowcount
        await cur.close()
    return inserted


@functools.lru_cache(maxsize=64)
def _insert_sql(n: int) -> str:
    return insert_trades_sql(n)


TradeRow = tuple[str, str, int, int, int, int, int]


def trade_row(t: Trade) -> TradeRow:
    return (
        t.trade_id,
        t.ticker,
        t.yes_price,
        t.count,
        1 if t.taker_side is Side.YES else 0,
        t.ts_ms,
        t.recv_ms,
    )


def _trade(r: Any) -> Trade:
    return Trade(r[0], r[1], r[2], r[3], Side.YES if r[4] else Side.NO, r[5], r[6])


def _market(r: Any) -> MarketInfo:
    return MarketInfo(
        ticker=r[0],
        event_ticker=r[1],
        series_ticker=r[2],
        title=r[3],
        subtitle=r[4],
        status=r[5],
        open_ts_ms=r[6],
        close_ts_ms=r[7],
        floor_strike=r[8],
        result=r[9],
        yes_sub_title=r[10],
        no_sub_title=r[11],
    )


LAST_TRADE_QUERY = "SELECT MAX(ts_ms) FROM trades"
MARKETS_QUERY = (
    "SELECT ticker, event_ticker, series_ticker, title, subtitle, status, open_ts_ms,"
    " close_ts_ms, floor_strike, result, yes_sub_title, no_sub_title FROM markets"
    " WHERE ticker IN ({marks})"
)
GAPS_QUERY = """
    SELECT g.kind, g.channel, g.sid, g.expected_seq, g.got_seq, g.ticker, g.from_ms,
           g.ts_ms, g.recv_ms, r.id, r.to_ms, r.trades_recovered, r.ts_ms
    FROM feed_gaps g
    LEFT JOIN gap_recoveries r ON r.id = (
        SELECT r2.id FROM gap_recoveries r2
        WHERE r2.kind = g.kind AND r2.from_ms = g.from_ms AND r2.ticker IS g.ticker
        ORDER BY r2.id LIMIT 1)
    ORDER BY g.ts_ms DESC, g.id DESC LIMIT ?
"""


def recent_trades_query(
    *,
    limit: int,
    ticker: str | None = None,
    min_count: int | None = None,
    before_ms: int | None = None,
) -> tuple[str, list[Any]]:
    """The SELECT of ``Database.recent_trades`` and its parameters; each shape walks an index
    newest first and stops after ``limit`` rows: a ticker's trades by (ticker, ts_ms), large
    trades by the partial index of their size tier (its ``count >= tier`` is written out so the
    planner may use it), the rest by ``ts_ms``."""
    where: list[str] = []
    params: list[Any] = []
    indexed = ""
    if ticker is not None:
        where.append("ticker = ?")
        params.append(ticker)
    if min_count is not None:
        where.append("count >= ?")
        params.append(min_count)
        tier = large_trade_tier(min_count)
        if tier is not None and ticker is None:
            where.append(f"count >= {int(tier)}")
            indexed = f" INDEXED BY {large_trade_index(tier)}"
    if before_ms is not None:
        where.append("ts_ms < ?")
        params.append(before_ms)
    sql = f"SELECT {TRADE_COLUMNS} FROM trades{indexed}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY ts_ms DESC, id DESC LIMIT ?"
    params.append(limit)
    return sql, params


class Database:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: Path,
        *,
        clock: Clock,
        flush_interval_ms: int,
        flush_rows: int,
    ) -> None:
        self._conn = conn
        self._path = path
        self._clock = clock
        self._interval = flush_interval_ms / 1000
        self._flush_rows = flush_rows
        self._batch = WriteBatch(
            conn, clock=clock, what="database",
            lists=[("trades", self._insert_trades), ("gaps", statement(INSERT_GAP)),
                   ("recoveries", statement(INSERT_RECOVERY))],
            maps=[("markets", statement(UPSERT_MARKET)), ("series", statement(UPSERT_SERIES))],
        )  # fmt: skip
        self._trades = self._batch.lists["trades"]
        self._gaps = self._batch.lists["gaps"]
        self._recoveries = self._batch.lists["recoveries"]
        self._markets = self._batch.maps["markets"]
        self._series = self._batch.maps["series"]
        self._lock = self._batch.lock
        self._wake = asyncio.Event()
        self._flush_waiters: list[asyncio.Future[int]] = []
        self.stats = self._batch.stats
        self.trades_stored = 0  # rows in the trades table, kept by the writer and retention
        self._inserted = 0  # new trades in the flush under way, counted once it commits

    @property
    def batch(self) -> WriteBatch:
        """The file's one write batch: other stores on this file add their buffers to it."""
        return self._batch

    @property
    def conn(self) -> aiosqlite.Connection:
        return self._conn

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        clock: Clock,
        flush_interval_ms: int = 100,
        flush_rows: int = 2000,
    ) -> Database:
        conn = await connect(path)
        db = cls(
            conn,
            Path(path),
            clock=clock,
            flush_interval_ms=flush_interval_ms,
            flush_rows=flush_rows,
        )
        try:
            db.trades_stored = await db.trade_count()
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        """Write what is still pending and close the file; the writer (``run``) has stopped."""
        await final_flush(self.flush, self._pending, "database")
        await self._conn.close()

    # ---- writes: never await -------------------------------------------------------------

    def add_trade(self, t: Trade) -> None:
        self._trades.append(trade_row(t))
        self.queued(1)

    def add_trades(self, ts: Iterable[Trade]) -> None:
        rows = [trade_row(t) for t in ts]
        self._trades.extend(rows)
        self.queued(len(rows))

    def add_market(self, m: MarketInfo) -> None:
        self._markets[m.ticker] = (
            m.ticker, m.event_ticker, m.series_ticker, m.title, m.subtitle, m.status,
            m.open_ts_ms, m.close_ts_ms, m.floor_strike, m.result, m.yes_sub_title,
            m.no_sub_title, self._clock.now_ms(),
        )  # fmt: skip
        self.queued(1)

    def add_series(self, s: SeriesInfo) -> None:
        self._series[s.ticker] = (
            s.ticker, s.title, s.category, s.fee_type, s.fee_multiplier_ppm, self._clock.now_ms(),
        )  # fmt: skip
        self.queued(1)

    def add_gap(self, g: FeedGap) -> None:
        self._gaps.append(
            (str(g.kind), g.channel, g.sid, g.expected_seq, g.got_seq, g.ticker, g.from_ms,
             g.ts_ms, g.recv_ms)
        )  # fmt: skip
        self.queued(1)

    def add_recovery(self, r: GapRecovered) -> None:
        self._recoveries.append(
            (str(r.kind), r.from_ms, r.to_ms, r.trades_recovered, r.ticker, r.ts_ms, r.recv_ms)
        )
        self.queued(1)

    def queued(self, n: int) -> None:
        """``n`` more rows joined the batch (from this store or another on the file)."""
        st = self.stats
        st.pending += n  # a replaced market or series counts until the next flush recounts
        if st.pending >= self._flush_rows:
            self._wake.set()

    def _pending(self) -> int:
        return len(self._batch)

    # ---- the writer ----------------------------------------------------------------------

    async def _insert_trades(self, conn: aiosqlite.Connection, rows: list[TradeRow]) -> None:
        self._inserted += await insert_trades(conn, rows)

    async def run(self) -> None:
        """The writer: flush every interval, or at once when enough rows are pending."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._pending():
                # counted, logged and queued again by flush(); the next round retries
                with contextlib.suppress(Exception):
                    await self.flush()

    async def flush(self) -> int:
        """Write everything pending in one transaction; returns the rows written. On failure the
        batch goes back to the front of the queue, the error is counted and re-raised."""
        try:
            rows = await self._batch.flush()
        except BaseException:
            self._inserted = 0  # rolled back (flushes take the batch's lock one at a time)
            raise
        self.trades_stored += self._inserted
        self._inserted = 0
        if rows:
            waiters, self._flush_waiters = self._flush_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(rows)
        return rows

    async def flushed(self) -> int:
        """Wait for the next successful flush (by the writer or anyone); returns its row count."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._flush_waiters.append(fut)
        return await fut

    # ---- queries -------------------------------------------------------------------------

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self._conn.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        async with self._conn.execute(sql, tuple(params)) as cur:
            return await cur.fetchone()

    async def recent_trades(
        self,
        *,
        limit: int = 100,
        ticker: str | None = None,
        min_count: int | None = None,
        before_ms: int | None = None,
    ) -> list[Trade]:
        """Stored trades, newest first (by exchange time, then arrival)."""
        sql, params = recent_trades_query(
            limit=limit, ticker=ticker, min_count=min_count, before_ms=before_ms
        )
        return [_trade(r) for r in await self._all(sql, params)]

    async def trades_between(
        self, from_ms: int, to_ms: int, batch: int = 10_000, *, through_id: int | None = None
    ) -> AsyncIterator[list[Trade]]:
        """Trades with ``from_ms <= ts_ms < to_ms``, oldest first, in lists of up to ``batch``;
        with ``through_id``, only the rows stored up to that id (``last_trade_id``)."""
        # ``ts_ms >= ?`` bounds the index range by itself: with the (ts, id) test alone in an OR,
        # SQLite reads and sorts everything from there to ``to_ms`` for each page (quadratic)
        sql = (
            f"SELECT {TRADE_COLUMNS}, id FROM trades WHERE ts_ms >= ? AND ts_ms < ? AND id <= ? "
            "AND (ts_ms > ? OR id > ?) ORDER BY ts_ms, id LIMIT ?"
        )
        top = through_id if through_id is not None else 1 << 62
        last_ts, last_id = from_ms, -1
        while True:
            rows = await self._all(sql, (last_ts, to_ms, top, last_ts, last_id, batch))
            if not rows:
                return
            yield [_trade(r) for r in rows]
            last_ts, last_id = rows[-1][5], rows[-1][7]
            if len(rows) < batch:
                return

    async def last_trade_ms(self) -> int | None:
        row = await self._one(LAST_TRADE_QUERY)
        return None if row is None or row[0] is None else int(row[0])

    async def last_trade_id(self) -> int:
        """The id of the last stored trade (0: none). Rows stored later get larger ids, as long
        as that row is kept (retention prunes the oldest trades first)."""
        row = await self._one("SELECT MAX(id) FROM trades")
        return 0 if row is None or row[0] is None else int(row[0])

    async def trade_count_between(self, from_ms: int, to_ms: int, through_id: int) -> int:
        """How many trades ``trades_between(from_ms, to_ms, through_id=...)`` yields."""
        sql = "SELECT COUNT(*) FROM trades WHERE ts_ms >= ? AND ts_ms < ? AND id <= ?"
        row = await self._one(sql, (from_ms, to_ms, through_id))
        return int(row[0])

    async def trade_count(self) -> int:
        row = await self._one("SELECT COUNT(*) FROM trades")
        return int(row[0])

    async def market(self, ticker: str) -> MarketInfo | None:
        found = await self.markets([ticker])
        return found.get(ticker)

    async def markets(self, tickers: Iterable[str]) -> dict[str, MarketInfo]:
        wanted = list(dict.fromkeys(tickers))
        out: dict[str, MarketInfo] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for r in await self._all(
                MARKETS_QUERY.format(marks=marks),
                chunk,
            ):
                out[r[0]] = _market(r)
        return out

    async def series(self, ticker: str) -> SeriesInfo | None:
        r = await self._one(
            "SELECT ticker, title, category, fee_type, fee_multiplier_ppm FROM series"
            " WHERE ticker = ?",
            (ticker,),
        )
        return None if r is None else SeriesInfo(r[0], r[1], r[2], r[3], r[4])

    async def gaps(self, limit: int = 100) -> list[dict[str, object]]:
        """Feed gaps newest first, each with the first recovery of the same kind, start time and
        ticker (``recovered`` is None while unrepaired)."""
        rows = await self._all(
            GAPS_QUERY,
            (limit,),
        )
        keys = ("kind", "channel", "sid", "expected_seq", "got_seq", "ticker", "from_ms",
                "ts_ms", "recv_ms")  # fmt: skip
        out: list[dict[str, object]] = []
        for r in rows:
            gap: dict[str, object] = dict(zip(keys, r[:9], strict=True))
            gap["recovered"] = (
                None
                if r[9] is None
                else {"to_ms": r[10], "trades_recovered": r[11], "ts_ms": r[12]}
            )
            out.append(gap)
        return out

    async def prune(self, older_than_ms: int) -> int:
        """Delete trades (and gap records) older than the cutoff, in chunks of PRUNE_CHUNK rows
        per transaction so the writer is never held up for long; returns trades deleted."""
        deleted = 0
        while True:
            async with self._lock:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    cur = await self._conn.execute(
                        "DELETE FROM trades WHERE id IN "
                        "(SELECT id FROM trades WHERE ts_ms < ? LIMIT ?)",
                        (older_than_ms, PRUNE_CHUNK),
                    )
                    n = cur.rowcount
                    await cur.close()
                    if n < PRUNE_CHUNK:
                        for table in ("feed_gaps", "gap_recoveries"):
                            await self._conn.execute(
                                f"DELETE FROM {table} WHERE ts_ms < ?", (older_than_ms,)
                            )
                    await self._conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        await self._conn.execute("ROLLBACK")
                    raise
            deleted += n
            self.trades_stored -= n
            if n < PRUNE_CHUNK:
                return deleted

    async def size_bytes(self) -> int:
        """Database file plus its write-ahead log."""
        row = await self._one(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        )
        return int(row[0]) + await asyncio.to_thread(file_size, Path(f"{self._path}-wal"))
