"""The /ws/stream hub: one bounded queue and one sender task per browser.

``publish`` and ``add_trade`` never await: the feed and the pipeline are never slowed by a
browser. Each message is JSON-encoded once and the same text is offered to every client; a
client whose queue is full is dropped (close code 4001) and may reconnect to a fresh snapshot.
Trades are coalesced: on a quiet feed a trade goes out ``min_batch_ms`` after it arrived, and the
gap between batches grows with the load up to ``batch_ms`` (see ``Hub.run``); a market's title
goes out with its trades only when a client may not hold it yet (see ``Hub.announced``).

What a client sends is outside input (``_receive_loop``): a bad text message gets an `error`
reply and is counted; the connection is closed, with a close code of RFC 6455 (7.4.1), for
a binary message (1003, unsupported data: the protocol is JSON text), a text message over
``MAX_REQUEST_BYTES`` (1009, message too big; uvicorn, given the same limit, closes first) and
at the ``BAD_MESSAGE_LIMIT``-th bad message (1008, policy violation). None of it is logged raw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket

from aggregator import WINDOWS
from clock import Clock
from models import Trade
from stream.filters import NO_FILTER, FilterError, TradeFilter
from stream.messages import TITLE_REFRESH_MS, Pending, encode, every_title, trades_message
from stream.requests import MAX_REQUEST_BYTES, HotWindow, parse_request, too_big

log = logging.getLogger(__name__)

SLOW_CLIENT_CLOSE = 4001
UNSUPPORTED_DATA_CLOSE = 1003  # a binary message
POLICY_VIOLATION_CLOSE = 1008  # too many bad messages
MESSAGE_TOO_BIG_CLOSE = 1009
CLOSE_REASONS = {  # sent in the close frame (at most 123 bytes)
    SLOW_CLIENT_CLOSE: "too slow: reconnect for a fresh snapshot",
    UNSUPPORTED_DATA_CLOSE: "only JSON text messages are accepted",
    POLICY_VIOLATION_CLOSE: "too many bad messages",
    MESSAGE_TOO_BIG_CLOSE: f"messages are limited to {MAX_REQUEST_BYTES} bytes",
}
CLOSE_TIMEOUT_S = 2.0
BAD_MESSAGE_LIMIT = 100  # a page sends a handful of messages, all good
BAD_LOG_EVERY_MS = 10_000  # a client's bad messages: one log line at most this often
LOGGED_PREFIX = 60  # characters (or bytes) of a bad message shown, escaped, in the log

# Batching: the gap between `trades` messages grows by 1 ms per this many trades per second
# times clients (1,000 trades/s to 100 clients: 8 ms), so the fan-out's frames per second stay
# bounded as the load grows.
LOAD_PER_GAP_MS = 12_500
RATE_SMOOTHING_S = 1.0

Snapshot = Callable[[], dict[str, Any]]  # the board's snapshot message, built on demand


class Subscriber:
    __slots__ = (
        "bad",
        "bad_logged_ms",
        "bad_unlogged",
        "dropped",
        "filter",
        "hot_window",
        "kill",
        "queue",
        "remote",
    )

    def __init__(self, remote: str, queue_size: int) -> None:
        self.remote = remote
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.filter = NO_FILTER
        self.hot_window: str | None = None  # None: every window
        self.dropped = False
        self.kill = asyncio.Event()
        self.bad = 0  # bad messages from this client
        self.bad_unlogged = 0  # of them, those counted since the last log line about it
        self.bad_logged_ms = 0


@dataclass(slots=True)
class HubStats:
    connected_total: int = 0
    dropped_slow: int = 0
    bad_messages: int = 0
    closed_bad: int = 0  # clients closed for what they sent (1003, 1008, 1009)
    messages_sent: int = 0
    trades_batches: int = 0


class Hub:
    def __init__(
        self,
        *,
        clock: Clock,
        queue_size: int = 256,
        batch_ms: int = 50,
        min_batch_ms: float = 1.0,
    ) -> None:
        self._clock = clock
        self._queue_size = queue_size
        self._max_gap_s = batch_ms / 1000
        self._min_gap_s = min(min_batch_ms, batch_ms) / 1000
        self._last_flush_s = 0.0  # loop time of the last flush
        self.trades_per_s = 0.0  # smoothed rate of trades sent, the load the batching follows
        self._subs: set[Subscriber] = set()
        self._pending: list[Pending] = []
        self._hot: dict[str, list[dict[str, Any]]] = {}
        self._hot_encoded: dict[str | None, str] = {}
        # Titles told to the unfiltered clients: ticker -> (title, when), oldest first. Every
        # client that joins them (a snapshot, a filter cleared) gets them all, so an unfiltered
        # client holds each one and a `trades` message may leave it out; entries older than
        # TITLE_REFRESH_MS are dropped (and so announced again at the market's next trade).
        self.announced: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._title_ms = 0  # the clock, never going back
        self.stats = HubStats()
        self._wake = asyncio.Event()

    @property
    def clients(self) -> int:
        return len(self._subs)

    # ---- producers (never await) -------------------------------------------------------------

    def add_trade(self, trade: Trade, title: str, tier: int) -> None:
        if self._subs:
            pending = self._pending
            if not pending:
                self._wake.set()  # the batching loop waits for the first trade of a batch
            pending.append((trade, title, tier))

    def add_trades(self, items: list[Pending]) -> None:
        """``add_trade`` on each of ``items`` in turn."""
        if self._subs and items:
            pending = self._pending
            if not pending:
                self._wake.set()
            pending.extend(items)

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

    # ---- market titles ----------------------------------------------------------------------

    def _titles_now(self) -> int:
        """The clock for titles, held still if the clock steps back (ages must not shrink)."""
        now = self._clock.now_ms()
        if now > self._title_ms:
            self._title_ms = now
        return self._title_ms

    def _prune_titles(self, now: int) -> None:
        announced = self.announced
        oldest = now - TITLE_REFRESH_MS
        while announced and announced[next(iter(announced))][1] < oldest:
            announced.popitem(last=False)

    def known_titles(self) -> dict[str, str]:
        """Every title announced within TITLE_REFRESH_MS: what a client joining the unfiltered
        clients is given, so that it holds every title a later message may leave out."""
        self._prune_titles(self._titles_now())
        return {ticker: title for ticker, (title, _) in self.announced.items()}

    def _announce(self, markets: list[str], titles: list[str]) -> dict[str, str]:
        """The titles an unfiltered `trades` message carries: those of its markets that are not
        announced (never, too long ago, or with another title). They count as announced now, at
        the flush's time (``flush_trades`` pruned the entries older than a minute before it)."""
        now = self._title_ms
        announced = self.announced
        out: dict[str, str] = {}
        for ticker, title in zip(markets, titles, strict=True):
            known = announced.get(ticker)
            if known is None or known[0] != title:
                out[ticker] = title
                announced[ticker] = (title, now)
                announced.move_to_end(ticker)
        return out

    # ---- the batching loop -------------------------------------------------------------------

    def flush_trades(self) -> int:
        """Send pending trades: one encoding for unfiltered clients, one per distinct filter.

        Unfiltered clients get only the titles they may not hold (``_announce``); a filtered
        message carries the title of each of its markets, as filtered clients skip messages
        (and so announcements) with none of their trades."""
        pending, self._pending = self._pending, []
        if not pending or not self._subs:
            return 0
        self._prune_titles(self._titles_now())
        self.stats.trades_batches += 1
        by_filter: dict[TradeFilter, list[Subscriber]] = {}
        for sub in self._subs:
            by_filter.setdefault(sub.filter, []).append(sub)
        for flt, subs in by_filter.items():
            chosen = pending if flt.is_empty else [p for p in pending if flt.matches(*p[:2])]
            if not chosen:
                continue
            data = encode(trades_message(chosen, self._announce if flt.is_empty else every_title))
            for sub in subs:
                self._offer(sub, data)
        return len(pending)

    def batch_gap_s(self) -> float:
        """The least time between two `trades` messages: ``min_batch_ms`` while the feed is
        quiet, growing with the load (trades per second times clients, which is what the
        fan-out costs) up to ``batch_ms``."""
        load_ms = self.trades_per_s * len(self._subs) / LOAD_PER_GAP_MS
        return min(self._max_gap_s, self._min_gap_s + load_ms / 1000)

    def _observe(self, sent: int, now_s: float) -> None:
        """Smooth the trade rate over about RATE_SMOOTHING_S of loop time."""
        elapsed = now_s - self._last_flush_s
        self._last_flush_s = now_s
        if elapsed <= 0:
            return
        weight = min(1.0, elapsed / RATE_SMOOTHING_S)
        self.trades_per_s += (sent / elapsed - self.trades_per_s) * weight

    async def run(self) -> None:
        """Flush a batch ``batch_gap_s()`` after the last one, or ``min_batch_ms`` after its
        first trade if that is later: a trade on a quiet feed goes out within a few ms, and
        batches grow only with the load."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            now = loop.time()
            due = max(now + self._min_gap_s, self._last_flush_s + self.batch_gap_s())
            await asyncio.sleep(due - now)
            self._observe(self.flush_trades(), loop.time())

    # ---- one browser ------------------------------------------------------------------------

    def subscribe(self, remote: str, snapshot: Snapshot) -> Subscriber:
        """A new client, its snapshot queued first. The snapshot is built and the subscriber
        registered with no await in between, so the deltas that follow start exactly where the
        snapshot ends, its titles included."""
        sub = Subscriber(remote, self._queue_size)
        sub.queue.put_nowait(encode({**snapshot(), "titles": self.known_titles()}))
        self._subs.add(sub)
        self.stats.connected_total += 1
        return sub

    async def serve(self, websocket: WebSocket, snapshot: Snapshot) -> None:
        """One client from accept to close; ``snapshot`` builds what it gets first."""
        await websocket.accept()
        client = websocket.client
        remote = f"{client.host}:{client.port}" if client else "?"
        sub = self.subscribe(remote, snapshot)
        sender = asyncio.create_task(self._send_loop(websocket, sub), name=f"ws-send {remote}")
        try:
            await self._receive_loop(websocket, sub, sender)
        finally:
            self._subs.discard(sub)
            if sub.bad_unlogged:
                log.info(
                    "/ws/stream client %s gone: %d bad messages in all, the last %d not logged",
                    remote,
                    sub.bad,
                    sub.bad_unlogged,
                )
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
        # The raw ASGI messages: `receive_text` would raise KeyError on a binary one.
        receive = asyncio.ensure_future(websocket.receive())
        killed = asyncio.ensure_future(sub.kill.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {receive, sender, killed}, return_when=asyncio.FIRST_COMPLETED
                )
                if killed in done:
                    await self._close(websocket, sender, SLOW_CLIENT_CLOSE)
                    return
                if sender in done:
                    return
                message = receive.result()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")  # "websocket.receive": text or bytes
                if text is None:
                    data = message.get("bytes") or b""
                    close: int | None = self._refuse(
                        sub, f"binary message of {len(data)} bytes", data, UNSUPPORTED_DATA_CLOSE
                    )
                else:
                    close = self._handle_client_message(sub, text)
                if close is not None:
                    await self._close(websocket, sender, close)
                    return
                receive = asyncio.ensure_future(websocket.receive())
        finally:
            for fut in (receive, killed):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await fut
                elif not fut.cancelled():
                    fut.exception()  # a disconnect seen while closing: retrieved, not logged

    async def _close(self, websocket: WebSocket, sender: asyncio.Task[None], code: int) -> None:
        sender.cancel()  # it may be stuck in a send to this very client
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await websocket.close(code, CLOSE_REASONS[code])

    def _handle_client_message(self, sub: Subscriber, text: str) -> int | None:
        """Applies one text message from ``sub``; returns a close code if it must go."""
        if too_big(text):  # not parsed: its size is the client's to choose
            return self._refuse(
                sub, f"text message over {MAX_REQUEST_BYTES} bytes", text, MESSAGE_TOO_BIG_CLOSE
            )
        try:
            request = parse_request(text, WINDOWS)
        except FilterError as exc:
            return self._refuse(sub, str(exc), text)
        if isinstance(request, HotWindow):
            sub.hot_window = request.window
            self._offer(sub, self._hot_message(request.window))  # at once, not at the next tick
            return None
        ack: dict[str, Any] = {"type": "filter_ack", "filter": request.as_json()}
        if request.is_empty and not sub.filter.is_empty:
            # back among the unfiltered clients, whose messages leave out announced titles
            ack["titles"] = self.known_titles()
        sub.filter = request
        self._offer(sub, encode(ack))
        return None

    def _refuse(
        self, sub: Subscriber, reason: str, data: str | bytes, close: int | None = None
    ) -> int | None:
        """A bad message from ``sub``, counted. Returns the code to close it with: ``close``,
        or POLICY_VIOLATION_CLOSE at its BAD_MESSAGE_LIMIT-th bad message; otherwise the client
        gets an `error` reply with ``reason``.

        The message is logged as the ``%r`` of a short prefix, so that a newline or a terminal
        escape from outside never reaches the log raw, and a client's bad messages are logged
        one line per BAD_LOG_EVERY_MS at most (by the hub's clock): the first at once, those
        in between counted in the next line, or in the one ``serve`` writes when it goes."""
        self.stats.bad_messages += 1
        sub.bad += 1
        sub.bad_unlogged += 1
        if close is None and sub.bad >= BAD_MESSAGE_LIMIT:
            close = POLICY_VIOLATION_CLOSE
        if close is not None:
            self.stats.closed_bad += 1
            log.warning(
                "closing /ws/stream client %s with %d (%s): %s: %r; %d bad messages in all",
                sub.remote,
                close,
                CLOSE_REASONS[close],
                reason,
                data[:LOGGED_PREFIX],
                sub.bad,
            )
            sub.bad_unlogged = 0
            return close
        now = self._clock.now_ms()
        if sub.bad == 1 or now - sub.bad_logged_ms >= BAD_LOG_EVERY_MS:
            log.info(
                "bad message from %s: %s: %r; %d bad messages in all, %d not logged before it",
                sub.remote,
                reason,
                data[:LOGGED_PREFIX],
                sub.bad,
                sub.bad_unlogged - 1,
            )
            sub.bad_unlogged = 0
            sub.bad_logged_ms = now
        self._offer(sub, encode({"type": "error", "error": reason}))
        return None
