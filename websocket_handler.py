"""The /ws/stream hub: one bounded queue and one sender task per browser.

``publish`` and ``add_trade`` never await: the feed and the pipeline are never slowed by a
browser. Each message is JSON-encoded once and the same text is offered to every client; a
client whose queue is full is dropped (close code 4001) and may reconnect to a fresh snapshot.
Trades are coalesced and sent at most every ``batch_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from aggregator import WINDOWS
from clock import Clock
from models import PRICE_SCALE, Side, Trade

log = logging.getLogger(__name__)

SLOW_CLIENT_CLOSE = 4001
BAD_MESSAGE_CLOSE = 4002
CLOSE_TIMEOUT_S = 2.0


class FilterError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TradeFilter:
    """What a client wants to see in its `trades` messages."""

    min_count: int | None = None  # hundredths of a contract
    min_notional: int | None = None  # micro-dollars
    side: Side | None = None
    search: str | None = None  # upper-cased ticker/series prefix or title words

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> TradeFilter:
        def nonneg_int(name: str) -> int | None:
            value = msg.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FilterError(f"{name} must be a non-negative integer or null")
            return value

        side = msg.get("side")
        if side not in (None, "yes", "no"):
            raise FilterError("side must be 'yes', 'no' or null")
        search = msg.get("search")
        if search is not None and (not isinstance(search, str) or len(search) > 100):
            raise FilterError("search must be a string of at most 100 characters or null")
        return cls(
            min_count=nonneg_int("min_count"),
            min_notional=nonneg_int("min_notional"),
            side=Side(side) if side else None,
            search=search.strip().upper() or None if search else None,
        )

    @property
    def is_empty(self) -> bool:
        return self == _NO_FILTER

    def matches(self, trade: Trade, title: str) -> bool:
        if self.min_count is not None and trade.count < self.min_count:
            return False
        if self.min_notional is not None and trade.notional < self.min_notional:
            return False
        if self.side is not None and trade.taker_side is not self.side:
            return False
        if self.search is not None:
            return trade.ticker.startswith(self.search) or self.search in title.upper()
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "min_count": self.min_count,
            "min_notional": self.min_notional,
            "side": self.side.value if self.side else None,
            "search": self.search,
        }


_NO_FILTER = TradeFilter()


def trade_json(trade: Trade, title: str, tier: int) -> dict[str, Any]:
    yes_price = trade.yes_price
    price = yes_price if trade.taker_side is Side.YES else PRICE_SCALE - yes_price
    return {
        "id": trade.trade_id,
        "ticker": trade.ticker,
        "title": title,
        "yes_price": yes_price,
        "count": trade.count,
        "side": trade.taker_side.value,
        "price": price,
        "notional": price * trade.count,
        "ts_ms": trade.ts_ms,
        "recv_ms": trade.recv_ms,
        "tier": tier,
    }


# A `trades` message carries its trades as rows of these fields, oldest first:
#   {"type": "trades", "t0": ms, "fields": TRADE_FIELDS, "markets": [[ticker, title], ...],
#    "rows": [[id, market, yes_price, count, side, ts_off, recv_off, tier], ...]}
# ``market`` indexes ``markets`` (each ticker once); ``ts_off`` and ``recv_off`` are ``ts_ms``
# and ``recv_ms`` in milliseconds after ``t0``, the batch's earliest of either. ``rows`` is last:
# a client may count the trades without decoding the message (``],["`` separates two rows).
TRADE_FIELDS = ("id", "market", "yes_price", "count", "side", "ts_off", "recv_off", "tier")

Pending = tuple[Trade, str, int]  # trade, title, large-trade tier


def trades_message(pending: list[Pending]) -> dict[str, Any]:
    if not pending:
        return {"type": "trades", "t0": 0, "fields": TRADE_FIELDS, "markets": [], "rows": []}
    # Offsets from the first trade, the earliest in all but rare batches (a backfilled trade, a
    # clock step); then shifted once so that none is negative.
    first = pending[0][0]
    t0 = min(first.ts_ms, first.recv_ms)
    lo = 0
    index: dict[str, int] = {}
    markets: list[list[str]] = []
    rows: list[list[Any]] = []
    append = rows.append
    for t, title, tier in pending:
        ticker = t.ticker
        m = index.get(ticker)
        if m is None:
            m = index[ticker] = len(markets)
            markets.append([ticker, title])
        ts = t.ts_ms - t0
        recv = t.recv_ms - t0
        if ts < lo or recv < lo:
            lo = min(ts, recv)
        # taker_side is a str enum: orjson writes it as "yes"/"no"
        append([t.trade_id, m, t.yes_price, t.count, t.taker_side, ts, recv, tier])
    if lo < 0:
        t0 += lo
        for row in rows:
            row[5] -= lo
            row[6] -= lo
    return {"type": "trades", "t0": t0, "fields": TRADE_FIELDS, "markets": markets, "rows": rows}


def expand_trades(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """A decoded `trades` message's rows as trade objects with ticker, title and epoch-ms times
    (what a Python client does)."""
    at = {name: i for i, name in enumerate(msg["fields"])}
    i_id, i_market, i_price, i_count, i_side, i_ts, i_recv, i_tier = (
        at[name] for name in TRADE_FIELDS
    )
    t0, markets = msg["t0"], msg["markets"]
    out = []
    for row in msg["rows"]:
        ticker, title = markets[row[i_market]]
        out.append(
            {
                "id": row[i_id],
                "ticker": ticker,
                "title": title,
                "yes_price": row[i_price],
                "count": row[i_count],
                "side": row[i_side],
                "ts_ms": t0 + row[i_ts],
                "recv_ms": t0 + row[i_recv],
                "tier": row[i_tier],
            }
        )
    return out


def encode(msg: dict[str, Any]) -> str:
    return orjson.dumps(msg).decode()


class Subscriber:
    __slots__ = ("dropped", "filter", "hot_window", "kill", "queue", "remote")

    def __init__(self, remote: str, queue_size: int) -> None:
        self.remote = remote
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.filter = _NO_FILTER
        self.hot_window: str | None = None  # None: every window
        self.dropped = False
        self.kill = asyncio.Event()


@dataclass(slots=True)
class HubStats:
    connected_total: int = 0
    dropped_slow: int = 0
    bad_messages: int = 0
    messages_sent: int = 0
    trades_batches: int = 0


class Hub:
    def __init__(
        self,
        *,
        clock: Clock,
        snapshot: Callable[[], dict[str, Any]],
        queue_size: int = 256,
        batch_ms: int = 100,
    ) -> None:
        self._clock = clock
        self._snapshot = snapshot
        self._queue_size = queue_size
        self._batch_s = batch_ms / 1000
        self._subs: set[Subscriber] = set()
        self._pending: list[Pending] = []
        self._hot: dict[str, list[dict[str, Any]]] = {}
        self._hot_encoded: dict[str | None, str] = {}
        self.stats = HubStats()
        self._wake = asyncio.Event()

    @property
    def clients(self) -> int:
        return len(self._subs)

    # ---- producers (never await) -------------------------------------------------------------

    def add_trade(self, trade: Trade, title: str, tier: int) -> None:
        if self._subs:
            self._pending.append((trade, title, tier))

    def publish(self, msg: dict[str, Any]) -> None:
        if not self._subs:
            return
        self._offer_all(encode(msg))

    def publish_hot(self, hot: dict[str, list[dict[str, Any]]]) -> None:
        """Hot markets: a client that chose a window gets that window only (the page shows one
        at a time; all five cost five times the bytes); others get every window."""
        self._hot = hot
        self._hot_encoded = {}
        for sub in list(self._subs):
            self._offer(sub, self._hot_message(sub.hot_window))

    def _hot_message(self, window: str | None) -> str:
        data = self._hot_encoded.get(window)
        if data is None:
            part = self._hot if window is None else {window: self._hot.get(window, [])}
            data = self._hot_encoded[window] = encode({"type": "hot", "hot": part})
        return data

    def _offer_all(self, data: str) -> None:
        for sub in list(self._subs):
            self._offer(sub, data)

    def _offer(self, sub: Subscriber, data: str) -> None:
        try:
            sub.queue.put_nowait(data)
        except asyncio.QueueFull:
            self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        if sub.dropped:
            return
        sub.dropped = True
        self._subs.discard(sub)
        self.stats.dropped_slow += 1
        log.warning(
            "dropping slow /ws/stream client %s (queue of %d full)", sub.remote, self._queue_size
        )
        # The sender may be stuck in a send to this very client: the connection's own task
        # cancels it and closes the socket.
        sub.kill.set()

    # ---- the batching loop -------------------------------------------------------------------

    def flush_trades(self) -> int:
        """Send pending trades: one encoding for unfiltered clients, one per distinct filter."""
        pending, self._pending = self._pending, []
        if not pending or not self._subs:
            return 0
        self.stats.trades_batches += 1
        by_filter: dict[TradeFilter, list[Subscriber]] = {}
        for sub in self._subs:
            by_filter.setdefault(sub.filter, []).append(sub)
        for flt, subs in by_filter.items():
            chosen = pending if flt.is_empty else [p for p in pending if flt.matches(*p[:2])]
            if not chosen:
                continue
            data = encode(trades_message(chosen))
            for sub in subs:
                self._offer(sub, data)
        return len(pending)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._batch_s)
            self.flush_trades()

    # ---- one browser ------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        client = websocket.client
        remote = f"{client.host}:{client.port}" if client else "?"
        sub = Subscriber(remote, self._queue_size)
        # The snapshot is built and the subscriber registered with no await in between, so the
        # deltas that follow start exactly where the snapshot ends.
        sub.queue.put_nowait(encode(self._snapshot()))
        self._subs.add(sub)
        self.stats.connected_total += 1
        sender = asyncio.create_task(self._send_loop(websocket, sub), name=f"ws-send {remote}")
        try:
            await self._receive_loop(websocket, sub, sender)
        finally:
            self._subs.discard(sub)
            sender.cancel()
            # The socket is gone either way; what the sender died of does not matter now.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def _send_loop(self, websocket: WebSocket, sub: Subscriber) -> None:
        while True:
            data = await sub.queue.get()
            await websocket.send_text(data)
            self.stats.messages_sent += 1

    async def _receive_loop(
        self, websocket: WebSocket, sub: Subscriber, sender: asyncio.Task[None]
    ) -> None:
        receive = asyncio.ensure_future(websocket.receive_text())
        killed = asyncio.ensure_future(sub.kill.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {receive, sender, killed}, return_when=asyncio.FIRST_COMPLETED
                )
                if killed in done:
                    sender.cancel()
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(CLOSE_TIMEOUT_S):
                            await websocket.close(
                                SLOW_CLIENT_CLOSE, "too slow: reconnect for a fresh snapshot"
                            )
                    return
                if sender in done:
                    return
                try:
                    text = receive.result()
                except (WebSocketDisconnect, RuntimeError):
                    return
                self._handle_client_message(sub, text)
                receive = asyncio.ensure_future(websocket.receive_text())
        finally:
            for fut in (receive, killed):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await fut
                elif not fut.cancelled():
                    fut.exception()  # a disconnect seen while closing: retrieved, not logged

    def _handle_client_message(self, sub: Subscriber, text: str) -> None:
        try:
            msg = orjson.loads(text)
            if not isinstance(msg, dict):
                raise FilterError("message must be a JSON object")
            kind = msg.get("type")
            if kind == "hot_window":
                window = msg.get("window")
                if window is not None and window not in WINDOWS:
                    raise FilterError(f"window must be one of {', '.join(WINDOWS)} or null")
                sub.hot_window = window
                self._offer(sub, self._hot_message(window))  # at once, not at the next tick
                return
            if kind != "filter":
                raise FilterError(
                    f"unknown message type {kind!r}; expected 'filter' or 'hot_window'"
                )
            sub.filter = TradeFilter.parse(msg)
            self._offer(sub, encode({"type": "filter_ack", "filter": sub.filter.as_json()}))
        except (orjson.JSONDecodeError, FilterError) as exc:
            self.stats.bad_messages += 1
            log.info("bad message from %s: %s: %.200s", sub.remote, exc, text)
            self._offer(sub, encode({"type": "error", "error": str(exc)}))
