"""The trade side of the writer: turns queued trades into compact rows and stores the new ones.

Inside the write batch's transaction, for each flush:

1. duplicates within the batch are dropped (first copy kept);
2. tickers get their ``markets.id`` (new ones get a bare markets row);
3. duplicates of stored trades are found in ``recent_ids``: a trade is a duplicate if a stored
   trade has its ``trade_id`` and an exchange time in the same dedupe bucket (~70 min,
   ``trade_codec.BUCKET_BITS``) or the one either side, so a WebSocket copy and a REST copy of
   one trade are one trade however their times differ by less than an hour. The buckets a batch
   needs are read into ``recent_ids`` from the trades first if they are not there (a late
   trade); inserts then touch only the newest few buckets of a small table, however many trades
   the file holds (a unique index over every id slows as it grows: ``bench/bench_sqlite.py``);
4. the new trades get keys (``trade_codec.make_key``): ``seq`` continues what the millisecond
   holds, known from memory for the recent milliseconds and read from SQLite for older ones.

What is remembered across flushes (ticker ids, the buckets in ``recent_ids``, each recent
millisecond's next seq) is a cache of what committed: after a failed flush the first two are
forgotten and read again; seqs may run ahead of what committed, which only leaves gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from itertools import chain
from typing import Any

import aiosqlite

from storage.schema import INSERT_RECENT, INSERT_ROWS, TRADES_PER_STATEMENT, values_sql
from storage.trade_codec import (
    BUCKET_BITS,
    EPOCH_MS,
    SEQ_BITS,
    SEQ_LIMIT,
    bucket_keys,
    compact_id,
)

log = logging.getLogger(__name__)

TradeRow = tuple[str, str, int, int, int, int, int]  # as queued: id, ticker, price, ..., recv
LOOKUP_CHUNK = 400  # rows per duplicate lookup (two parameters each)
SEQ_MEMORY = 200_000  # milliseconds whose next seq is kept before older ones are forgotten
SEQ_HORIZON_MS = 600_000  # ... keeping the last ten minutes
TICKER_MEMORY = 500_000
# the dedupe buckets of a lookup row's time (v.column2): its own and the one either side
_BUCKETS = ", ".join(
    f"((v.column2 - {EPOCH_MS}) >> {BUCKET_BITS}){d}" for d in (" - 1", "", " + 1")
)


class TradeWriter:
    def __init__(self, top_key: int | None, loaded: Iterable[int]) -> None:
        """``top_key``: the largest stored key (None: no trades); ``loaded``: the buckets that
        ``recent_ids`` holds."""
        self._tickers: dict[str, int] = {}
        self._loaded: set[int] | None = set(loaded)
        self._next_seq: dict[int, int] = {}  # ms since the epoch -> next seq there
        # every millisecond from here on has all of its stored keys counted in _next_seq
        self._known_from = -(1 << 62) if top_key is None else (top_key >> SEQ_BITS) + 1
        self._newest_ms = self._known_from - 1
        self._mark: int | None = None
        self.late: set[int] = set()  # keys at or below the mark stored since it was taken

    def mark(self, top_key: int) -> None:
        """From now on, remember the keys stored at or below ``top_key``."""
        self._mark = top_key
        self.late.clear()

    def unmark(self) -> None:
        self._mark = None
        self.late.clear()

    def rolled_back(self) -> None:
        """The last write did not commit: forget what may not have been stored."""
        self._tickers.clear()
        self._loaded = None

    def buckets_changed(self) -> None:
        """Another transaction changed ``recent_buckets``: read it again before the next write."""
        self._loaded = None

    async def write(self, conn: aiosqlite.Connection, queued: list[TradeRow]) -> int:
        """Store the new trades among ``queued``; returns how many were new."""
        unique: dict[bytes | str, TradeRow] = {}
        for row in queued:
            unique.setdefault(compact_id(row[0]), row)
        if not unique:
            return 0
        markets = await self._market_ids(conn, {row[1] for row in unique.values()})
        buckets = {(row[5] - EPOCH_MS) >> BUCKET_BITS for row in unique.values()}
        await self._load(conn, buckets)
        fresh = await self._not_stored(conn, unique)
        if not fresh:
            return 0
        keys = await self._keys(conn, [row[5] for _, row in fresh])
        records = []
        recent = []
        mark, late = self._mark, self.late
        for (tid, row), key in zip(fresh, keys, strict=True):
            records.append((key, tid, markets[row[1]], row[2], row[3], row[4], row[6] - row[5]))
            recent.append((key >> (SEQ_BITS + BUCKET_BITS), tid))
            if mark is not None and key <= mark:
                late.add(key)
        step = TRADES_PER_STATEMENT
        for i in range(0, len(records), step):
            part = records[i : i + step]
            await conn.execute(values_sql(INSERT_ROWS, len(part), 7), tuple(chain(*part)))
            await conn.execute(
                values_sql(INSERT_RECENT, len(part), 2), tuple(chain(*recent[i : i + step]))
            )
        await conn.execute(
            "UPDATE meta SET value = value + ? WHERE name = 'trades'", (len(records),)
        )
        return len(records)

    async def _market_ids(self, conn: aiosqlite.Connection, tickers: set[str]) -> dict[str, int]:
        known = self._tickers
        missing = [t for t in tickers if t not in known]
        if len(known) + len(missing) > TICKER_MEMORY:
            known.clear()
            missing = list(tickers)
        for i in range(0, len(missing), 500):
            part = missing[i : i + 500]
            marks = ", ".join(["(?)"] * len(part))
            await conn.execute(f"INSERT OR IGNORE INTO markets (ticker) VALUES {marks}", part)
            async with conn.execute(
                f"SELECT ticker, id FROM markets WHERE ticker IN ({', '.join('?' * len(part))})",
                part,
            ) as cur:
                for ticker, mid in await cur.fetchall():
                    known[ticker] = mid
        return known

    async def _load(self, conn: aiosqlite.Connection, buckets: set[int]) -> None:
        """Make sure ``recent_ids`` holds the buckets of ``buckets`` and their neighbours."""
        if self._loaded is None:
            async with conn.execute("SELECT bucket FROM recent_buckets") as cur:
                self._loaded = {int(r[0]) for r in await cur.fetchall()}
        loaded = self._loaded
        needed = {b + d for b in buckets for d in (-1, 0, 1)} - loaded
        for bucket in sorted(needed):
            lo, hi = bucket_keys(bucket)
            cur = await conn.execute(
                "INSERT OR IGNORE INTO recent_ids (bucket, tid)"
                " SELECT ?, tid FROM trade_rows WHERE key >= ? AND key < ?",
                (bucket, lo, hi),
            )
            if cur.rowcount > 0:
                log.info("dedupe: %d ids of an older hour read for late trades", cur.rowcount)
            await cur.close()
            await conn.execute("INSERT INTO recent_buckets VALUES (?)", (bucket,))
            loaded.add(bucket)

    async def _not_stored(
        self, conn: aiosqlite.Connection, unique: dict[bytes | str, TradeRow]
    ) -> list[tuple[bytes | str, TradeRow]]:
        items = list(unique.items())
        stored: set[Any] = set()
        for i in range(0, len(items), LOOKUP_CHUNK):
            part = items[i : i + LOOKUP_CHUNK]
            values = ", ".join(["(?, ?)"] * len(part))
            params = tuple(chain.from_iterable((tid, row[5]) for tid, row in part))
            sql = (
                f"SELECT v.column1 FROM (VALUES {values}) v WHERE EXISTS (SELECT 1 FROM recent_ids"
                f" r WHERE r.bucket IN ({_BUCKETS}) AND r.tid = v.column1)"
            )
            async with conn.execute(sql, params) as cur:
                stored.update(r[0] for r in await cur.fetchall())
        if not stored:
            return items
        return [(tid, row) for tid, row in items if tid not in stored]

    async def _keys(self, conn: aiosqlite.Connection, stamps: list[int]) -> list[int]:
        """Keys for trades at ``stamps`` (in arrival order), after every key stored."""
        next_seq, known_from = self._next_seq, self._known_from
        unknown = {ms for ts in stamps if (ms := ts - EPOCH_MS) < known_from} - next_seq.keys()
        if unknown:
            await self._read_seqs(conn, sorted(unknown))
        keys = []
        newest = self._newest_ms
        for ts in stamps:
            ms = ts - EPOCH_MS
            seq = next_seq.get(ms, 0)
            if seq >= SEQ_LIMIT:
                raise OverflowError(f"more than {SEQ_LIMIT} trades stored on the millisecond {ts}")
            next_seq[ms] = seq + 1
            keys.append((ms << SEQ_BITS) | seq)
            if ms > newest:
                newest = ms
        self._newest_ms = newest
        if len(next_seq) > SEQ_MEMORY:
            cutoff = newest - SEQ_HORIZON_MS
            self._next_seq = {ms: s for ms, s in next_seq.items() if ms >= cutoff}
            self._known_from = max(known_from, cutoff)
        return keys

    async def _read_seqs(self, conn: aiosqlite.Connection, stamps: list[int]) -> None:
        for i in range(0, len(stamps), 500):
            part = stamps[i : i + 500]
            values = ", ".join(["(?)"] * len(part))
            sql = (
                f"SELECT v.column1, (SELECT max(key) FROM trade_rows WHERE key >= v.column1 << "
                f"{SEQ_BITS} AND key < (v.column1 + 1) << {SEQ_BITS}) FROM (VALUES {values}) v"
            )
            async with conn.execute(sql, part) as cur:
                for ms, top in await cur.fetchall():
                    self._next_seq[ms] = 0 if top is None else (top & (SEQ_LIMIT - 1)) + 1
