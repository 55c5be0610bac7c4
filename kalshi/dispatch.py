"""The frame dispatcher: one raw WebSocket frame in, the events it means out. Pure and synchronous.

The live feed and the replay of a recording both hand every frame to a ``FrameDispatcher``, so a
recording goes through exactly the parsing, seq checks, ``trade_id`` dedupe and book filtering
that the live run did. What needs a connection (sending ``get_snapshot``, asking REST for the
trades of a gap, following a subscription) is left to the caller as a control in ``controls``.

After ``dispatch`` the caller emits ``events`` in order, acts on ``controls``, and clears both.
The two lists are the dispatcher's own and reused, so the hot path allocates nothing beyond what
the parser does.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kalshi import wire as wire
from kalshi.orderbook import SeqTracker
from models import BookDelta, BookSnapshot, Event, FeedGap, GapKind, GapRecovered, Trade

log = logging.getLogger(__name__)

_parse_frame = wire.parse_frame  # per frame: one lookup fewer
BOOK_CHANNEL = "orderbook_delta"
BAD_FRAME_LOG_CHARS = 300


@dataclass(slots=True)
class FeedStats:
    frames: int = 0
    trades: int = 0
    bad_frames: int = 0
    bad_rest_rows: int = 0  # backfilled `/markets/trades` rows that did not parse, skipped
    reconnects: int = 0
    trade_gaps: int = 0
    book_gaps: int = 0
    gaps_recovered: int = 0
    trades_recovered: int = 0
    last_trade_ts_ms: int | None = None
    last_frame_recv_ms: int | None = None
    connected: bool = False
    since_ms: int | None = None  # when ``connected`` last changed (None: the feed never ran)
    last_error: str = ""  # why the last connection failed or ended


# an id added without its exchange time: its generation is never old enough to forget by time
UNDATED = 1 << 62


class RecentIds:
    """The ids seen lately, exactly: a set of the id texts themselves (no hashes, so no false
    positives), forgotten by exchange time as far as the owner allows, and by count beyond that.

    Ids come in generations of ``generation`` adds, each sealed with the newest exchange time
    added to it. When one is sealed, ``keep_from()`` is asked for the oldest exchange time that
    must still be remembered (for the feed: how far back a backfill can still reach), and every
    sealed generation wholly older than that is forgotten, oldest first (one that is not holds
    back those after it, which only keeps more). ``capacity`` bounds the ids held
    whatever ``keep_from`` says, oldest first, one by one: a backfill held back for long then
    brings back some trades already delivered, and SQLite's unique key keeps them out of storage.
    Without ``keep_from`` (a replay) only the capacity forgets, as before.

    The hot path is one set lookup, as it was: at 2,000 trades/s the feed holds ~10 s of ids
    (~21,000, ~4 MB) instead of the capacity (500,000, ~60 MB). ``bench/bench_dedupe.py``
    measures it beside the capped set it replaced and ids held as 128-bit ints (~86 bytes an id
    instead of ~127, but ~1.2 us an add instead of ~0.3: the int has to be parsed and checked).
    """

    def __init__(
        self,
        capacity: int = 500_000,
        *,
        generation: int = 4_096,
        keep_from: Callable[[], int | None] | None = None,
    ) -> None:
        self._capacity = capacity
        self._generation = max(1, generation)
        self._keep_from = keep_from
        self._set: set[str] = set()
        self._order: deque[str] = deque()  # oldest first
        # per sealed generation, oldest first: (ids added up to its end, its newest exchange time)
        self._marks: deque[tuple[int, int]] = deque()
        self._forgotten = 0  # ids ever forgotten: the ones popped from the left of _order
        self._newest = -UNDATED  # of the open generation
        self._left = self._generation  # adds until the open generation is sealed

    def add(self, item: str, ts_ms: int = UNDATED) -> bool:
        """True if ``item`` was not already present. ``ts_ms`` is its exchange time; without it
        (UNDATED) its generation is forgotten only past the capacity."""
        s = self._set
        if item in s:
            return False
        s.add(item)
        self._order.append(item)
        if ts_ms > self._newest:
            self._newest = ts_ms
        if len(s) > self._capacity:
            s.discard(self._order.popleft())
            self._forgotten += 1
        self._left -= 1
        if not self._left:
            self._seal()
        return True

    def _seal(self) -> None:
        marks = self._marks
        marks.append((self._forgotten + len(self._order), self._newest))
        self._newest = -UNDATED
        self._left = self._generation
        keep = self._keep_from() if self._keep_from is not None else None
        order, s = self._order, self._set
        while marks:
            end, newest = marks[0]
            if end > self._forgotten and (keep is None or newest >= keep):
                break
            marks.popleft()
            for _ in range(end - self._forgotten):
                s.discard(order.popleft())
            self._forgotten = max(self._forgotten, end)

    def __contains__(self, item: object) -> bool:
        return item in self._set

    def __len__(self) -> int:
        return len(self._set)


class _Seqs(SeqTracker):
    """The tracker, with the per-frame check that builds no ``SeqCheck``."""

    def skipped(self, sid: int, seq: int) -> int | None:
        """Record ``seq`` for ``sid``; the seq expected if this one skipped it, else None."""
        last_seen = self._last
        last = last_seen.get(sid)
        last_seen[sid] = seq
        return None if last is None or seq == last + 1 else last + 1


@dataclass(frozen=True, slots=True)
class BackfillWanted:
    """The trade stream skipped a seq: REST must fill in trades from ``from_ms``."""

    from_ms: int
    gap: FeedGap


@dataclass(frozen=True, slots=True)
class SnapshotsWanted:
    """These books just went stale on a gap: ask the exchange for their snapshots."""

    tickers: tuple[str, ...]
    now_ms: int


Control = wire.Subscribed | wire.Ok | wire.ErrorReply | wire.Unsubscribed
Action = Control | BackfillWanted | SnapshotsWanted


class FrameDispatcher:
    """Parse, check and filter raw frames.

    ``want_books`` is the set of books followed (the feed changes it as the user follows and
    unfollows), or None to take every book in the frames, as a replay does: the recording holds
    only the books the live run followed. ``stale_since`` holds each book waiting for a snapshot
    (its deltas are dropped until one comes); ``book_gaps`` the stale books that had a FeedGap,
    whose snapshot is a recovery. ``dedupe_keep_from`` is ``RecentIds``'s ``keep_from``: the
    oldest exchange time whose trade ids must still be remembered.
    """

    def __init__(
        self,
        *,
        stats: FeedStats | None = None,
        want_books: set[str] | None = None,
        dedupe_capacity: int = 500_000,
        dedupe_keep_from: Callable[[], int | None] | None = None,
        dedupe_generation: int = 4_096,
        watermark_ms: int | None = None,
        name: str = "kalshi ws",
    ) -> None:
        self.stats = stats if stats is not None else FeedStats()
        self.want_books = want_books
        self.seen = RecentIds(
            dedupe_capacity, generation=dedupe_generation, keep_from=dedupe_keep_from
        )
        self.watermark_ms = watermark_ms  # exchange ts of the last live trade
        self.seq = _Seqs()
        self.sids: dict[str, int] = {}
        self.sid_channel: dict[int, str] = {}
        self.stale_since: dict[str, int] = {}  # every stale book, new ones included
        self.book_gaps: set[str] = set()
        self.events: list[Event] = []
        self.controls: list[Action] = []
        self._seen_books: set[str] = set()  # with want_books None: the books snapshots came for
        self._name = name

    def reset_connection(self, now_ms: int) -> None:
        """A new connection: sids and seqs start again, and every followed book is stale until
        its snapshot."""
        self.sids.clear()
        self.sid_channel.clear()
        self.seq.reset()
        for t in self.want_books or ():
            self.stale_since.setdefault(t, now_ms)

    def wants(self, ticker: str) -> bool:
        return self.want_books is None or ticker in self.want_books

    def dispatch(self, raw: str | bytes, recv_ms: int) -> None:
        stats = self.stats
        stats.frames += 1
        stats.last_frame_recv_ms = recv_ms
        try:
            m = _parse_frame(raw, recv_ms)
        except wire.WireError as exc:
            stats.bad_frames += 1
            text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            log.warning("%s: bad kalshi frame (%s): %.*s", self._name, exc, BAD_FRAME_LOG_CHARS,
                        text)  # fmt: skip
            return
        p = m.payload
        seq = m.seq
        if seq is not None and (sid := m.sid) is not None:
            expected = self.seq.skipped(sid, seq)
            if expected is not None:
                self._seq_gap(sid, expected, seq, recv_ms)
        if type(p) is Trade:
            wm = self.watermark_ms
            if wm is None or p.ts_ms > wm:
                self.watermark_ms = wm = p.ts_ms
            stats.last_trade_ts_ms = wm
            if self.seen.add(p.trade_id, p.ts_ms):
                stats.trades += 1
                self.events.append(p)
        elif type(p) is BookDelta:
            if p.ticker not in self.stale_since and self.wants(p.ticker):
                self.events.append(p)  # else a fresh snapshot will supersede it
        elif type(p) is BookSnapshot:
            self._snapshot(p)
        elif isinstance(p, wire.Subscribed):
            self.sids[p.channel] = p.sid
            self.sid_channel[p.sid] = p.channel
            self.seq.reset(p.sid)  # a new subscription's seq starts again
            self.controls.append(p)
        elif isinstance(p, wire.Unsubscribed):
            if p.sid is not None:
                self.sids.pop(self.sid_channel.pop(p.sid, ""), None)
            self.controls.append(p)
        elif isinstance(p, (wire.Ok, wire.ErrorReply)):
            self.controls.append(p)
        else:
            self.events.append(p)

    def dedupe(self, trades: list[Trade]) -> list[Trade]:
        """The backfilled ``trades`` not delivered yet (all of them are remembered)."""
        return [t for t in trades if self.seen.add(t.trade_id, t.ts_ms)]

    def book_gap(
        self, tickers: list[str], sid: int | None, expected: int | None, got: int | None, now: int
    ) -> list[str]:
        """Mark ``tickers`` stale, with a FeedGap each that was not stale already; returns those."""
        fresh = [t for t in tickers if t not in self.stale_since]
        for t in fresh:
            self.stats.book_gaps += 1
            self.stale_since[t] = now
            self.book_gaps.add(t)
            self.events.append(FeedGap(GapKind.BOOK, BOOK_CHANNEL, sid, expected, got, t, now, now,
                                       now))  # fmt: skip
        return fresh

    def _seq_gap(self, sid: int, expected: int | None, got: int, recv_ms: int) -> None:
        channel = self.sid_channel.get(sid, "")
        log.warning("%s: seq gap on %s sid %d: expected %s got %d", self._name, channel, sid,
                    expected, got)  # fmt: skip
        if channel == "trade":
            self.stats.trade_gaps += 1
            from_ms = self.watermark_ms if self.watermark_ms is not None else recv_ms
            gap = FeedGap(GapKind.TRADE, channel, sid, expected, got, None, from_ms, recv_ms,
                          recv_ms)  # fmt: skip
            self.events.append(gap)
            self.controls.append(BackfillWanted(from_ms, gap))
        elif channel == BOOK_CHANNEL:
            # seq is per subscription, so any book on it may have missed the lost message
            books = self.want_books if self.want_books is not None else self._seen_books
            fresh = self.book_gap(sorted(books), sid, expected, got, recv_ms)
            if fresh:
                self.controls.append(SnapshotsWanted(tuple(fresh), recv_ms))

    def _snapshot(self, snap: BookSnapshot) -> None:
        if self.want_books is not None and snap.ticker not in self.want_books:
            return
        if self.want_books is None:
            self._seen_books.add(snap.ticker)
        since = self.stale_since.pop(snap.ticker, None)
        self.events.append(snap)
        # a book's first snapshot, or its resubscription after a reconnect, repairs no gap
        if since is not None and snap.ticker in self.book_gaps:
            self.book_gaps.discard(snap.ticker)
            self.stats.gaps_recovered += 1
            self.events.append(GapRecovered(GapKind.BOOK, since, snap.recv_ms, 0, snap.ticker,
                                            snap.ts_ms, snap.recv_ms))  # fmt: skip
