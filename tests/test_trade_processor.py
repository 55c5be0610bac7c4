"""The pipeline on real storage: a trade stamped in the future is stored as the exchange sent it
but windowed at its receipt, so it cannot push the windows ahead and empty the board."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aggregator import Aggregator
from analytics import Analytics
from clock import ManualClock
from database import Database
from kalshi.book_store import BookStore
from models import BookDelta, BookSnapshot, Event, FeedGap, GapKind, Side, Trade
from storage.market_meta import MarketDirectory
from trade_processor import FUTURE_TOLERANCE_MS, Pipeline
from websocket_handler import Hub

T0 = 1_780_000_000_000


async def test_future_stamped_trade_is_stored_as_sent_and_windowed_at_receipt(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    db = await Database.open(str(tmp_path / "t.db"), clock=clock, flush_interval_ms=10)
    try:
        agg, an = Aggregator(), Analytics()
        hub = Hub(clock=clock)
        pipe = Pipeline(
            events=asyncio.Queue(),
            db=db,
            aggregator=agg,
            analytics=an,
            hub=hub,
            meta=MarketDirectory(db=db, fetch=None),
            clock=clock,
        )
        pipe.handle(Trade("a", "KXA-1", 4_000, 100, Side.YES, T0 - 1_000, T0))
        near = T0 + FUTURE_TOLERANCE_MS  # within tolerance: believed
        pipe.handle(Trade("b", "KXA-1", 4_100, 100, Side.YES, near, T0))
        far = T0 + 3 * 3_600_000  # three hours ahead of its receipt
        pipe.handle(Trade("c", "KXB-1", 6_000, 200, Side.NO, far, T0))

        assert pipe.stats.future_stamped == 1
        assert agg.now_ms == near  # the far stamp did not move the windows
        a = agg.market("KXA-1", "1m")
        b = agg.market("KXB-1", "1m")
        assert a is not None and a.trades == 2
        assert b is not None and b.trades == 1 and b.last_ts_ms == T0
        assert an.view("hour", near).total_trades == 3

        await db.flush()
        stored = {t.trade_id: t for t in await db.recent_trades(limit=10)}
        assert stored["c"].ts_ms == far
    finally:
        await db.close()


async def test_books_are_the_pipelines_stale_on_a_gap_until_repaired_never_ahead(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    db = await Database.open(str(tmp_path / "b.db"), clock=clock)
    try:
        repairs: list[str] = []
        pipe = Pipeline(
            events=asyncio.Queue(), db=db, aggregator=Aggregator(), analytics=Analytics(),
            hub=Hub(clock=clock), meta=MarketDirectory(db=db, fetch=None), clock=clock,
            books=BookStore(repair=repairs.append),
        )  # fmt: skip
        b = "KXB-1"

        def at(seq: int) -> int:
            return T0 + seq

        events: list[Event] = [
            BookSnapshot(b, ((4000, 500),), ((5800, 300),), 9, 1, at(1), at(1)),
            BookDelta(b, Side.YES, 4000, -100, 9, 2, at(2), at(2)),
            Trade("t1", b, 4000, 100, Side.NO, at(2), at(2)),
            FeedGap(GapKind.BOOK, "orderbook_delta", 9, 4, 5, b, at(3), at(5), at(5)),
            BookDelta(b, Side.YES, 4100, 200, 9, 5, at(5), at(5)),  # after the hole: ignored
            BookSnapshot(b, ((4100, 50),), ((5800, 300),), 9, 6, at(6), at(6)),
            BookDelta(b, Side.NO, 5800, -400, 9, 7, at(7), at(7)),  # cannot go below zero
            BookSnapshot(b, ((4100, 50),), ((5700, 10),), 9, 8, at(8), at(8)),
        ]
        # What a listener sees while handling each event, and what the book must be then:
        # built from scratch with every event up to and including that one, and none after.
        seen: list[tuple[bool, list[tuple[int, int]], list[tuple[int, int]]] | None] = []

        def look(_: Event) -> None:
            book = pipe.books.book(b)
            seen.append(None if book is None else
                        (book.stale, book.levels(Side.YES), book.levels(Side.NO)))  # fmt: skip

        pipe.listen("look", look)
        for event in events:
            pipe.handle(event)
        expected = []
        for n in range(1, len(events) + 1):
            ref = BookStore()
            for event in events[:n]:
                ref.apply(event)
            book = ref.book(b)
            expected.append(None if book is None else
                            (book.stale, book.levels(Side.YES), book.levels(Side.NO)))  # fmt: skip
        assert seen == expected
        stale = [s[0] for s in seen if s is not None]
        assert stale == [False, False, False, True, True, False, True, False]
        assert seen[4] == (True, [(4000, 400)], [(5800, 300)])  # the delta in the hole: ignored
        assert repairs == [b]  # the broken delta asked the feed for a snapshot
    finally:
        await db.close()
