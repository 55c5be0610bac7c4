"""Play a recording back into the pipeline, through the live feed's own frame parser.

Time during a replay is the recording's: the replay moves a ManualClock to each record's receipt
time before handing its events on, so windows, analytics and anything the clock decides see the
same times they saw live. ``speed`` is "max" (as fast as the pipeline takes events) or a factor
of real time ("1", "10", ...). Duplicate trade ids (a frame and a backfill delivering the same
trade) are delivered once, as live. Damaged lines and frames are counted, logged and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time

from clock import ManualClock
from ingest.recording import ReadStats, Record, read_recording, trade_from_fields
from kalshi import wire as wire
from kalshi.feed import FeedStats, RecentIds
from models import Event, FeedState, FeedStatus, Trade

log = logging.getLogger(__name__)

YIELD_EVERY = 500  # records between yields to the loop at max speed


class ReplaySource:
    def __init__(
        self, path: str, *, out: asyncio.Queue[Event], clock: ManualClock, speed: str = "max"
    ) -> None:
        self.path = path
        self._out = out
        self._clock = clock
        self._factor = None if speed == "max" else float(speed)
        self.stats = FeedStats()
        self.read = ReadStats()
        self.finished = asyncio.Event()
        self._seen = RecentIds()
        self._last_seq: dict[int, int] = {}

    async def run(self) -> None:
        await self._status(FeedState.CONNECTED, f"replaying {self.path}")
        started = time.monotonic()
        first_ms: int | None = None
        for n, rec in enumerate(read_recording(self.path, self.read), start=1):
            if first_ms is None:
                first_ms = rec.recv_ms
            if self._factor is not None:
                due = started + (rec.recv_ms - first_ms) / 1000 / self._factor
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if rec.recv_ms > self._clock.now_ms():
                self._clock.set(rec.recv_ms)
            await self._play(rec)
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        log.info("replay of %s done: %d records, %d trades, %d damaged lines skipped, "
                 "%d bad frames", self.path, self.read.records, self.stats.trades,
                 self.read.skipped, self.stats.bad_frames)  # fmt: skip
        await self._status(FeedState.STOPPED, f"replay finished: {self.stats.trades} trades")
        self.finished.set()

    async def _play(self, rec: Record) -> None:
        stats = self.stats
        if rec.kind == "backfill":
            try:
                trade = trade_from_fields(rec.body, rec.recv_ms)
            except ValueError as exc:
                stats.bad_frames += 1
                log.warning("%s line %d: bad backfill record: %s", self.path, rec.line, exc)
                return
            if self._seen.add(trade.trade_id):
                stats.trades += 1
                stats.trades_recovered += 1
                await self._out.put(trade)
            return
        stats.frames += 1
        stats.last_frame_recv_ms = rec.recv_ms
        try:
            m = wire.parse_frame(rec.body, rec.recv_ms)
        except wire.WireError as exc:
            stats.bad_frames += 1
            log.warning("%s line %d: bad frame: %s", self.path, rec.line, exc)
            return
        if m.sid is not None and m.seq is not None:
            last = self._last_seq.get(m.sid)
            if last is not None and m.seq != last + 1:
                stats.trade_gaps += 1
            self._last_seq[m.sid] = m.seq
        p = m.payload
        if type(p) is Trade:
            stats.last_trade_ts_ms = max(stats.last_trade_ts_ms or 0, p.ts_ms)
            if self._seen.add(p.trade_id):
                stats.trades += 1
                await self._out.put(p)
        elif isinstance(p, (wire.Subscribed, wire.Ok, wire.ErrorReply, wire.Unsubscribed)):
            if isinstance(p, wire.Subscribed):
                self._last_seq.clear()
        else:
            await self._out.put(p)

    async def _status(self, state: FeedState, detail: str) -> None:
        now = self._clock.now_ms()
        await self._out.put(FeedStatus(state, detail, now, now))
