"""The pipeline on real storage: a trade stamped in the future is stored as the exchange sent it
but windowed at its receipt, so it cannot push the windows ahead and empty the board."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import pytest

from aggregator import WINDOWS, Aggregator
from analytics import MODES, Analytics
from clock import ManualClock
from database import Database
from ingest.driver import World, book_levels, open_world
from ingest.event_time import EventTimers
from kalshi.book_store import BookStore
from models import (
    BookDelta,
    BookSnapshot,
    Event,
    FeedGap,
    GapKind,
    LifecycleEvent,
    LifecycleKind,
    MarketInfo,
    MarketsFetched,
    Side,
    Trade,
)
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


def _night(seed: int, steps: tuple[int, ...] = (0, 0, 0, 1, 7, 40)) -> list[Event]:
    """Runs of trades (some long, some stamped far ahead of their receipt) between book
    snapshots and deltas, market details, lifecycle events and a gap, ``steps`` ms apart."""
    rng = random.Random(seed)
    tickers = [f"KXN-{i}" for i in range(30)]
    books = tickers[:3]
    out: list[Event] = []
    now = T0
    seq = 0

    def book_event(ticker: str) -> Event:
        nonlocal seq
        seq += 1
        if rng.random() < 0.1:
            return BookSnapshot(ticker, ((4000, 500),), ((5800, 300),), 9, seq, now, now)
        return BookDelta(ticker, rng.choice([Side.YES, Side.NO]), rng.choice([4000, 5800]),
                         rng.choice([-50, 30]), 9, seq, now, now)  # fmt: skip

    out += [BookSnapshot(t, ((4000, 500),), ((5800, 300),), 9, 0, now, now) for t in books]
    for i in range(3_000):
        now += rng.choice(steps)
        roll = rng.random()
        if roll < 0.12:
            out.append(book_event(rng.choice(books)))
        elif roll < 0.125:
            info = MarketInfo(rng.choice(tickers), "KXN", "KXN", f"market {i}", "", "active",
                              None, None)  # fmt: skip
            out.append(MarketsFetched((info,), now, now))
        elif roll < 0.13:
            out.append(LifecycleEvent(rng.choice(tickers), LifecycleKind.DETERMINED, now, now,
                                      result="yes"))  # fmt: skip
        elif roll < 0.131:
            out.append(FeedGap(GapKind.BOOK, "orderbook_delta", 9, seq, seq + 2, books[0],
                               now, now, now))  # fmt: skip
        else:
            ts = now - rng.randrange(0, 3_000)
            if rng.random() < 0.01:
                ts = now + 2 * FUTURE_TOLERANCE_MS  # windowed at its receipt
            out.append(
                Trade(
                    f"n{i}",
                    rng.choice(tickers),
                    rng.randrange(1, 10_000),
                    rng.randrange(1, 10**8),
                    rng.choice([Side.YES, Side.NO]),
                    ts,
                    now,
                )
            )
    return out


async def _world_state(world: World, db: Path) -> dict[str, object]:
    await world.db.flush()
    with sqlite3.connect(db) as conn:
        stored = list(conn.iterdump())
    agg, an, now = world.aggregator, world.analytics, world.clock.now_ms()
    return {
        "stats": world.pipeline.stats,
        "tape": list(world.pipeline.recent),
        "books": book_levels(world.books),
        "stale": sorted(t for t, b in world.books.all_books().items() if b.stale),
        "hot": {w: agg.hot(w, 100) for w in WINDOWS},
        "large": agg.large_trades(100),
        "analytics": {mode: an.view(mode, now) for mode in MODES},
        "stored": stored,
        "clock": now,
        "timers": world.timers.fired,
    }


@pytest.mark.parametrize(
    ("seed", "timed", "client"),
    [(0, True, False), (1, True, True), (2, False, True), (3, False, False)],
)
async def test_a_batch_leaves_the_world_as_its_events_one_by_one(
    seed: int, timed: bool, client: bool, tmp_path: Path
) -> None:
    """The same world after each timer and at the end, whether the events come one by one or
    in batches split anywhere (many run past the time a timer is due); with a browser on the
    hub, the same messages to it."""
    # timed: a few hundred events between two of the hub's flushes, so batches hold long runs
    events = _night(seed, (0, 0, 0, 0, 1) if timed else (0, 0, 0, 1, 7, 40))
    rng = random.Random(seed)
    states = []
    for name in ("one", "batched"):
        world = await open_world(tmp_path / f"{name}.db", T0)
        world.hub._queue_size = 100_000  # a browser that keeps up with all of it
        sub = world.hub.subscribe("c", lambda: {"type": "snapshot"}) if client else None
        ticks: list[tuple[object, ...]] = []
        if timed:

            def look(w: World = world, ticks: list[tuple[object, ...]] = ticks) -> None:
                now = w.clock.now_ms()
                ticks.append((now, w.pipeline.stats.trades, w.aggregator.hot("1m", 5),
                              w.analytics.view("hour", now), book_levels(w.books)))  # fmt: skip

            world.timers.every(100, "look", look)
        else:  # no timers at all (not even the hub's): every batch may be taken whole
            world.timers = EventTimers(world.clock)
            world.pipeline._on_event_time = world.timers.at
        try:
            if name == "one":
                for event in events:
                    world.pipeline.handle(event)
            else:
                i = 0
                while i < len(events):
                    batch = events[i : i + rng.choice([1, 10, 100, 700])]
                    i += len(batch)
                    world.pipeline.handle_batch(batch, world.timers.next_due_ms)
            state = await _world_state(world, tmp_path / f"{name}.db")
            if sub is not None:
                world.hub.flush_trades()  # what is pending (all of it, with no timers)
                sent = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
                state["sent"] = (sent, sub.dropped)
                assert len(sent) > (5 if timed else 1) and not sub.dropped
            states.append((state, ticks))
        finally:
            await world.close()
    (one, one_ticks), (batched, batched_ticks) = states
    assert batched == one
    assert batched_ticks == one_ticks and (len(one_ticks) > 3 or not timed)
    assert one["stats"].future_stamped > 0 and one["stats"].gaps > 0  # type: ignore[attr-defined]


async def test_with_a_listener_each_trade_sees_the_windows_as_of_itself(tmp_path: Path) -> None:
    events = [e for e in _night(7) if isinstance(e, Trade)][:500]
    seen: dict[str, list[tuple[int, int]]] = {}
    for name in ("one", "batched"):
        world = await open_world(tmp_path / f"{name}.db", T0)
        agg = world.aggregator
        looks = seen[name] = []

        def look(e: Event, agg: Aggregator = agg, looks: list[tuple[int, int]] = looks) -> None:
            assert isinstance(e, Trade)
            day = agg.market(e.ticker, "24h")
            looks.append((agg.market_count(), day.trades if day else 0))

        world.pipeline.listen("look", look, (Trade,))
        try:
            if name == "one":
                for event in events:
                    world.pipeline.handle(event)
            else:
                world.pipeline.handle_batch(events, None)
        finally:
            await world.close()
    assert seen["batched"] == seen["one"]
    assert len(set(seen["one"])) > 50  # the windows moved from trade to trade
