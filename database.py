"""SQLite storage: the versioned schema, the single batched writer, and the queries.

``Database`` holds the file's one connection and its one write batch; other stores on the file
(the NBA store) add their buffers to that batch. ``add_*`` never await: rows join the pending
batch. One writer, ``run()`` (started by the app's task owner), flushes the batch every
``flush_interval_ms`` or as soon as ``flush_rows`` are pending, in ONE transaction, many rows to
an INSERT statement. A failed flush is logged, counted and put
back in front of the queue to be retried; nothing is dropped. Trades are deduplicated on
``trade_id`` only (``storage.trade_writer``). Trades are stored compactly, keyed by time
(``storage.trade_codec``); the ``trades`` view shows them as they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from clock import Clock
from models import FeedGap, GapRecovered, MarketInfo, SeriesInfo, Side, Trade
from storage.migrate import connect
from storage.retention import Statements, prune_trades
from storage.schema import (
    INSERT_GAP,
    INSERT_RECOVERY,
    UPSERT_MARKET,
    UPSERT_SERIES,
    WAL_CHECKPOINT_PAGES,
    file_size,
)
from storage.trade_codec import key_floor, ts_of
from storage.trade_queries import (
    COUNT_BETWEEN,
    GAPS_QUERY,
    LAST_TRADE_QUERY,
    MARKETS_QUERY,
    SERIES_QUERY,
    TRADES_BETWEEN,
    gap_of,
    market_of,
    market_row,
    recent_trades_query,
    series_of,
    trade_of,
)
from storage.trade_writer import TradeRow, TradeWriter
from storage.write_batch import WriteBatch, final_flush, statement

log = logging.getLogger(__name__)

COUNT_SPAN_MS = 3_600_000  # trade_count_between counts an hour of keys per query


def _passive_checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        conn.close()


def trade_row(t: Trade) -> TradeRow:
    return (t.trade_id, t.ticker, t.yes_price, t.count, 1 if t.taker_side is Side.YES else 0,
            t.ts_ms, t.recv_ms)  # fmt: skip


class Database:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: Path,
        *,
        clock: Clock,
        flush_interval_ms: int,
        flush_rows: int,
        writer: TradeWriter,
    ) -> None:
        self._conn = conn
        self._path = path
        self._clock = clock
        self._interval = flush_interval_ms / 1000
        self._flush_rows = flush_rows
        self._writer = writer
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
        self.prune_holds_ms: list[float] = []  # how long each transaction of the last prune took

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
        """Open (and migrate: ``storage.migrate``) the file; reads a few rows, however many
        trades it holds."""
        conn = await connect(path)
        try:
            async with conn.execute(LAST_TRADE_QUERY) as cur:
                top = await cur.fetchone()
            async with conn.execute("SELECT bucket FROM recent_buckets") as cur:
                loaded = [int(r[0]) for r in await cur.fetchall()]
            async with conn.execute("SELECT value FROM meta WHERE name = 'trades'") as cur:
                count = await cur.fetchone()
        except BaseException:
            await conn.close()
            raise
        writer = TradeWriter(None if top is None or top[0] is None else int(top[0]), loaded)
        db = cls(conn, Path(path), clock=clock, flush_interval_ms=flush_interval_ms,
                 flush_rows=flush_rows, writer=writer)  # fmt: skip
        db.trades_stored = int(count[0]) if count else 0
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
        self._markets[m.ticker] = market_row(m, self._clock.now_ms())
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
        self._inserted += await self._writer.write(conn, rows)

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
            self._writer.rolled_back()
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
        return [trade_of(r) for r in await self._all(sql, params)]

    async def trades_between(
        self, from_ms: int, to_ms: int, batch: int = 10_000, *, through_id: int | None = None
    ) -> AsyncIterator[list[Trade]]:
        """Trades with ``from_ms <= ts_ms < to_ms``, oldest first (by exchange time, then
        arrival), in lists of up to ``batch``; with ``through_id``, only the trades stored
        before ``last_trade_id`` returned it."""
        hi = key_floor(to_ms)
        late: set[int] = set()
        if through_id is not None:
            hi = min(hi, through_id + 1)
            late = self._writer.late
        last = key_floor(from_ms) - 1
        while True:
            rows = await self._all(TRADES_BETWEEN, (last, hi, batch))
            if not rows:
                return
            last = rows[-1][5]
            trades = [trade_of(r) for r in rows if r[5] not in late]
            if trades:
                yield trades
            if len(rows) < batch:
                return

    async def last_trade_ms(self) -> int | None:
        row = await self._one(LAST_TRADE_QUERY)
        return None if row is None or row[0] is None else ts_of(int(row[0]))

    async def last_trade_id(self) -> int:
        """The id (key) of the newest stored trade (0: none), and a mark: trades stored from now
        on with a smaller id (late ones, by exchange time) are left out of ``trades_between``
        with ``through_id`` set to it, until ``release_mark``."""
        row = await self._one(LAST_TRADE_QUERY)
        top = 0 if row is None or row[0] is None else int(row[0])
        self._writer.mark(top)
        return top

    def release_mark(self) -> None:
        self._writer.unmark()

    async def trade_count_between(self, from_ms: int, to_ms: int, through_id: int) -> int:
        """How many trades ``trades_between(from_ms, to_ms, through_id=...)`` yields; counted an
        hour at a time, so that other queries get the connection in between."""
        lo, hi = key_floor(from_ms), min(key_floor(to_ms), through_id + 1)
        step = key_floor(COUNT_SPAN_MS) - key_floor(0)
        total = 0
        for start in range(lo, hi, step):
            row = await self._one(COUNT_BETWEEN, (start, min(start + step, hi)))
            total += int(row[0])
        late = sum(lo <= k < hi for k in self._writer.late)
        return total - late

    async def trade_count(self) -> int:
        """COUNT(*) over every stored trade: reads the whole table (``trades_stored`` does not)."""
        row = await self._one("SELECT COUNT(*) FROM trade_rows")
        return int(row[0])

    async def market(self, ticker: str) -> MarketInfo | None:
        found = await self.markets([ticker])
        return found.get(ticker)

    async def markets(self, tickers: Iterable[str]) -> dict[str, MarketInfo]:
        """The markets whose details are stored, of ``tickers``."""
        wanted = list(dict.fromkeys(tickers))
        out: dict[str, MarketInfo] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            sql = MARKETS_QUERY.format(marks=",".join("?" * len(chunk)))
            for r in await self._all(sql, chunk):
                out[r[0]] = market_of(r)
        return out

    async def series(self, tickers: Iterable[str]) -> dict[str, SeriesInfo]:
        """The stored series details of ``tickers``."""
        wanted = list(dict.fromkeys(tickers))
        out: dict[str, SeriesInfo] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            sql = SERIES_QUERY.format(marks=",".join("?" * len(chunk)))
            for r in await self._all(sql, chunk):
                out[r[0]] = series_of(r)
        return out

    async def gaps(self, limit: int = 100) -> list[dict[str, object]]:
        """Feed gaps newest first, each with the first recovery of the same kind, start time and
        ticker (``recovered`` is None while unrepaired)."""
        return [gap_of(r) for r in await self._all(GAPS_QUERY, (limit,))]

    async def prune(self, older_than_ms: int) -> int:
        """Delete trades (and gap records) older than the cutoff, and the recent ids of the
        dedupe buckets well before the newest trade, in short transactions
        (``storage.retention``); returns trades deleted."""
        # SQLite's own checkpoints would run inside a prune's COMMIT: ``_checkpoint`` runs them
        # between transactions instead, outside the lock
        await self._conn.execute("PRAGMA wal_autocheckpoint=0")
        try:
            report = await prune_trades(self._transaction, self._checkpoint, older_than_ms)
        finally:
            await self._conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self.trades_stored -= report.deleted
        self.prune_holds_ms = report.holds_ms
        return report.deleted

    async def size_bytes(self) -> int:
        """Database file plus its write-ahead log."""
        row = await self._one(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        )
        return int(row[0]) + await asyncio.to_thread(file_size, Path(f"{self._path}-wal"))

    async def _checkpoint(self) -> None:
        """Copy the write-ahead log into the file from a second connection, in a thread, once
        it holds a quarter of what SQLite checkpoints at; the writer goes on meanwhile."""
        wal = Path(f"{self._path}-wal")
        if await asyncio.to_thread(file_size, wal) < WAL_CHECKPOINT_PAGES * 1024:
            return
        await asyncio.to_thread(_passive_checkpoint, self._path)

    async def _transaction(self, statements: Statements) -> tuple[list[int], float]:
        """Run ``statements`` in one write transaction under the batch's lock; returns each
        one's row count and the seconds the lock was held."""
        async with self._lock:
            started = time.perf_counter()
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                counts = []
                for sql, params in statements:
                    cur = await self._conn.execute(sql, params)
                    counts.append(cur.rowcount)
                    await cur.close()
                await self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute("ROLLBACK")
                self._writer.rolled_back()
                raise
            finally:
                self._writer.buckets_changed()  # retention may have dropped some
            return counts, time.perf_counter() - started
