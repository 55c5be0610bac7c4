"""Rows waiting for one SQLite connection, written in one transaction per flush.

Producers never await: rows join named buffers, either lists (kept in arrival order) or maps
(a newer row for a key replaces the older one). ``write`` takes every buffer and writes them in
one transaction, lists first, then maps, each in declared order. On failure the rows go back in
front of what arrived meanwhile, so nothing is lost and order is kept, and the error is
re-raised. ``flush`` is ``write`` under the batch's lock (which the owner also takes for its
other transactions on the connection), counted in ``stats``, with a failure logged. Buffers are
the same objects for the batch's whole life: owners may hold them. Several stores on one file
share one batch (one connection, one writer): each adds its buffers with ``add``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from clock import Clock

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
Writer = Callable[[aiosqlite.Connection, list[Row]], Awaitable[None]]


def statement(sql: str) -> Writer:
    """A writer that runs ``sql`` once per row."""

    async def write(conn: aiosqlite.Connection, rows: list[Row]) -> None:
        await conn.executemany(sql, rows)

    return write


@dataclass(slots=True)
class BatchStats:
    rows_written: int = 0  # rows sent to SQLite in committed flushes (duplicates included)
    flushes: int = 0
    last_flush_ms: int | None = None
    pending: int = 0  # owners may count rows as they queue them; each flush recounts
    errors: int = 0
    max_batch: int = 0


class WriteBatch:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        clock: Clock,
        what: str,
        lists: Sequence[tuple[str, Writer]] = (),
        maps: Sequence[tuple[str, Writer]] = (),
    ) -> None:
        self._conn = conn
        self._clock = clock
        self._what = what
        self.lock = asyncio.Lock()
        self.stats = BatchStats()
        self._list_names: list[str] = []
        self._map_names: list[str] = []
        self._writers: dict[str, Writer] = {}
        self.lists: dict[str, list[Row]] = {}
        self.maps: dict[str, dict[Any, Row]] = {}
        self.add(lists=lists, maps=maps)

    @property
    def conn(self) -> aiosqlite.Connection:
        return self._conn

    def add(
        self,
        *,
        lists: Sequence[tuple[str, Writer]] = (),
        maps: Sequence[tuple[str, Writer]] = (),
    ) -> None:
        """More buffers, written after those of the same kind already held."""
        for name, writer in (*lists, *maps):
            if name in self._writers:
                raise ValueError(f"{self._what}: a buffer named {name!r} exists")
            self._writers[name] = writer
        for name, _ in lists:
            self._list_names.append(name)
            self.lists[name] = []
        for name, _ in maps:
            self._map_names.append(name)
            self.maps[name] = {}

    def __len__(self) -> int:
        return sum(map(len, self.lists.values())) + sum(map(len, self.maps.values()))

    async def flush(self) -> int:
        """``write`` under the lock, counted; a failure is counted, logged and re-raised (its
        rows are queued again)."""
        async with self.lock:
            st = self.stats
            try:
                rows = await self.write()
            except BaseException as exc:
                st.pending = len(self)
                if isinstance(exc, Exception):
                    st.errors += 1
                    log.error("%s: flush of %d rows failed, will retry: %r", self._what,
                              st.pending, exc)  # fmt: skip
                raise
            st.pending = len(self)
            if rows:
                st.rows_written += rows
                st.flushes += 1
                st.last_flush_ms = self._clock.now_ms()
                st.max_batch = max(st.max_batch, rows)
            return rows

    async def write(self) -> int:
        """Write every pending row in one transaction; returns how many. On an error or a cancel
        the transaction is rolled back and the rows are queued again in front of newer ones,
        unless the COMMIT had landed."""
        lists = {name: rows[:] for name, rows in self.lists.items()}
        maps = {name: dict(rows) for name, rows in self.maps.items()}
        for rows in self.lists.values():
            rows.clear()
        for pending in self.maps.values():
            pending.clear()
        n = sum(map(len, lists.values())) + sum(map(len, maps.values()))
        if not n:
            return 0
        conn = self._conn
        commit_sent = False
        try:
            # BEGIN inside the try: a cancel that lands while the connection's thread runs it
            # must still roll back, or every later BEGIN fails on the open transaction
            await conn.execute("BEGIN IMMEDIATE")
            for name in (*self._list_names, *self._map_names):
                rows = lists[name] if name in lists else list(maps[name].values())
                if rows:
                    await self._writers[name](conn, rows)
            commit_sent = True
            await conn.execute("COMMIT")
        except BaseException:
            # the connection's thread runs the ROLLBACK after whatever was sent before it
            try:
                await conn.execute("ROLLBACK")
                committed = False
            except sqlite3.Error:  # no transaction open: BEGIN never ran, or the COMMIT landed
                committed = commit_sent
            if not committed:
                self._requeue(lists, maps)
            raise
        return n

    def _requeue(self, lists: dict[str, list[Row]], maps: dict[str, dict[Any, Row]]) -> None:
        for name, taken in lists.items():
            self.lists[name][:0] = taken
        for name, older in maps.items():
            newer = self.maps[name]
            merged = {**older, **newer}
            newer.clear()
            newer.update(merged)


async def final_flush(flush: Callable[[], Awaitable[int]], pending: Callable[[], int],
                      what: str, attempts: int = 3) -> None:  # fmt: skip
    """Flush before closing, retrying a failed write; say how many rows were left if none
    succeeds."""
    for attempt in range(attempts):
        try:
            await flush()
            return
        except sqlite3.Error:
            if attempt == attempts - 1:
                log.error("%s closed with %d rows unwritten", what, pending())
