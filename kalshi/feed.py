"""The Kalshi WebSocket feed: subscribe, seq checks, book repair, REST trade backfill, reconnect.

Output goes to one bounded queue as ``models`` events. Trades are delivered at most once (deduped
by ``trade_id``) and, as long as REST backfill succeeds, at least once across gaps and reconnects.
The dedupe remembers a trade id only as long as a backfill could bring the trade back (see
``_dedupe_keep_from``), within the dedupe capacity; SQLite's unique key has the last word.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from clock import Clock
from infra.retry import RetryPolicy
from kalshi import connection, connection_sansio
from kalshi import rest_wire as rest_wire
from kalshi import wire as wire
from kalshi.auth import Signer
from kalshi.connection import ConnectionClosed, HandshakeRejected
from kalshi.dispatch import BOOK_CHANNEL, BackfillWanted, FrameDispatcher, SnapshotsWanted
from kalshi.dispatch import FeedStats as FeedStats
from kalshi.dispatch import RecentIds as RecentIds
from kalshi.frames import WsError
from kalshi.rest import KALSHI_RETRY, KalshiAuthError, KalshiError, KalshiRest
from kalshi.wire import WireError
from models import (
    BookUnfollowed,
    Event,
    FeedGap,
    FeedState,
    FeedStatus,
    GapKind,
    GapRecovered,
    Trade,
)

log = logging.getLogger(__name__)

ALL_MARKET_CHANNELS = ("trade", "market_lifecycle_v2")
TICKER_CHANNEL = "ticker"  # one frame per price/volume change of any market: opt-in
SILENCE_RENEW_S = 1.0  # how often the silence deadline is pushed back while frames flow
FRAMES_PER_TURN = 200  # buffered frames handled before the loop gets a turn
# How much older than a backfill's from_ms a trade it returns can look to the dedupe: the REST
# query is in whole seconds widened by one each side (2 s), and a legacy WS ts is whole seconds
# (1 s). The rest is slack; ids are cheap, a trade delivered twice is not.
DEDUPE_MARGIN_MS = 10_000


class WsReader(Protocol):
    """The connection the feed reads: ``kalshi.connection`` or ``kalshi.connection_sansio``."""

    async def recv_batch(self) -> list[str | bytes]: ...

    async def send_text(self, text: str | bytes) -> None: ...

    async def close(self, code: int = ..., reason: str = ...) -> None: ...


# the hand-written RFC 6455 client, or the same reader on websockets' sans-I/O ClientProtocol
WS_READERS: dict[str, Callable[..., Awaitable[WsReader]]] = {
    "handwritten": connection.connect,
    "sansio": connection_sansio.connect,
}


def _failure(task: asyncio.Task[None]) -> BaseException | None:
    """What ``task`` died of; None while it runs, if it was cancelled or if it returned."""
    if not task.done() or task.cancelled():
        return None
    return task.exception()


def _cancel_on_failure(reader: asyncio.Task[object], task: asyncio.Task[None]) -> None:
    if _failure(task) is not None:
        reader.cancel()


class FrameSink(Protocol):
    """Where raw frames and backfilled trades go as they arrive (a recording)."""

    def frame(self, recv_ms: int, raw: str | bytes) -> None: ...

    def backfill(self, recv_ms: int, trades: list[Trade]) -> None: ...


class KalshiFeed:
    def __init__(
        self,
        *,
        ws_url: str,
        rest: KalshiRest,
        signer: Signer | None,
        out: asyncio.Queue[Event],
        clock: Clock,
        retry: RetryPolicy | None = None,
        silence_timeout_s: float = 30.0,
        book_tickers: Iterable[str] = (),
        resume_from_ms: int | None = None,
        dedupe_capacity: int = 500_000,
        dedupe_generation: int = 4_096,
        recorder: FrameSink | None = None,
        snapshot_timeout_ms: int = 5_000,
        ticker_channel: bool = False,
        ws_reader: str = "handwritten",
    ) -> None:
        if ws_reader not in WS_READERS:
            raise ValueError(f"ws_reader must be one of {', '.join(WS_READERS)}: {ws_reader!r}")
        self._connect = WS_READERS[ws_reader]
        self._url = ws_url
        self._recorder = recorder
        self._channels = ALL_MARKET_CHANNELS + ((TICKER_CHANNEL,) if ticker_channel else ())
        self._rest = rest
        self._signer = signer
        self._out = out
        self._clock = clock
        # reconnects and backfill retries wait on the Kalshi policy's delays
        self._retry = retry or RetryPolicy(KALSHI_RETRY, name="kalshi")
        self._silence_s = silence_timeout_s
        self._want_books: set[str] = set(book_tickers)  # the dispatcher's, changed in place
        self.stats = FeedStats()
        # parsing, seq checks, dedupe and the stale books: the same code replays a recording
        self._d = FrameDispatcher(
            stats=self.stats,
            want_books=self._want_books,
            dedupe_capacity=dedupe_capacity,
            dedupe_keep_from=self._dedupe_keep_from,
            dedupe_generation=dedupe_generation,
            watermark_ms=resume_from_ms,
        )
        # A backfill on the next trade subscription: on resuming, after a failed first connect,
        # after any reconnect. Only a reconnect after the trade stream was live is a gap
        # (FeedGap, then GapRecovered); the start-up and resume backfills are routine.
        self._needs_backfill = resume_from_ms is not None
        self._trades_live = False  # the trade subscription of this connection is acknowledged
        self._lost_live = False  # a live trade stream was lost since the last trade subscription
        self._repairs: list[str] = []  # books the pipeline found broken: snapshots to ask for
        self._repair_wakeup = asyncio.Event()
        self._ws: WsReader | None = None
        self._sids = self._d.sids
        self._book_subscribed: set[str] = set()
        self._book_sub_pending = False
        self._cmd_id = 0
        # get_snapshot commands awaiting their snapshots: id -> (tickers, sent at)
        self._snapshot_cmds: dict[int, tuple[tuple[str, ...], int]] = {}
        self._snapshot_timeout_ms = snapshot_timeout_ms
        self._stale_since = self._d.stale_since  # every stale book, new ones included
        self._book_gaps = self._d.book_gaps  # the stale books that had a FeedGap: to repair
        self._backfill_from: int | None = None  # pending
        self._backfill_running_from: int | None = None  # fetching, not deduped yet
        self._backfill_gaps: list[FeedGap] = []  # the gaps the next backfill repairs
        self._backfill_wakeup = asyncio.Event()
        self._backfill_idle = asyncio.Event()
        self._backfill_idle.set()

    # ---- public API -----------------------------------------------------------------------------

    def request_snapshot(self, ticker: str) -> None:
        """A book the pipeline found broken (a delta it could not apply): ask for a snapshot
        after the frames in hand. Never awaits: the pipeline calls it."""
        if ticker in self._want_books and ticker not in self._repairs:
            self._repairs.append(ticker)
            self._repair_wakeup.set()

    async def backfill_idle(self) -> None:
        """Resolves when no backfill is pending or running."""
        await self._backfill_idle.wait()

    async def add_book_tickers(self, tickers: Iterable[str]) -> None:
        new = set(tickers) - self._want_books
        self._want_books |= new
        now = self._clock.now_ms()
        for t in new:
            self._stale_since.setdefault(t, now)  # until its first snapshot
        await self._sync_books()

    async def remove_book_tickers(self, tickers: Iterable[str]) -> None:
        gone = set(tickers) & self._want_books
        self._want_books -= gone
        now = self._clock.now_ms()
        for t in sorted(gone):
            self._stale_since.pop(t, None)
            await self._emit(BookUnfollowed(t, now, now))
            self._book_gaps.discard(t)
        await self._sync_books()

    async def run(self) -> None:
        """Connect, read and reconnect until cancelled. Raises KalshiAuthError on rejected keys,
        and whatever the backfill task died of, as soon as it dies."""
        backfiller = asyncio.create_task(self._backfill_loop(), name="kalshi-backfill")
        # The backfill task is this task's: if it dies, the reader is cancelled at once and
        # run() raises what it died of, so the feed's owner sees it while the socket is still up
        # (a feed without backfill would lose trades at every gap, silently).
        reader = asyncio.current_task()
        if reader is not None:
            backfiller.add_done_callback(functools.partial(_cancel_on_failure, reader))
        try:
            await self._read_loop()
        except asyncio.CancelledError:
            died = _failure(backfiller)
            if died is None:
                raise
            if reader is not None:
                reader.uncancel()
            await self._status(FeedState.FAILED, f"backfill died: {died!r}")
            raise died from None
        finally:
            if not backfiller.done():
                backfiller.cancel()
                await asyncio.wait([backfiller])

    async def _read_loop(self) -> None:
        attempt = 0
        first_ms = self._clock.now_ms()
        self.stats.since_ms = first_ms
        while True:
            await self._status(FeedState.CONNECTING, self._url)
            got_data = False
            try:
                got_data = await self._session()
            except KalshiAuthError as exc:
                self.stats.last_error = str(exc)
                await self._status(FeedState.FAILED, str(exc))
                raise
            except (OSError, TimeoutError, WsError) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("kalshi ws: %s: %s", type(exc).__name__, exc)
            finally:
                self._ws = None
                if self.stats.connected:
                    self.stats.connected = False
                    self.stats.since_ms = self._clock.now_ms()
                self._lost_live |= self._trades_live
                self._trades_live = False
            if got_data:
                attempt = 0
            if self._d.watermark_ms is None:
                self._d.watermark_ms = first_ms
            self._needs_backfill = True
            self.stats.reconnects += 1
            await self._status(FeedState.RECONNECTING, f"attempt {attempt + 1}")
            await self._retry.wait(attempt)
            attempt += 1

    # ---- connection -----------------------------------------------------------------------------

    async def _session(self) -> bool:
        """One connection's life; returns whether any data frame arrived."""
        headers = self._signer.ws_headers() if self._signer else {}
        # AsyncAPI control_frames: Kalshi pings every 10 s ("heartbeat"); the connection answers
        # each ping with a pong as it arrives. A dead connection shows as silence.
        try:
            ws = await self._connect(
                self._url, headers=headers, open_timeout=self._silence_s, max_size=16 * 1024 * 1024
            )
        except HandshakeRejected as exc:
            status = exc.status
            body = rest_wire.parse_error_body(exc.body)
            text = " ".join(x for x in (body.code, body.message, body.details) if x)
            if status in (401, 403):
                raise KalshiAuthError(
                    f"websocket handshake rejected: HTTP {status}: {text}",
                    status=status, code=body.code, details=body.details,
                ) from None  # fmt: skip
            raise
        self._reset_connection_state()
        got_data = False
        # the connection's own task: asks for the snapshots of books the pipeline found broken
        repairer = asyncio.create_task(self._repair_loop(), name="kalshi-book-repair")
        try:
            try:
                self._ws = ws
                self.stats.connected = True
                self.stats.since_ms = self._clock.now_ms()
                await self._status(FeedState.CONNECTED, self._url)
                await self._send(wire.subscribe_cmd(self._next_id(), self._channels))
                await self._sync_books()
                loop = asyncio.get_running_loop()
                renewed = loop.time()
                renew_s = min(SILENCE_RENEW_S, self._silence_s / 4)
                async with asyncio.timeout_at(renewed + self._silence_s) as deadline:
                    frames = 0
                    while True:
                        batch = await ws.recv_batch()
                        got_data = True
                        now = loop.time()
                        if now - renewed >= renew_s:
                            deadline.reschedule(now + self._silence_s)
                            renewed = now
                        for raw in batch:
                            await self._on_frame(raw)
                            frames += 1
                            if frames % FRAMES_PER_TURN == 0:
                                # a batch comes without a yield: a backlog must not hold the
                                # loop (the pipeline, the hub) for its whole length
                                await asyncio.sleep(0)
            finally:
                repairer.cancel()
                await asyncio.wait([repairer])
                await ws.close()
                died = _failure(repairer)
                if died is not None:
                    raise died
        except TimeoutError:
            self.stats.last_error = f"silent for {self._silence_s:g} s"
            log.warning("kalshi ws: silent for %.1fs, reconnecting", self._silence_s)
        except ConnectionClosed as exc:
            self.stats.last_error = f"connection closed: {exc}"
            log.warning("kalshi ws: connection closed: %s", exc)
        return got_data

    def _reset_connection_state(self) -> None:
        self._d.reset_connection(self._clock.now_ms())
        self._book_subscribed.clear()
        self._book_sub_pending = False
        self._snapshot_cmds.clear()

    def _next_id(self) -> int:
        self._cmd_id += 1
        return self._cmd_id

    async def _send(self, data: bytes) -> None:
        ws = self._ws
        if ws is None:
            return
        with contextlib.suppress(WsError):
            await ws.send_text(data)

    async def _emit(self, event: Event) -> None:
        try:
            self._out.put_nowait(event)
        except asyncio.QueueFull:
            await self._out.put(event)

    async def _status(self, state: FeedState, detail: str) -> None:
        now = self._clock.now_ms()
        await self._emit(FeedStatus(state, detail, now, now))

    # ---- frames ---------------------------------------------------------------------------------

    async def _on_frame(self, raw: str | bytes) -> None:
        recv_ms = self._clock.now_ms()
        if self._recorder is not None:
            self._recorder.frame(recv_ms, raw)
        d = self._d
        d.dispatch(raw, recv_ms)
        events = d.events
        if events:
            out = self._out
            for event in events:
                try:
                    out.put_nowait(event)
                except asyncio.QueueFull:
                    await out.put(event)
            events.clear()
        if d.controls:
            await self._act(recv_ms)
        if self._snapshot_cmds:
            await self._expire_snapshot_cmds(recv_ms)

    async def _act(self, recv_ms: int) -> None:
        """What the frame asks of the connection: follow subscriptions, ask for snapshots and
        backfills, handle refusals."""
        controls = self._d.controls
        while controls:
            c = controls.pop(0)
            if isinstance(c, wire.Subscribed):
                await self._on_subscribed(c, recv_ms)
            elif isinstance(c, wire.Ok):
                if c.sid is not None and c.sid == self._sids.get(BOOK_CHANNEL) and c.market_tickers:
                    self._book_subscribed = set(c.market_tickers)
            elif isinstance(c, wire.ErrorReply):
                await self._on_ws_error(c)
            elif isinstance(c, BackfillWanted):
                self._request_backfill(c.from_ms, c.gap)
            elif isinstance(c, SnapshotsWanted):
                await self._ask_snapshots(list(c.tickers), c.now_ms)

    async def _on_subscribed(self, p: wire.Subscribed, recv_ms: int) -> None:
        if p.channel == BOOK_CHANNEL:
            self._book_sub_pending = False
            await self._sync_books()
        elif p.channel == "trade":
            self._trades_live = True
            if not self._needs_backfill:
                return
            self._needs_backfill = False
            wm = self._d.watermark_ms
            from_ms = wm if wm is not None else recv_ms
            if not self._lost_live:
                self._request_backfill(from_ms)  # start-up or resume: nothing was live to lose
                return
            self._lost_live = False
            gap = FeedGap(GapKind.RECONNECT, "trade", p.sid, None, None, None, from_ms,
                          recv_ms, recv_ms)  # fmt: skip
            await self._emit(gap)
            self._request_backfill(from_ms, gap)

    async def _book_gap(
        self, tickers: list[str], sid: int | None, expected: int | None, got: int | None, now: int
    ) -> None:
        fresh = self._d.book_gap(tickers, sid, expected, got, now)
        events = self._d.events
        for event in events:
            await self._emit(event)
        events.clear()
        await self._ask_snapshots(fresh, now)

    async def _ask_snapshots(self, fresh: list[str], now: int) -> None:
        book_sid = self._sids.get(BOOK_CHANNEL)
        if fresh and book_sid is not None:
            cmd_id = self._next_id()
            self._snapshot_cmds[cmd_id] = (tuple(fresh), now)
            await self._send(wire.update_subscription_cmd(cmd_id, book_sid, "get_snapshot", fresh))

    async def _repair_loop(self) -> None:
        while True:
            await self._repair_wakeup.wait()
            self._repair_wakeup.clear()
            tickers, self._repairs = self._repairs, []
            now = self._clock.now_ms()
            await self._book_gap(tickers, self._sids.get(BOOK_CHANNEL), None, None, now)

    async def _on_ws_error(self, err: wire.ErrorReply) -> None:
        log.warning("kalshi ws error %d on command %s: %s", err.code, err.id, err.msg)
        pending = self._snapshot_cmds.pop(err.id, None) if err.id is not None else None
        if pending:
            await self._resubscribe_books(pending[0])

    async def _resubscribe_books(self, tickers: tuple[str, ...]) -> None:
        """Drop and re-add the markets, which makes the exchange send fresh snapshots."""
        book_sid = self._sids.get(BOOK_CHANNEL)
        if book_sid is not None:
            await self._send(wire.update_subscription_cmd(
                self._next_id(), book_sid, "delete_markets", tickers))  # fmt: skip
            self._book_subscribed -= set(tickers)
            await self._sync_books()

    async def _expire_snapshot_cmds(self, now: int) -> None:
        """A get_snapshot answered neither with snapshots nor an error within the timeout is
        treated as refused for the books still stale."""
        for cmd_id, (tickers, sent) in list(self._snapshot_cmds.items()):
            still = tuple(t for t in tickers if t in self._stale_since)
            if not still:
                del self._snapshot_cmds[cmd_id]
            elif now - sent >= self._snapshot_timeout_ms:
                del self._snapshot_cmds[cmd_id]
                log.warning("kalshi ws: no snapshot for %d books %d ms after get_snapshot; "
                            "resubscribing them", len(still), now - sent)  # fmt: skip
                await self._resubscribe_books(still)

    async def _sync_books(self) -> None:
        """Bring the server-side orderbook subscription in line with the wanted tickers."""
        if self._ws is None or self._book_sub_pending:
            return
        sid = self._sids.get(BOOK_CHANNEL)
        if sid is None:
            if self._want_books:
                self._book_sub_pending = True
                self._book_subscribed = set(self._want_books)
                await self._send(wire.subscribe_cmd(
                    self._next_id(), [BOOK_CHANNEL], sorted(self._want_books)))  # fmt: skip
            return
        add = sorted(self._want_books - self._book_subscribed)
        delete = sorted(self._book_subscribed - self._want_books)
        if add:
            self._book_subscribed |= set(add)
            await self._send(wire.update_subscription_cmd(self._next_id(), sid, "add_markets", add))
        if delete:
            self._book_subscribed -= set(delete)
            await self._send(
                wire.update_subscription_cmd(self._next_id(), sid, "delete_markets", delete)
            )

    # ---- REST backfill --------------------------------------------------------------------------

    def _dedupe_keep_from(self) -> int | None:
        """The oldest exchange time whose trade ids the dedupe must remember, or None for all.

        A backfill, pending or running, asks for trades from its ``from_ms``, and any later one
        from the watermark (a gap, a reconnect) or later, for the watermark never goes back: an
        id older than the oldest of those, by more than the margin, cannot come back."""
        oldest = self._d.watermark_ms
        for from_ms in (self._backfill_from, self._backfill_running_from):
            if from_ms is not None and (oldest is None or from_ms < oldest):
                oldest = from_ms
        return None if oldest is None else oldest - DEDUPE_MARGIN_MS

    def _request_backfill(self, from_ms: int, *gaps: FeedGap) -> None:
        """Backfill from ``from_ms`` (merged with any request pending), repairing ``gaps``."""
        cur = self._backfill_from
        self._backfill_from = from_ms if cur is None else min(cur, from_ms)
        self._backfill_gaps += gaps
        self._backfill_idle.clear()
        self._backfill_wakeup.set()

    async def _backfill_loop(self) -> None:
        attempt = 0
        while True:
            await self._backfill_wakeup.wait()
            self._backfill_wakeup.clear()
            from_ms = self._backfill_from
            if from_ms is None:
                self._backfill_idle.set()
                continue
            self._backfill_from = None
            gaps, self._backfill_gaps = self._backfill_gaps, []
            self._backfill_running_from = from_ms
            try:
                await self._backfill(from_ms, gaps)
                attempt = 0
            except KalshiAuthError:
                raise
            except (KalshiError, WireError) as exc:
                # WireError here is a body that is not a trades page at all (a bad row is
                # skipped where it is parsed): worth another try, like a failed request
                log.warning("kalshi backfill from %d failed: %s", from_ms, exc)
                self._request_backfill(from_ms, *gaps)
                await self._retry.wait(attempt)
                attempt += 1
            finally:
                self._backfill_running_from = None
            if self._backfill_from is None:
                self._backfill_idle.set()

    async def _backfill(self, from_ms: int, gaps: list[FeedGap]) -> None:
        to_ms = max(self._clock.now_ms(), self._d.watermark_ms or 0)
        # /markets/trades takes whole seconds: widen by one second each side
        min_ts, max_ts = from_ms // 1000 - 1, to_ms // 1000 + 1
        found: list[Trade] = []
        bad = 0
        async for page in self._rest.iter_trade_pages(min_ts=min_ts, max_ts=max_ts):
            found += page.trades
            bad += len(page.bad_rows)  # logged by the REST client, once per page
        self.stats.bad_rest_rows += bad  # counted once the backfill is done, not per retry
        found.sort(key=lambda t: t.ts_ms)
        fresh = self._d.dedupe(found)
        if self._recorder is not None and fresh:
            self._recorder.backfill(fresh[0].recv_ms, fresh)
        n = len(fresh)
        for t in fresh:
            await self._emit(t)
        self.stats.trades += n
        now = self._clock.now_ms()
        log.info("kalshi backfill %d..%d: %d of %d trades were missing", from_ms, to_ms, n,
                 len(found))  # fmt: skip
        if not gaps:
            return  # a routine start-up backfill repairs no gap
        self.stats.trades_recovered += n
        self.stats.gaps_recovered += len(gaps)
        # one repair per gap, each under its gap's kind and start; the trades are counted once
        for i, gap in enumerate(gaps):
            await self._emit(GapRecovered(gap.kind, gap.from_ms, to_ms, n if i == 0 else 0, None,
                                          now, now))  # fmt: skip
