"""The backtest driver: a recording through the live path, synchronously, on event time.

``drive`` reads records, turns them into events with the live feed's dispatcher
(``ingest.replay.RecordPlayer``) and hands each to the pipeline's ``handle``, with no awaits and
no wall clock. The clock is the consumer's: the pipeline moves the ManualClock to each event's
receipt time as it handles it (``Pipeline(on_event_time=timers.at)``), and periodic work runs
from that clock at the same event-time boundaries however fast the loop goes (``EventTimers``):
the hub's trade flush here, and whatever the caller adds to ``World.timers`` (the board's 1 s
tick lives in ``web``, above this package, so the caller registers it).

Opening and closing the database and writing its batches are the only awaits, and they sit
outside the event loop of the backtest (``run_recording`` flushes every ``flush_every`` events).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aggregator import Aggregator
from analytics import Analytics
from clock import ManualClock
from database import Database
from ingest.event_time import EventTimers
from ingest.recording import Row, read_header
from ingest.replay import RecordPlayer
from kalshi.book_store import BookStore
from models import Event
from storage.market_meta import MarketDirectory
from trade_processor import Pipeline
from websocket_handler import Hub

HUB_FLUSH_MS = 50  # the hub's batch_ms: its flush on event time
BATCH_EVENTS = 4_096  # events read ahead at most before the pipeline handles them
_NEVER = 1 << 62  # a time no timer waits for
Levels = tuple[tuple[int, int], ...]


@dataclass(slots=True)
class World:
    """Everything a backtest assembles, as the app does, minus sockets and browsers."""

    clock: ManualClock
    timers: EventTimers
    db: Database
    aggregator: Aggregator
    analytics: Analytics
    books: BookStore
    hub: Hub
    meta: MarketDirectory
    pipeline: Pipeline

    async def close(self) -> None:
        await self.db.flush()
        await self.db.close()


@dataclass(frozen=True, slots=True)
class DriveSummary:
    records: int
    events: int
    trades: int
    skipped_lines: int
    bad_frames: int
    timer_runs: int
    end_ms: int
    books: dict[str, tuple[Levels, Levels]] = field(default_factory=dict)  # ticker -> (yes, no)


def book_levels(books: BookStore) -> dict[str, tuple[Levels, Levels]]:
    """Each book's levels, sorted by price: yes bids, no bids."""
    return {
        t: (tuple(sorted(b.yes.items())), tuple(sorted(b.no.items())))
        for t, b in sorted(books.all_books().items())
    }


async def open_world(db_path: str | Path, start_ms: int) -> World:
    clock = ManualClock(start_ms)
    timers = EventTimers(clock)
    db = await Database.open(db_path, clock=clock)
    aggregator, analytics = Aggregator(), Analytics()
    hub = Hub(clock=clock, batch_ms=HUB_FLUSH_MS)  # no clients: nothing is sent
    meta = MarketDirectory(db=db, fetch=None, clock=clock)
    books = BookStore()
    events: asyncio.Queue[Event] = asyncio.Queue()  # unused: the driver calls handle itself
    pipeline = Pipeline(events=events, db=db, aggregator=aggregator, analytics=analytics,
                        hub=hub, meta=meta, clock=clock, books=books,
                        on_event_time=timers.at)  # fmt: skip
    timers.every(HUB_FLUSH_MS, "hub-flush", hub.flush_trades)
    return World(clock, timers, db, aggregator, analytics, books, hub, meta, pipeline)


def drive(
    world: World, player: RecordPlayer, records: Iterator[Row], *, limit: int | None = None
) -> int:
    """Handle the events of ``records`` (Records or their rows: ``player.rows()`` reads the
    faster), at least ``limit``, stopping at the end of the record that reaches it (all if
    None); returns the events handled, 0 at the end. Synchronous: nothing here awaits or reads
    the wall clock.

    The events of the records between two timer boundaries go to the pipeline together
    (``Pipeline.handle_batch``, told when the next timer is due); a record at or past a
    boundary has its events handled one by one, so the timers run as they would with each
    event handled alone. Records are read ahead of handling by at most one batch: the
    dispatcher never depends on what the pipeline did (the books' repairs and the controls
    need a connection, which a replay has not)."""
    pipeline = world.pipeline
    handle, handle_batch = pipeline.handle, pipeline.handle_batch
    timers = world.timers
    d = player.dispatcher
    dispatch, events, controls = d.dispatch, d.events, d.controls
    play = player.play
    due = timers.next_due_ms
    until = due if due is not None else _NEVER
    n = 0
    stop = limit if limit is not None else _NEVER
    room = min(BATCH_EVENTS, stop)  # events to read before the pipeline takes them
    for rec in records:
        _, recv_ms, kind, body = rec
        if recv_ms >= until:  # a timer may run: what came before goes first
            if events:
                n += len(events)
                handle_batch(events, until)
                events.clear()
            for event in play(rec):
                handle(event)
            n += len(events)
            events.clear()
            due = timers.next_due_ms
            until = due if due is not None else _NEVER
            if n >= stop:
                break
            room = min(BATCH_EVENTS, stop - n)
            continue
        if kind == "ws":  # player.play, inlined for the common case
            dispatch(body, recv_ms)
            if controls:
                controls.clear()  # no connection to act on: the recording holds the answers
        else:
            play(rec)  # into the same list
        if len(events) >= room:
            n += len(events)
            handle_batch(events, until)
            events.clear()
            if n >= stop:
                break
            room = min(BATCH_EVENTS, stop - n)
    if events:
        n += len(events)
        handle_batch(events, until)
        events.clear()
    return n


async def run_recording(
    path: str | Path,
    db_path: str | Path,
    *,
    setup: Callable[[World], None] | None = None,
    flush_every: int = 50_000,
) -> DriveSummary:
    """Replay ``path`` at full speed into a fresh database at ``db_path``. ``setup`` gets the
    world before the first event (to register a board tick, listeners, strategies)."""
    header = read_header(path)
    world = await open_world(db_path, header["started_ms"])
    if setup is not None:
        setup(world)
    player = RecordPlayer(path)
    records = player.rows()
    events_n = 0
    try:
        while n := drive(world, player, records, limit=flush_every):
            events_n += n
            await world.db.flush()  # between events: the clock and the order are untouched
    finally:
        await world.close()
    p = world.pipeline.stats
    return DriveSummary(
        records=player.read.records, events=events_n, trades=p.trades,
        skipped_lines=player.read.skipped, bad_frames=player.stats.bad_frames,
        timer_runs=world.timers.fired, end_ms=world.clock.now_ms(),
        books=book_levels(world.books),
    )  # fmt: skip
