"""The pipeline: every event from the feed goes to storage, windows, analytics, the order books
and the hub.

It runs on the event loop and never awaits storage or browsers: the database takes rows into
its pending batch, the hub takes trades into its pending batch. Other consumers (the paper desk,
strategies) subscribe with ``listen`` and get every event in order; one failing listener is
logged, counted and, after repeated failures, switched off without stopping the others. The
order books are the pipeline's (``books``): a listener handling an event sees them exactly as of
that event, never ahead of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from aggregator import Aggregator
from analytics import Analytics
from clock import Clock
from database import Database
from kalshi.book_store import BookStore
from models import (
    BookDelta,
    BookSnapshot,
    BookUnfollowed,
    Event,
    EventFeeUpdate,
    FeedGap,
    FeedState,
    FeedStatus,
    GapRecovered,
    LifecycleEvent,
    MarketsFetched,
    SeriesFetched,
    Trade,
)
from storage.market_meta import MarketDirectory
from stream.messages import Pending
from websocket_handler import Hub
from windows import BATCH_MIN, TradeColumns

log = logging.getLogger(__name__)

DEFAULT_TIERS = (1_000_000_000, 5_000_000_000, 25_000_000_000)  # $1k, $5k, $25k taker notional
LISTENER_MAX_FAILURES = 10
RATE_SECONDS = 5
DRAIN_SLICE = 200  # events handled per turn of the loop: the hub and the feed get theirs between
FUTURE_TOLERANCE_MS = 5_000  # exchange stamps this far past our receipt are believed
_NEVER = 1 << 62  # a receipt time no timer waits for
_RUN_KINDS = frozenset({Trade, BookDelta, BookSnapshot})  # what a batched run of trades spans
_recv_ms = attrgetter("recv_ms")
_ticker = attrgetter("ticker")


class _Windowed:
    """A batch's trades as the windows and analytics are to see them, with their columns as
    read run by run (None where a run was too short to be worth it)."""

    __slots__ = ("parts", "trades")

    def __init__(self) -> None:
        self.trades: list[Trade] = []
        self.parts: list[tuple[Sequence[Trade], TradeColumns | None]] = []

    def add(self, trades: Sequence[Trade], cols: TradeColumns | None) -> None:
        self.trades += trades
        self.parts.append((trades, cols))

    def columns(self) -> TradeColumns | None:
        """All the columns, if there are enough trades to go to the windows in array steps."""
        if len(self.trades) < BATCH_MIN:
            return None
        return TradeColumns.concat([c if c is not None else TradeColumns.of(t)
                                    for t, c in self.parts])  # fmt: skip


def _positions(items: list[type], item: type) -> Iterator[int]:
    """Where ``item`` is in ``items``, in order (``list.index``: a scan in C)."""
    i = -1
    while True:
        try:
            i = items.index(item, i + 1)
        except ValueError:
            return
        yield i


def window_trade(trade: Trade, now_ms: int) -> Trade:
    """The trade as the windows should see it: one stamped more than FUTURE_TOLERANCE_MS after
    ``now_ms`` is placed at ``now_ms``, so a bad exchange clock cannot push every window into
    the future and empty the board. Storage keeps the exchange's own stamp."""
    if trade.ts_ms > now_ms + FUTURE_TOLERANCE_MS:
        return dataclasses.replace(trade, ts_ms=now_ms)
    return trade


def tier_of(notional: int, tiers: tuple[int, ...]) -> int:
    tier = 0
    for threshold in tiers:
        if notional >= threshold:
            tier += 1
    return tier


@dataclass(slots=True)
class PipelineStats:
    events: int = 0
    trades: int = 0
    gaps: int = 0
    gaps_recovered: int = 0
    trades_recovered: int = 0
    listener_errors: int = 0
    future_stamped: int = 0
    last_trade_ts_ms: int | None = None
    last_lag_ms: int | None = None
    state: FeedState = FeedState.CONNECTING
    state_detail: str = ""
    per_second: deque[tuple[int, int]] = field(
        default_factory=lambda: deque(maxlen=RATE_SECONDS + 1)
    )


