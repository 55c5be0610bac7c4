"""The desk's engine: pipeline events in, arrivals, fills and records out. Synchronous, no I/O.

Time is the event clock: each event's ``recv_ms`` (never earlier than the last). An order is
decided at the clock's time and meets the book ``latency_ms`` later: anything due at or before
an event's time happens before that event is applied, in time order (arrivals, cancels and
decreases in the order they were asked for; expiries; equity samples), so an order meets the
book exactly as it stood when it arrived. With no latency an order meets the book at once.

The desk keeps its own books (a ``BookStore`` fed the same events as the pipeline's), so that
it can see them as of any instant between two events; a book it has never had a snapshot of, or
one made stale by a gap, fills nothing. An order for a market whose book is not followed asks
the edge to follow it (a ``FollowRequest`` in the outbox) and waits for the first snapshot;
an IOC or FOK order that meets a stale book is cancelled, a GTC one waits for the repair.
Events for markets with nothing open cost a dict lookup or two. ``paper.desk.Desk`` adds the
ways orders come in (place, cancel, decrease, kill, flatten) and persistence.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from kalshi.book_store import BookStore
from kalshi.orderbook import OrderBook
from models import (
    MICROS_PER_DOLLAR,
    BookDelta,
    BookSnapshot,
    BookUnfollowed,
    Event,
    EventFeeUpdate,
    FeedGap,
    FeedState,
    FeedStatus,
    LifecycleEvent,
    MarketsFetched,
    SeriesFetched,
    Side,
    Trade,
)
from paper.ledger import Ledger
from paper.liquidity import TakenLiquidity
from paper.markets import Markets
from paper.matching import walk
from paper.metrics import MetricsReport
from paper.orders import (
    CancelReason,
    Order,
    OrderStatus,
    RejectReason,
    TimeInForce,
)
from paper.queue import CancelModel, MarketQueue
from paper.records import (
    FollowRequest,
    OrderEventKind,
    OrderUpdate,
    Record,
)
from paper.risk import DAY_MS, RiskGate, RiskLimits
from paper.settlement import yes_value

MANUAL = "manual"
DEFAULT_LATENCY_MS = 150  # decision to book: a typical round trip to Kalshi from a US host
DEFAULT_BALANCE = 10_000 * MICROS_PER_DOLLAR
NEVER = 1 << 62

ARRIVE, CANCEL, DECREASE = 0, 1, 2  # action kinds, in the heap as (due, seq, kind, id, by, to)
# a cancel's reason travels in its ``by`` slot, as an index into this
CANCEL_REASONS = (CancelReason.REQUESTED, CancelReason.KILLED, CancelReason.FLATTEN)


@dataclass(frozen=True, slots=True)
class DeskConfig:
    """``accounts``: starting balance (micro-dollars) by account; ``manual`` is always there.
    ``games``: ticker -> game, where the event ticker is not the grouping wanted."""

    accounts: Mapping[str, int] = field(default_factory=dict)
    default_balance: int = DEFAULT_BALANCE
    latency_ms: int = DEFAULT_LATENCY_MS
    limits: Mapping[str, RiskLimits] = field(default_factory=dict)
    default_limits: RiskLimits = field(default_factory=RiskLimits)
    cancel_model: CancelModel = CancelModel.BEHIND
    equity_interval_ms: int = 60_000
    games: Mapping[str, str] = field(default_factory=dict)

    def balances(self) -> dict[str, int]:
        return {MANUAL: self.default_balance, **self.accounts}


class Engine:
    """Events, the clock, arrivals and fills; ``Desk`` adds the ways orders come in."""

    def __init__(self, config: DeskConfig | None = None) -> None:
        self.config = cfg = config or DeskConfig()
        self.outbox: list[Record] = []
        self.now_ms = 0
        self.books = BookStore(repair=self._repair)
        self.markets = Markets(cfg.games)
        self.memory = TakenLiquidity()
        self.ledger = Ledger(cfg.balances(), self.markets, self.books, self.memory, self.outbox)
        self.risk = RiskGate(dict(cfg.limits), cfg.default_limits)
        self.rejections: Counter[tuple[str, RejectReason]] = Counter()
        self.orders: dict[int, Order] = {}  # every order, open or done
        self.open: dict[str, dict[int, Order]] = {a: {} for a in cfg.balances()}
        self.queues: dict[str, MarketQueue] = {}  # markets with resting orders
        self.waiting: dict[str, list[Order]] = {}  # markets whose book orders wait for
        self.followed: set[str] = set()  # a usable snapshot came, not unfollowed since
        self._asked: set[str] = set()
        self._actions: list[tuple[int, int, int, int, int, int]] = []
        self._expiries: list[tuple[int, int]] = []
        self._seq = 0
        self.next_order_id = 1
        self._next_sample = 0
        self._next_day = 0
        self._wake = 0

    # -- events ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        t = event.recv_ms
        if t < self.now_ms:
            t = self.now_ms
        if t >= self._wake:
            self.advance(t)
        self.now_ms = t
        if type(event) is BookDelta:
            self._on_delta(event)
        elif type(event) is Trade:
            queue = self.queues.get(event.ticker)
            if queue is not None:
                self._on_trade(queue, event)
        elif type(event) is BookSnapshot:
            self._on_snapshot(event)
        elif isinstance(event, FeedGap):
            self.books.on_gap(event)
        elif isinstance(event, FeedStatus):
            if event.state is not FeedState.CONNECTED:
                self.books.mark_all_stale()
        elif isinstance(event, BookUnfollowed):
            self._on_unfollowed(event)
        elif isinstance(event, LifecycleEvent):
            self._on_lifecycle(event)
        elif isinstance(event, MarketsFetched):
            for info in event.markets:
                self.markets.put(info)
        elif isinstance(event, SeriesFetched):
            for series in event.series:
                self.markets.fees.on_series(series)
        elif isinstance(event, EventFeeUpdate):
            self.markets.fees.on_event_fee(event)

    def advance(self, now_ms: int) -> None:
        """Run everything due at or before ``now_ms``, in time order (also without an event)."""
        if not self._next_day:  # the first time: the clock starts here, not at the epoch
            self._next_day = now_ms - now_ms % DAY_MS
            self._next_sample = now_ms - now_ms % self.config.equity_interval_ms
        while True:
            due = self._actions[0][0] if self._actions else NEVER
            exp = self._expiries[0][0] if self._expiries else NEVER
            first = min(due, exp, self._next_sample, self._next_day)
            if first > now_ms:
                break
            self.now_ms = max(self.now_ms, first)
            if exp == first:  # an order that expires at T does not trade at T
                _, oid = heapq.heappop(self._expiries)
                order = self.orders[oid]
                if order.is_open:
                    self._cancel(order, CancelReason.EXPIRED)
            elif due == first:
                _, _, kind, oid, by, to = heapq.heappop(self._actions)
                self._act(kind, self.orders[oid], by, to)
            elif self._next_day == first:
                self._roll_day(first)
            else:
                self.ledger.sample(first)
                interval = self.config.equity_interval_ms
                nxt = first + interval
                self._next_sample = max(nxt, now_ms - now_ms % interval)
        self.now_ms = max(self.now_ms, now_ms)
        self._reschedule()

    def _reschedule(self) -> None:
        self._wake = min(
            self._actions[0][0] if self._actions else NEVER,
            self._expiries[0][0] if self._expiries else NEVER,
            self._next_sample,
            self._next_day,
        )

    def _on_delta(self, d: BookDelta) -> None:
        self.books.on_delta(d)
        ticker = d.ticker
        if ticker in self.memory:
            self.memory.level_changed(ticker, d.side, d.price)
        queue = self.queues.get(ticker)
        if queue is None:
            return
        levels = queue.yes if d.side is Side.YES else queue.no
        if d.price not in levels:
            return
        book = self.books.book(ticker)
        if book is None or book.stale:
            return
        shown = book.yes if d.side is Side.YES else book.no
        queue.on_delta(d.side, d.price, d.delta, shown.get(d.price, 0), self.config.cancel_model)

    def _on_trade(self, queue: MarketQueue, trade: Trade) -> None:
        if not self._usable(trade.ticker):
            return  # a stale book fills nothing: whose trade this was is unknown
        for order, qty in queue.on_trade(trade):
            self.ledger.fill(order, [(order.price, qty)], True, self.now_ms)
            if order.remaining == 0:
                queue.remove(order)
                self._done(order)
        if queue.size == 0:
            del self.queues[trade.ticker]

    def _on_snapshot(self, snap: BookSnapshot) -> None:
        ticker = snap.ticker
        self.books.on_snapshot(snap)
        self.memory.book_redrawn(ticker)
        self.followed.add(ticker)
        self._asked.discard(ticker)
        book = self.books.book(ticker)
        queue = self.queues.get(ticker)
        if queue is not None and book is not None:
            queue.on_snapshot(book)
        for order in self.waiting.pop(ticker, ()):
            if order.status is OrderStatus.WAITING:
                self._arrive(order)

    def _on_unfollowed(self, event: BookUnfollowed) -> None:
        # keep the last levels to mark positions at; fill nothing on them
        book = self.books.book(event.ticker)
        if book is not None:
            book.mark_stale()
        self.followed.discard(event.ticker)
        if event.ticker in self.queues or event.ticker in self.waiting:
            self._ask(event.ticker, "open orders")

    def _on_lifecycle(self, event: LifecycleEvent) -> None:
        value = yes_value(event)
        ticker = event.ticker
        if value is None or ticker in self.markets.finished:
            return
        self.markets.finished.add(ticker)
        for orders in self.open.values():
            for order in [o for o in orders.values() if o.ticker == ticker]:
                self._cancel(order, CancelReason.MARKET)
        self.ledger.settle(ticker, value, self.now_ms)

    def _repair(self, ticker: str) -> None:
        self._ask(ticker, "repair")

    def _ask(self, ticker: str, reason: str) -> None:
        if ticker not in self._asked:
            self._asked.add(ticker)
            self.outbox.append(FollowRequest(self.now_ms, ticker, reason))

    def _usable(self, ticker: str) -> bool:
        if ticker not in self.followed:
            return False
        book = self.books.book(ticker)
        return book is not None and not book.stale

    def _schedule(self, kind: int, order: Order, by: int, to: int) -> None:
        self._seq += 1
        due = self.now_ms + self.config.latency_ms
        heapq.heappush(self._actions, (due, self._seq, kind, order.order_id, by, to))
        if due <= self.now_ms:
            self.advance(self.now_ms)
        else:
            self._reschedule()

    def _act(self, kind: int, order: Order, by: int, to: int) -> None:
        if not order.is_open:
            return
        if kind == ARRIVE:
            self._arrive(order)
        elif kind == CANCEL:
            self._cancel(order, CANCEL_REASONS[by])
        else:
            left = order.remaining - by if to < 0 else min(order.remaining, to)
            if left <= 0:
                self._cancel(order, CancelReason.DECREASED)
            elif left < order.remaining:
                order.remaining = left
                self._update(order, OrderEventKind.DECREASED)

    def _arrive(self, order: Order) -> None:
        ticker = order.ticker
        if ticker in self.markets.finished:
            self._cancel(order, CancelReason.MARKET)
            return
        book = self.books.book(ticker)
        if ticker not in self.followed or book is None:
            self._ask(ticker, "order")
            self._wait(order)
        elif book.stale:
            if order.tif is TimeInForce.GTC:
                self._wait(order)
            else:
                self._cancel(order, CancelReason.STALE)
        else:
            self._execute(order, book)

    def _wait(self, order: Order) -> None:
        if order.status is not OrderStatus.WAITING:
            order.status = OrderStatus.WAITING
            self.waiting.setdefault(order.ticker, []).append(order)
            self._update(order, OrderEventKind.WAITING)

    def _execute(self, order: Order, book: OrderBook) -> None:
        ticker, take = order.ticker, order.take
        bids = book.yes if take is Side.YES else book.no
        legs = walk(bids, order.take_min, order.remaining, self.memory.levels(ticker, take))
        got = sum(q for _, q in legs)
        if order.tif is TimeInForce.FOK and got < order.remaining:
            self._cancel(order, CancelReason.FOK)
            return
        if legs:
            for bid, qty in legs:
                self.memory.take(ticker, take, bid, qty)
            self.ledger.fill(order, [(order.own_price(b), q) for b, q in legs], False, self.now_ms)
        if order.remaining == 0:
            self._done(order)
        elif order.tif is not TimeInForce.GTC:
            self._cancel(order, CancelReason.IOC)
        else:
            shown = book.yes if order.rest is Side.YES else book.no
            queue = self.queues.get(ticker)
            if queue is None:
                queue = self.queues[ticker] = MarketQueue()
            queue.add(order, shown.get(order.rest_price, 0))
            order.status = OrderStatus.RESTING
            self._update(order, OrderEventKind.RESTING)

    def _cancel(self, order: Order, reason: CancelReason) -> None:
        if order.status is OrderStatus.RESTING:
            queue = self.queues.get(order.ticker)
            if queue is not None:
                queue.remove(order)
                if queue.size == 0:
                    del self.queues[order.ticker]
        elif order.status is OrderStatus.WAITING:
            waiting = self.waiting.get(order.ticker, [])
            if order in waiting:
                waiting.remove(order)
            if not waiting:
                self.waiting.pop(order.ticker, None)
        order.status = OrderStatus.CANCELED
        order.cancel_reason = reason
        self.open[order.account].pop(order.order_id, None)
        self._update(order, OrderEventKind.CANCELED, reason)

    def _done(self, order: Order) -> None:
        order.status = OrderStatus.EXECUTED
        self.open[order.account].pop(order.order_id, None)
        self._update(order, OrderEventKind.EXECUTED)

    def _update(self, order: Order, kind: OrderEventKind, reason: str = "") -> None:
        self.outbox.append(
            OrderUpdate(
                self.now_ms, kind, order.order_id, order.account, order.ticker, order.side,
                order.action, order.price, order.count, order.remaining, order.filled, reason,
                order.signal, order.version,
            )
        )  # fmt: skip

    def _roll_day(self, ts_ms: int) -> None:
        day = ts_ms // DAY_MS
        for name in self.ledger.accounts:
            st = self.risk.state(name)
            st.day = day
            st.day_start_equity = self.ledger.equity_mid(name)
        self._next_day = (day + 1) * DAY_MS

    # -- reading -----------------------------------------------------------------------------

    def drain(self) -> list[Record]:
        out = self.outbox[:]
        self.outbox.clear()
        return out

    def book(self, ticker: str) -> OrderBook | None:
        return self.books.book(ticker)

    def open_orders(self, account: str | None = None) -> list[Order]:
        names = [account] if account is not None else list(self.open)
        return [o for n in names for o in self.open.get(n, {}).values()]

    def metrics(self, account: str | None = None) -> MetricsReport:
        return self.ledger.metrics(account)
