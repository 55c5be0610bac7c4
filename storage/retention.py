"""Retention: the oldest trades deleted in short transactions, the old recent ids trimmed.

Each transaction deletes the oldest trades by key range (the table is keyed by time, so they
are the first pages of the table) and is sized from the one before to take about
``PRUNE_HOLD_S``: the writer, which waits for the same lock, is held up by one of them at a
time, never by the whole day. Between transactions ``checkpoint`` copies the write-ahead log
back into the file from another connection, outside the lock: a day's deletes write hundreds
of MiB of log, and the checkpoints SQLite would run inside a COMMIT took 100-300 ms each.
SQLite puts the freed pages on its free list and the next inserts reuse them, so a file that
keeps N days stays the size of N days.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from storage.trade_codec import BUCKET_SHIFT, key_floor

PRUNE_CHUNK = 5_000  # trades deleted by the first transaction of a prune; later ones adapt
PRUNE_MIN, PRUNE_MAX = 500, 200_000
PRUNE_HOLD_S = 0.01  # what each transaction aims to take
RECENT_KEEP = 2  # dedupe buckets kept in recent_ids below the newest trade's

Statements = list[tuple[str, tuple[Any, ...]]]
Transaction = Callable[[Statements], Awaitable[tuple[list[int], float]]]
Checkpoint = Callable[[], Awaitable[None]]

# the n oldest trades below the cutoff: those below the n-th one's key (or all below the cutoff)
DELETE_OLDEST = """
    DELETE FROM trade_rows WHERE key < coalesce(
        (SELECT key FROM trade_rows WHERE key < ?1 ORDER BY key LIMIT 1 OFFSET ?2), ?1)
"""
COUNT_DELETED = "UPDATE meta SET value = value - changes() WHERE name = 'trades'"


@dataclass(slots=True)
class PruneReport:
    deleted: int = 0
    holds_ms: list[float] = field(default_factory=list)  # each transaction's time under the lock


async def prune_trades(
    transaction: Transaction, checkpoint: Checkpoint, older_than_ms: int
) -> PruneReport:
    report = PruneReport()
    cutoff = key_floor(older_than_ms)
    report.deleted = await _in_chunks(
        transaction,
        checkpoint,
        report,
        lambda n: [(DELETE_OLDEST, (cutoff, n)), (COUNT_DELETED, ())],
    )
    _, held = await transaction(
        [
            ("DELETE FROM feed_gaps WHERE ts_ms < ?", (older_than_ms,)),
            ("DELETE FROM gap_recoveries WHERE ts_ms < ?", (older_than_ms,)),
            (
                "DELETE FROM recent_buckets WHERE bucket < "
                f"(SELECT max(key) >> {BUCKET_SHIFT} FROM trade_rows) - {RECENT_KEEP}",
                (),
            ),
        ]
    )
    report.holds_ms.append(held * 1000)
    # the ids of the buckets no longer listed (a bucket needed again is read in again whole)
    await _in_chunks(transaction, checkpoint, report, lambda n: [(TRIM_RECENT, (n,))])
    return report


TRIM_RECENT = """
    DELETE FROM recent_ids WHERE (bucket, tid) IN (SELECT bucket, tid FROM recent_ids
        WHERE bucket < coalesce((SELECT min(bucket) FROM recent_buckets), 1 << 62) LIMIT ?)
"""


async def _in_chunks(
    transaction: Transaction,
    checkpoint: Checkpoint,
    report: PruneReport,
    statements: Callable[[int], Statements],
) -> int:
    """Run ``statements(n)`` (the first deletes up to n rows) in transactions until one deletes
    fewer than n, each n sized from the last one's time to take about PRUNE_HOLD_S (growing at
    most twofold a step), with a checkpoint between them."""
    n, total = PRUNE_CHUNK, 0
    while True:
        counts, held = await transaction(statements(n))
        total += counts[0]
        report.holds_ms.append(held * 1000)
        if counts[0] < n:
            return total
        await checkpoint()
        n = max(PRUNE_MIN, min(PRUNE_MAX, 2 * n, int(n * PRUNE_HOLD_S / max(held, 1e-4))))