@dataclass(slots=True)
class _Listener:
    name: str
    fn: Callable[[Event], None]
    kinds: tuple[type, ...] | None = None  # None: every event
    failures: int = 0
    enabled: bool = True


class Pipeline:
    def __init__(
        self,
        *,
        events: asyncio.Queue[Event],
        db: Database,
        aggregator: Aggregator,
        analytics: Analytics,
        hub: Hub,
        meta: MarketDirectory,
        clock: Clock,
        books: BookStore | None = None,
        tiers: tuple[int, ...] = DEFAULT_TIERS,
        recent_kept: int = 200,
        on_event_time: Callable[[int], None] | None = None,
    ) -> None:
        """``on_event_time`` is called with each event's receipt time before anything handles
        it: a replay moves its clock there (and runs the periodic work due on the way), so the
        clock is the consumer's, never ahead of the event being handled."""
        self._events = events
        self._db = db
        self._agg = aggregator
        self._analytics = analytics
        self._hub = hub
        self._meta = meta
        self._clock = clock
        self.books = books if books is not None else BookStore()
        self.tiers = tiers
        self.recent: deque[Pending] = deque(maxlen=recent_kept)  # the snapshot's tape
        self.stats = PipelineStats()
        self._listeners: list[_Listener] = []
        self._on_event_time = on_event_time

    def listen(
        self, name: str, fn: Callable[[Event], None], kinds: tuple[type, ...] | None = None
    ) -> None:
        """Call ``fn`` with each event (of ``kinds`` only, if given) after the pipeline's own
        handling, in the order listeners were added."""
        self._listeners.append(_Listener(name, fn, kinds))

    async def run(self) -> None:
        queue = self._events
        while True:
            event = await queue.get()  # returns at once, without yielding, while events wait
            self.handle(event)
            # Drain what is already queued without yielding per event, then give the loop a turn.
            for _ in range(min(queue.qsize(), DRAIN_SLICE)):
                self.handle(queue.get_nowait())
            await asyncio.sleep(0)

    def handle(self, event: Event) -> None:
        if self._on_event_time is not None:
            self._on_event_time(event.recv_ms)
        self.stats.events += 1
        if type(event) is Trade:
            self._on_trade(event)
        elif type(event) is BookDelta:
            self.books.on_delta(event)
        elif type(event) is BookSnapshot:
            self.books.on_snapshot(event)
        elif type(event) is BookUnfollowed:
            self.books.forget(event)
        elif isinstance(event, FeedGap):
            self.books.on_gap(event)
            self.stats.gaps += 1
            self._db.add_gap(event)
            log.warning(
                "feed gap: %s on %s (expected seq %s, got %s)",
                event.kind,
                event.channel,
                event.expected_seq,
                event.got_seq,
            )
        elif isinstance(event, GapRecovered):
            self.stats.gaps_recovered += 1
            self.stats.trades_recovered += event.trades_recovered
            self._db.add_recovery(event)
        elif isinstance(event, FeedStatus):
            self.stats.state = event.state
            self.stats.state_detail = event.detail
            if event.state is not FeedState.CONNECTED:
                self.books.mark_all_stale()  # whatever was in flight is lost
        elif isinstance(event, LifecycleEvent):
            self._meta.on_lifecycle(event)
        elif isinstance(event, MarketsFetched):
            for info in event.markets:  # the directory's REST lookups, live or recorded
                self._meta.put(info)
        elif isinstance(event, SeriesFetched):
            for series in event.series:
                self._meta.put_series(series)
        elif isinstance(event, EventFeeUpdate):
            self._meta.on_fee_update(event)
        for listener in self._listeners:
            if listener.enabled and (listener.kinds is None or isinstance(event, listener.kinds)):
                self._call(listener, event)

    def handle_batch(self, events: Sequence[Event], quiet_until_ms: int | None) -> None:
        """Handle ``events`` in order, to the same end as ``handle`` on each in turn, where
        ``on_event_time`` runs nothing for receipt times before ``quiet_until_ms`` (the caller's
        timers are not due; None: they are never due).

        Then nothing can look at the world between two of these events but the pipeline, and,
        with no listener, its consumers are applied in fewer steps: trades that have only book
        events between them (books and trades feed disjoint consumers) go to storage, the tape
        and the hub together, before the next event of any other kind; the windows and the
        analytics, which only listeners and timers read, take the batch's trades together
        before this returns. The clock is moved as ``handle`` would have left it for each
        event of another kind, and at the end. From the first event at or past
        ``quiet_until_ms`` on, the events are handled one by one."""
        if self._listeners:
            for event in events:
                self.handle(event)
            return
        if not events:
            return
        until = quiet_until_ms if quiet_until_ms is not None else _NEVER
        latest = max(map(_recv_ms, events))
        if latest >= until:  # from the first due on: one by one
            due = next(i for i, e in enumerate(events) if e.recv_ms >= until)
            self.handle_batch(events[:due], until)
            for event in events[due:]:
                self.handle(event)
            return
        windowed = _Windowed()  # the trades as the windows see them, for the end
        kinds = list(map(type, events))
        # the tape keeps its last ``maxlen``: only the batch's last go on it, unless the hub
        # has clients for every trade
        kept = self.recent.maxlen
        told = 0 if self._hub.clients or kept is None else kinds.count(Trade) - kept
        others = set(kinds) - _RUN_KINDS
        start = 0
        for i in sorted(i for kind in others for i in _positions(kinds, kind)):
            if i > start:
                told -= self._run(events[start:i], kinds[start:i], windowed, told)
            self.handle(events[i])  # none of these reads or changes the windows
            start = i + 1
        if start < len(events):  # the clock only goes forward: to the batch's latest time
            self._run(events[start:], kinds[start:], windowed, told, latest)
        if windowed.trades:
            cols = windowed.columns()
            self._agg.add_trades(windowed.trades, cols)
            self._analytics.add_trades(windowed.trades, cols)

    def _run(
        self,
        events: Sequence[Event],
        kinds: list[type],
        windowed: _Windowed,
        untold: int,
        latest: int | None = None,
    ) -> int:
        """Trades and book events (of ``kinds``), received before any timer is due, with no
        listener: the books take theirs in order, then the trades go to their consumers
        together, the windows' part to ``windowed``, all but the first ``untold`` to the tape
        and the hub; the clock goes to ``latest``, or the run's latest receipt time. Returns
        how many trades there were."""
        if kinds.count(Trade) == len(kinds):
            trades = events
        else:
            trades = [e for e in events if type(e) is Trade]
            books = self.books
            deltas = _positions(kinds, BookDelta)
            snapshots = _positions(kinds, BookSnapshot)
            for i in heapq.merge(deltas, snapshots):
                if kinds[i] is BookDelta:
                    books.on_delta(events[i])  # type: ignore[arg-type]
                else:
                    books.on_snapshot(events[i])  # type: ignore[arg-type]
        if self._on_event_time is not None:
            # nothing due: the clock only
            self._on_event_time(latest if latest is not None else max(map(_recv_ms, events)))
        self.stats.events += len(events)
        if trades:
            self._on_trades(trades, windowed, untold)  # type: ignore[arg-type]
        return len(trades)

    def _on_trades(self, trades: Sequence[Trade], windowed: _Windowed, untold: int) -> None:
        """``_on_trade`` on each of ``trades`` in turn, but for the windows and analytics (the
        trades as those are to see them go to ``windowed``) and the tape and hub, which get
        all but the first ``untold``: they would be off the tape by the end of the batch,
        and the hub has no client to send them to."""
        stats = self.stats
        stats.trades += len(trades)
        last = trades[-1]
        stats.last_trade_ts_ms = last.ts_ms
        stats.last_lag_ms = last.recv_ms - last.ts_ms
        self._db.add_trades(trades)
        cols: TradeColumns | None = None
        if len(trades) >= BATCH_MIN:  # read into columns, for the windows too
            cols = TradeColumns.of(trades)
            recv = np.array([t.recv_ms for t in trades], dtype=np.int64)
            if (cols.ts > recv + FUTURE_TOLERANCE_MS).any():
                placed = [self._place(t) for t in trades]
                windowed.add(placed, TradeColumns.of(placed))
            else:
                windowed.add(trades, cols)
            seconds = recv // 1000
            if (seconds == seconds[0]).all():  # the usual: all in one second
                self._count_second(int(seconds[0]), len(trades))
            else:
                for second in seconds.tolist():
                    self._count_second(second, 1)
            tickers: Iterable[str] = cols.keys
        else:
            windowed.add([self._place(t) for t in trades], None)
            for t in trades:
                self._count_second(t.recv_ms // 1000, 1)
            tickers = dict.fromkeys(map(_ticker, trades))
        title = self._meta.title
        titles = {ticker: title(ticker) for ticker in tickers}
        tiers = self.tiers
        told = trades[untold:] if untold > 0 else trades
        if cols is None:
            items = [(t, titles[t.ticker], tier_of(t.notional, tiers)) for t in told]
        else:  # tier_of, on the notionals read already
            paid = cols.notional[max(untold, 0) :]
            levels = (paid[:, None] >= np.array(tiers, dtype=np.int64)).sum(axis=1).tolist()
            items = list(
                zip(told, map(titles.__getitem__, map(_ticker, told)), levels, strict=True)
            )
        self.recent.extend(items)
        self._hub.add_trades(items)

    def _count_second(self, second: int, trades: int) -> None:
        per_second = self.stats.per_second
        if per_second and per_second[-1][0] == second:
            per_second[-1] = (second, per_second[-1][1] + trades)
        else:
            per_second.append((second, trades))

    def _place(self, trade: Trade) -> Trade:
        """``window_trade`` at the trade's receipt, counted and logged as ``_on_trade`` does."""
        placed = window_trade(trade, trade.recv_ms)
        if placed is not trade:
            stats = self.stats
            stats.future_stamped += 1
            if stats.future_stamped == 1 or stats.future_stamped % 1000 == 0:
                log.warning(
                    "trade %s on %s stamped %d ms after its receipt; windowed at receipt "
                    "(%d such trades so far)",
                    trade.trade_id,
                    trade.ticker,
                    trade.ts_ms - trade.recv_ms,
                    stats.future_stamped,
                )
        return placed

    def _on_trade(self, trade: Trade) -> None:
        stats = self.stats
        stats.trades += 1
        stats.last_trade_ts_ms = trade.ts_ms
        stats.last_lag_ms = trade.recv_ms - trade.ts_ms
        second = trade.recv_ms // 1000
        per_second = stats.per_second
        if per_second and per_second[-1][0] == second:
            per_second[-1] = (second, per_second[-1][1] + 1)
        else:
            per_second.append((second, 1))
        self._db.add_trade(trade)
        placed = self._place(trade)
        self._agg.add_trade(placed)
        self._analytics.add_trade(placed)
        title = self._meta.title(trade.ticker)
        tier = tier_of(trade.notional, self.tiers)
        self.recent.append((trade, title, tier))
        self._hub.add_trade(trade, title, tier)

    def _call(self, listener: _Listener, event: Event) -> None:
        try:
            listener.fn(event)
        except Exception:
            listener.failures += 1
            self.stats.listener_errors += 1
            log.exception("listener %s failed on %r", listener.name, event)
            if listener.failures >= LISTENER_MAX_FAILURES:
                listener.enabled = False
                log.error("listener %s disabled after %d errors", listener.name, listener.failures)

    def trades_per_s(self, now_ms: int) -> float:
        """Trades received per second over the last complete seconds (display only)."""
        now_s = now_ms // 1000
        counted = sum(n for s, n in self.stats.per_second if now_s - RATE_SECONDS <= s < now_s)
        return counted / RATE_SECONDS
