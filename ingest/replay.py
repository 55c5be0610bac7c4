"""Play a recording back, through the live feed's own frame dispatcher.

``RecordPlayer`` turns records into events, synchronously: frames go through
``kalshi.dispatch.FrameDispatcher`` (the parser, seq checks and ``trade_id`` dedupe of the live
feed) and backfilled trades through the same dedupe, so a trade a frame and a backfill both
delivered comes once, as live. Recorded balldontlie responses become games and quotes through
``nba.wire.events_from_response`` and the poller's own change filter (``nba.poll.Changes``), so
the events are those the live run emitted; recorded matches become ``NbaMarketsMatched``.
Damaged lines and frames are counted, logged and skipped.

``ReplaySource`` is the app's source for ``--source replay``: it only reads and enqueues. Time
during a replay is the recording's, and it is the consumer's to set: the pipeline moves the
ManualClock to each event's receipt time as it handles it (``Pipeline(on_event_time=...)``), so
windows, analytics and periodic work see the times they saw live, however far ahead the reader
is. ``speed`` is "max" (as fast as the pipeline takes events) or a factor of real time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from clock import Clock
from ingest.recording import (
    ReadStats,
    Record,
    Row,
    market_from_fields,
    matched_from_fields,
    read_recording,
    read_rows,
    series_from_fields,
    trade_from_fields,
)
from kalshi.dispatch import FeedStats, FrameDispatcher
from models import Event, FeedState, FeedStatus, MarketsFetched, SeriesFetched
from nba.errors import NbaWireError
from nba.poll import Changes
from nba.wire import events_from_response

log = logging.getLogger(__name__)

YIELD_EVERY = 500  # records between yields to the loop at max speed


class RecordPlayer:
    """Records in, events out, with the live feed's dispatcher."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        # every book in the recording: it holds only the books the live run followed
        self.dispatcher = FrameDispatcher(want_books=None, name=self.path)
        self.stats: FeedStats = self.dispatcher.stats
        self.read = ReadStats()
        self.nba_changes = Changes()

    def records(self) -> Iterator[Record]:
        return read_recording(self.path, self.read)

    def rows(self) -> Iterator[Row]:
        """The records as plain tuples (``read_rows``), for the backtest driver's loop."""
        return read_rows(self.path, self.read)

    def play(self, rec: Row) -> list[Event]:
        """The events of one record (a Record or its row), in order. The list is the
        dispatcher's, reused: the caller uses it before the next call and clears it."""
        d = self.dispatcher
        line, recv_ms, kind, body = rec
        if kind == "ws":
            d.dispatch(body, recv_ms)
            if d.controls:
                d.controls.clear()  # no connection to act on: the recording holds the answers
            return d.events
        if kind == "markets":
            try:
                infos = tuple(market_from_fields(m) for m in body)
            except ValueError as exc:
                self._bad("markets", line, exc)
                return d.events
            d.events.append(MarketsFetched(infos, recv_ms, recv_ms))
            return d.events
        if kind == "series":
            try:
                series = tuple(series_from_fields(s) for s in body)
            except ValueError as exc:
                self._bad("series", line, exc)
                return d.events
            d.events.append(SeriesFetched(series, recv_ms, recv_ms))
            return d.events
        if kind == "nba":
            path, text = body
            try:
                found = events_from_response(path, text.encode(), recv_ms)
            except (NbaWireError, ValueError) as exc:
                self._bad("nba", line, exc)
                return d.events
            d.events.extend(self.nba_changes.changed(found))
            return d.events
        if kind == "nba_matches":
            try:
                d.events.append(matched_from_fields(body, recv_ms))
            except ValueError as exc:
                self._bad("nba_matches", line, exc)
            return d.events
        try:
            trade = trade_from_fields(body, recv_ms)
        except ValueError as exc:
            self._bad("backfill", line, exc)
            return d.events
        if d.seen.add(trade.trade_id):
            self.stats.trades += 1
            self.stats.trades_recovered += 1
            d.events.append(trade)
        return d.events

    def _bad(self, kind: str, line: int, exc: Exception) -> None:
        """A record that does not convert: counted and logged, and skipped."""
        self.stats.bad_frames += 1
        log.warning("%s line %d: bad %s record: %s", self.path, line, kind, exc)


class ReplaySource:
    def __init__(
        self, path: str, *, out: asyncio.Queue[Event], clock: Clock, speed: str = "max"
    ) -> None:
        self.path = path
        self._out = out
        self._clock = clock
        self._factor = None if speed == "max" else float(speed)
        self._player = RecordPlayer(path)
        self.stats = self._player.stats
        self.read = self._player.read
        self.finished = asyncio.Event()

    async def run(self) -> None:
        player = self._player
        first_ms: int | None = None
        started = time.monotonic()
        await self._status(FeedState.CONNECTED, f"replaying {self.path}", None)
        last_ms: int | None = None
        for n, rec in enumerate(player.records(), start=1):
            last_ms = rec.recv_ms
            if first_ms is None:
                first_ms = rec.recv_ms
            if self._factor is not None:
                due = started + (rec.recv_ms - first_ms) / 1000 / self._factor
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            events = player.play(rec)
            for event in events:
                await self._out.put(event)
            events.clear()
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        log.info("replay of %s done: %d records, %d trades, %d damaged lines skipped, "
                 "%d bad frames", self.path, self.read.records, self.stats.trades,
                 self.read.skipped, self.stats.bad_frames)  # fmt: skip
        done = f"replay finished: {self.stats.trades} trades"
        await self._status(FeedState.STOPPED, done, last_ms)
        self.finished.set()

    async def _status(self, state: FeedState, detail: str, at_ms: int | None) -> None:
        # stamped with the recording's time, not the clock's: the reader is ahead of the clock
        now = at_ms if at_ms is not None else self._clock.now_ms()
        await self._out.put(FeedStatus(state, detail, now, now))
