"""KalshiFeed against a scripted WebSocket peer on loopback: each test plays the exchange's side
frame by frame, so seq gaps, refusals and drops happen exactly where the test puts them."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from clock import Clock, ManualClock, SystemClock
from infra.retry import RetryConfig, RetryPolicy
from infra.tasks import TaskOwner
from kalshi.book_store import BookStore
from kalshi.feed import KalshiFeed, RecentIds
from kalshi.rest import KalshiAuthError, KalshiRest
from models import (
    BookSnapshot,
    BookUnfollowed,
    Event,
    FeedGap,
    FeedState,
    FeedStatus,
    GapKind,
    GapRecovered,
    Trade,
)
from tests.infra.sleeps import RecordedSleep

T0 = 1_781_000_000_000


@dataclass
class Peer:
    ws: ServerConnection
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def cmd(self) -> dict[str, Any]:
        async with asyncio.timeout(5):
            return orjson.loads(await self.ws.recv())

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def ack_all(self, first_sid: int = 1) -> dict[str, int]:
        """Answer the feed's opening subscribe: one `subscribed` per channel, own sid each."""
        c = await self.cmd()
        assert c["cmd"] == "subscribe" and "market_tickers" not in c["params"]
        sids = {}
        for i, ch in enumerate(c["params"]["channels"]):
            sids[ch] = first_sid + i
            await self.send(
                {"id": c["id"], "type": "subscribed", "msg": {"channel": ch, "sid": first_sid + i}}
            )
        return sids


class Exchange:
    def __init__(self, reject: int | None = None) -> None:
        self.peers: asyncio.Queue[Peer] = asyncio.Queue()
        self.reject = reject
        self.server: Server | None = None
        self.headers: list[dict[str, str]] = []

    def process_request(self, conn: ServerConnection, req: Request) -> Response | None:
        self.headers.append(dict(req.headers))
        if self.reject:
            body = b'{"error":{"code":"authentication_error","message":"authentication_error",'
            body += b'"details":"INCORRECT_API_KEY_SIGNATURE"}}'
            return conn.respond(HTTPStatus(self.reject), body.decode())
        return None

    async def handler(self, ws: ServerConnection) -> None:
        peer = Peer(ws)
        await self.peers.put(peer)
        await ws.wait_closed()

    async def peer(self) -> Peer:
        async with asyncio.timeout(5):
            return await self.peers.get()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/trade-api/ws/v2"


def trade(i: int, seq: int | None, sid: int = 1, ts: int | None = None) -> dict[str, Any]:
    msg = {
        "trade_id": f"t{i}",
        "market_ticker": "MKT-A",
        "yes_price_dollars": "0.4200",
        "no_price_dollars": "0.5800",
        "count_fp": "3.50",
        "taker_side": "yes",
        "taker_outcome_side": "yes",
        "taker_book_side": "bid",
        "ts": (ts or T0 + i) // 1000,
        "ts_ms": ts or T0 + i,
    }
    f: dict[str, Any] = {"type": "trade", "sid": sid, "msg": msg}
    if seq is not None:
        f["seq"] = seq
    return f


def rest_row(i: int) -> dict[str, Any]:
    m = trade(i, None)["msg"]
    return {
        "trade_id": m["trade_id"],
        "ticker": m["market_ticker"],
        "count_fp": m["count_fp"],
        "yes_price_dollars": m["yes_price_dollars"],
        "no_price_dollars": m["no_price_dollars"],
        "taker_side": "yes",
        "taker_outcome_side": "yes",
        "created_time": f"2026-06-09T08:53:20.{i % 1000:03d}Z",
    }


@dataclass
class Harness:
    ex: Exchange
    feed: KalshiFeed
    out: asyncio.Queue[Event]
    rest_calls: list[dict[str, str]]
    sleep: RecordedSleep  # the delays the feed's reconnects and REST retries asked for
    books: BookStore  # built from the events taken, as the pipeline builds its own

    def take(self, ev: Event) -> Event:
        self.books.apply(ev)
        return ev

    async def next(
        self, kind: type | tuple[type, ...], pred: Callable[[Any], bool] = lambda e: True
    ) -> Any:
        async with asyncio.timeout(5):
            while True:
                ev = self.take(await self.out.get())
                if isinstance(ev, kind) and pred(ev):
                    return ev
                assert not isinstance(ev, Trade) or kind is Trade, f"unexpected {ev}"


@contextlib.asynccontextmanager
async def harness(
    history: list[int] | None = None,
    *,
    reject: int | None = None,
    silence_s: float = 5.0,
    books: tuple[str, ...] = (),
    resume_from_ms: int | None = None,
    clock: Clock | None = None,
    answer: Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]] | None = None,
    owner: TaskOwner | None = None,
    dedupe_generation: int = 4_096,
) -> AsyncIterator[Harness]:
    """``answer`` answers the REST calls instead of ``history``; with an ``owner`` the feed runs
    as its task "kalshi-feed", as in the app."""
    ex = Exchange(reject)
    calls: list[dict[str, str]] = []

    async def handle(req: httpx.Request) -> httpx.Response:
        calls.append(dict(req.url.params))
        if answer is not None:
            answered = answer(req)
            return answered if isinstance(answered, httpx.Response) else await answered
        return httpx.Response(
            200, json={"trades": [rest_row(i) for i in history or []], "cursor": ""}
        )

    sleep = RecordedSleep()
    retry = RetryPolicy(
        RetryConfig(base_s=0.001, cap_s=0.005), name="kalshi", sleep=sleep, rng=random.Random(1)
    )
    out: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)
    async with serve(ex.handler, "127.0.0.1", 0, process_request=ex.process_request) as server:
        ex.server = server
        async with KalshiRest(
            "http://kalshi.test/trade-api/v2",
            signer=None,
            clock=SystemClock(),
            retry=retry,
            transport=httpx.MockTransport(handle),
        ) as rest:
            feed = KalshiFeed(
                ws_url=ex.url,
                rest=rest,
                signer=None,
                out=out,
                clock=clock or SystemClock(),
                retry=retry,
                silence_timeout_s=silence_s,
                book_tickers=books,
                resume_from_ms=resume_from_ms,
                dedupe_generation=dedupe_generation,
            )
            if owner is not None:
                owner.start("kalshi-feed", feed.run())
                try:
                    yield Harness(ex, feed, out, calls, sleep, BookStore(feed.request_snapshot))
                finally:
                    await owner.close()
                return
            task = asyncio.create_task(feed.run())
            try:
                yield Harness(ex, feed, out, calls, sleep, BookStore(feed.request_snapshot))
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, KalshiAuthError):
                    await task


async def test_subscribes_and_delivers_trades_skipping_bad_frames() -> None:
    async with harness() as h:
        p = await h.ex.peer()
        sids = await p.ack_all()
        assert set(sids) == {"trade", "market_lifecycle_v2"}  # ticker only when asked for
        assert len(set(sids.values())) == 2
        await p.send(trade(1, 1))
        await p.send('{"type":"trade","sid":1,"seq":2,"msg":{"trade_id":"x"')  # truncated JSON
        await p.send(trade(2, 2)["msg"] | {"type": "trade"})  # no msg/sid
        await p.send(trade(3, 2))
        t1 = await h.next(Trade)
        t3 = await h.next(Trade)
        assert (t1.trade_id, t3.trade_id) == ("t1", "t3")
        assert (t1.yes_price, t1.count, t1.ts_ms) == (4200, 350, T0 + 1)
        assert h.feed.stats.bad_frames == 2 and h.feed.stats.trades == 2
        assert h.feed.stats.connected and h.feed.stats.trade_gaps == 0
        assert h.rest_calls == []  # no resume point, no gap: nothing to backfill


async def test_trade_seq_gap_backfills_missing_trades_once() -> None:
    async with harness(history=[4, 3, 2, 1]) as h:
        p = await h.ex.peer()
        await p.ack_all()
        await p.send(trade(1, 1))
        await p.send(trade(3, 3))  # seq 2 (trade t2) lost
        assert (await h.next(Trade)).trade_id == "t1"
        gap = await h.next(FeedGap)
        assert (gap.kind, gap.expected_seq, gap.got_seq, gap.from_ms) == (
            GapKind.TRADE,
            2,
            3,
            T0 + 1,
        )
        got = [(await h.next(Trade)).trade_id for _ in range(3)]
        rec = await h.next(GapRecovered)
        assert sorted(got) == ["t2", "t3", "t4"]  # t1 and t3 were already delivered: not again
        assert rec.trades_recovered == 2 and rec.kind is GapKind.TRADE
        assert h.rest_calls[0]["min_ts"] == str((T0 + 1) // 1000 - 1)
        assert h.feed.stats.trade_gaps == 1 and h.feed.stats.trades_recovered == 2


async def test_reconnect_resubscribes_and_backfills() -> None:
    async with harness(history=[1, 2, 3]) as h:
        p = await h.ex.peer()
        await p.ack_all()
        await p.send(trade(1, 1))
        assert (await h.next(Trade)).trade_id == "t1"
        await p.ws.close()
        p2 = await h.ex.peer()
        await p2.ack_all(first_sid=10)
        gap = await h.next(FeedGap)
        assert gap.kind is GapKind.RECONNECT and gap.from_ms == T0 + 1
        ids = {(await h.next(Trade)).trade_id for _ in range(2)}
        assert ids == {"t2", "t3"}
        assert (await h.next(GapRecovered)).trades_recovered == 2
        await p2.send(trade(4, 1, sid=10))  # new sid, its own seq count
        assert (await h.next(Trade)).trade_id == "t4"
        assert h.feed.stats.reconnects == 1 and h.feed.stats.trade_gaps == 0
        assert len(h.sleep.delays) == 1 and 0.0005 <= h.sleep.delays[0] <= 0.001  # attempt 0


async def test_ids_are_remembered_while_a_backfill_can_still_bring_them_back() -> None:
    release = asyncio.Event()

    async def held(req: httpx.Request) -> httpx.Response:
        await release.wait()
        rows = [rest_row(i) for i in (2, 3, 10, 11, 12)]
        return httpx.Response(200, json={"trades": rows, "cursor": ""})

    async with harness(answer=held, dedupe_generation=2) as h:
        p = await h.ex.peer()
        await p.ack_all()
        await p.send(trade(1, 1))
        await p.send(trade(3, 3))  # seq 2 lost: a backfill from T0 + 1, held up
        assert (await h.next(Trade)).trade_id == "t1"
        await h.next(FeedGap)
        assert (await h.next(Trade)).trade_id == "t3"
        later = T0 + 600_000  # the watermark runs ten minutes on while the backfill waits
        for seq, i in enumerate((10, 11, 12), start=4):
            await p.send(trade(i, seq, ts=later + i))
        assert [(await h.next(Trade)).trade_id for _ in range(3)] == ["t10", "t11", "t12"]
        release.set()
        assert (await h.next(Trade)).trade_id == "t2"  # t3 and the rest were still remembered
        assert (await h.next(GapRecovered)).trades_recovered == 1


async def test_a_bad_rest_row_is_counted_and_skipped_and_the_page_kept() -> None:
    def page(req: httpx.Request) -> httpx.Response:
        bad = rest_row(3) | {"yes_price_dollars": "0.42\u0000"}
        return httpx.Response(200, json={"trades": [rest_row(4), bad, rest_row(2)], "cursor": ""})

    async with harness(answer=page) as h:
        p = await h.ex.peer()
        await p.ack_all()
        await p.send(trade(1, 1))
        await p.send(trade(5, 3))  # seq 2 lost: backfill
        got = {(await h.next(Trade)).trade_id for _ in range(4)}
        await h.next(GapRecovered)
        assert got == {"t1", "t5", "t4", "t2"}
        assert h.feed.stats.bad_rest_rows == 1 and h.feed.stats.trades == 4
        await p.send(trade(6, 4))  # the feed and its backfill are still alive
        assert (await h.next(Trade)).trade_id == "t6"


async def test_a_dying_backfill_task_is_seen_by_the_feeds_owner() -> None:
    def broken(req: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug in the backfill")

    died: asyncio.Future[tuple[str, BaseException]] = asyncio.get_running_loop().create_future()
    owner = TaskOwner(on_failure=lambda name, exc: died.set_result((name, exc)))
    async with harness(answer=broken, owner=owner) as h:
        p = await h.ex.peer()
        await p.ack_all()
        await p.send(trade(1, 1))
        await p.send(trade(3, 3))  # seq 2 lost: the backfill runs and dies
        async with asyncio.timeout(5):
            name, exc = await died  # while the connection is up
        assert name == "kalshi-feed" and isinstance(exc, RuntimeError)
        assert [n for n, _ in owner.failures] == ["kalshi-feed"] and owner.running() == []
        assert {(await h.next(Trade)).trade_id for _ in range(2)} == {"t1", "t3"}
        failed = await h.next(FeedStatus, lambda e: e.state is FeedState.FAILED)
        assert "a bug in the backfill" in failed.detail


async def until_trade(h: Harness, trade_id: str) -> list[Event]:
    """Every event up to and including the trade ``trade_id``."""
    seen: list[Event] = []
    async with asyncio.timeout(5):
        while not (seen and isinstance(seen[-1], Trade) and seen[-1].trade_id == trade_id):
            seen.append(h.take(await h.out.get()))
    return seen


async def test_resume_backfills_on_first_connect_and_counts_no_gap() -> None:
    async with harness(history=[7], resume_from_ms=T0) as h:
        p = await h.ex.peer()
        await p.ack_all()
        seen = await until_trade(h, "t7")
        async with asyncio.timeout(5):
            await h.feed.backfill_idle()
        assert h.rest_calls[0]["min_ts"] == str(T0 // 1000 - 1)
        await p.send(trade(8, 1))
        seen += await until_trade(h, "t8")
        # a routine start-up backfill: nothing was lost, nothing repaired
        assert not [e for e in seen if isinstance(e, FeedGap | GapRecovered)]
        assert h.feed.stats.gaps_recovered == 0 and h.feed.stats.trades_recovered == 0


async def test_first_book_snapshots_repair_nothing_a_reconnect_is_one_gap() -> None:
    async with harness(books=("B1", "B2")) as h:
        p = await h.ex.peer()
        await p.ack_all()
        c = await p.cmd()
        await p.send(
            {"id": c["id"], "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 9}}
        )
        await p.send(snapshot("B1", 9, 1, [["0.4000", "5.00"]]))
        await p.send(snapshot("B2", 9, 2, [["0.3000", "1.00"]]))
        await p.send(trade(1, 1))
        seen = await until_trade(h, "t1")
        assert [e.ticker for e in seen if isinstance(e, BookSnapshot)] == ["B1", "B2"]
        assert not [e for e in seen if isinstance(e, FeedGap | GapRecovered)]
        assert h.feed.stats.gaps_recovered == 0
        await p.ws.close()  # lost while live: one gap, repaired by the backfill
        p2 = await h.ex.peer()
        await p2.ack_all(first_sid=10)
        c = await p2.cmd()
        await p2.send(
            {"id": c["id"], "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 19}}
        )
        await p2.send(snapshot("B1", 19, 1, [["0.4000", "5.00"]]))
        await p2.send(snapshot("B2", 19, 2, [["0.3000", "1.00"]]))
        await p2.send(trade(2, 1, sid=10))
        seen = await until_trade(h, "t2")
        async with asyncio.timeout(5):
            await h.feed.backfill_idle()
        while not h.out.empty():
            seen.append(h.take(h.out.get_nowait()))
        gaps = [e for e in seen if isinstance(e, FeedGap)]
        repairs = [e for e in seen if isinstance(e, GapRecovered)]
        assert [g.kind for g in gaps] == [GapKind.RECONNECT] and gaps[0].from_ms == T0 + 1
        assert [(r.kind, r.from_ms) for r in repairs] == [(GapKind.RECONNECT, T0 + 1)]
        assert h.feed.stats.gaps_recovered == 1 and not h.books.all_books()["B2"].stale


async def test_silence_means_dead_connection() -> None:
    async with harness(silence_s=0.3) as h:
        p = await h.ex.peer()
        await p.ack_all()
        p2 = await h.ex.peer()  # the feed gave up on the silent socket and came back
        await p2.ack_all()
        assert h.feed.stats.reconnects >= 1


@pytest.mark.parametrize("status", [401, 403])
async def test_handshake_rejection_is_fatal(status: int) -> None:
    ex = Exchange(reject=status)
    async with serve(ex.handler, "127.0.0.1", 0, process_request=ex.process_request) as server:
        ex.server = server
        async with KalshiRest("http://x/trade-api/v2", signer=None, clock=SystemClock()) as rest:
            feed = KalshiFeed(
                ws_url=ex.url, rest=rest, signer=None, out=asyncio.Queue(), clock=SystemClock()
            )
            async with asyncio.timeout(5):
                with pytest.raises(KalshiAuthError, match="INCORRECT_API_KEY_SIGNATURE"):
                    await feed.run()
    assert not feed.stats.connected and len(ex.headers) == 1


def snapshot(ticker: str, sid: int, seq: int, yes: list[list[str]]) -> dict[str, Any]:
    return {
        "type": "orderbook_snapshot",
        "sid": sid,
        "seq": seq,
        "msg": {
            "market_ticker": ticker,
            "market_id": "m",
            "yes_dollars_fp": yes,
            "no_dollars_fp": [["0.5000", "10.00"]],
        },
    }


def delta(ticker: str, sid: int, seq: int, price: str, qty: str) -> dict[str, Any]:
    return {
        "type": "orderbook_delta",
        "sid": sid,
        "seq": seq,
        "msg": {
            "market_ticker": ticker,
            "market_id": "m",
            "price_dollars": price,
            "delta_fp": qty,
            "side": "yes",
            "ts_ms": T0,
        },
    }


async def book_setup(h: Harness) -> tuple[Peer, int]:
    p = await h.ex.peer()
    await p.ack_all()
    c = await p.cmd()
    assert c["cmd"] == "subscribe" and c["params"] == {
        "channels": ["orderbook_delta"],
        "market_tickers": ["B1", "B2"],
    }
    await p.send(
        {"id": c["id"], "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 9}}
    )
    await p.send(snapshot("B1", 9, 1, [["0.4000", "5.00"]]))
    await p.send(snapshot("B2", 9, 2, [["0.3000", "1.00"]]))
    await p.send(delta("B1", 9, 3, "0.4100", "2.00"))
    await h.next(BookSnapshot, lambda e: e.ticker == "B2")
    return p, 9


async def test_book_gap_get_snapshot_then_recovered() -> None:
    async with harness(books=("B1", "B2")) as h:
        p, sid = await book_setup(h)
        await p.send(delta("B1", sid, 5, "0.4100", "1.00"))  # seq 4 lost
        gaps = [await h.next(FeedGap) for _ in range(2)]
        assert {g.ticker for g in gaps} == {"B1", "B2"} and gaps[0].kind is GapKind.BOOK
        c = await p.cmd()
        assert c["params"]["action"] == "get_snapshot" and c["params"]["sids"] == [sid]
        assert sorted(c["params"]["market_tickers"]) == ["B1", "B2"]
        assert h.books.all_books()["B1"].stale
        await p.send(snapshot("B1", sid, 6, [["0.4500", "7.00"]]))
        rec = await h.next(GapRecovered)
        assert rec.kind is GapKind.BOOK and rec.ticker == "B1"
        b1 = h.books.all_books()["B1"]
        assert not b1.stale and b1.as_maps() == ({4500: 700}, {5000: 1000})
        assert h.books.all_books()["B2"].stale and h.feed.stats.book_gaps == 2


async def test_get_snapshot_refused_falls_back_to_resubscribe() -> None:
    async with harness(books=("B1", "B2")) as h:
        p, sid = await book_setup(h)
        await p.send(delta("B1", sid, 5, "0.4100", "1.00"))
        c = await p.cmd()
        assert c["params"]["action"] == "get_snapshot"
        await p.send({"id": c["id"], "type": "error", "msg": {"code": 13, "msg": "Unsupported"}})
        d = await p.cmd()
        a = await p.cmd()
        assert d["params"]["action"] == "delete_markets" and a["params"]["action"] == "add_markets"
        assert sorted(d["params"]["market_tickers"]) == sorted(a["params"]["market_tickers"])


async def test_get_snapshot_without_reply_falls_back_to_resubscribe() -> None:
    clock = ManualClock(T0)
    async with harness(books=("B1", "B2"), clock=clock) as h:
        p, sid = await book_setup(h)
        await p.send(delta("B1", sid, 5, "0.4100", "1.00"))
        c = await p.cmd()
        assert c["params"]["action"] == "get_snapshot"
        await p.send(snapshot("B1", sid, 6, [["0.4500", "7.00"]]))  # B2's never comes
        await h.next(GapRecovered, lambda e: e.ticker == "B1")
        clock.advance(4_999)
        await p.send(trade(1, 1))
        await h.next(Trade)  # a frame inside the timeout changes nothing
        clock.advance(1)
        await p.send(trade(2, 2))
        d = await p.cmd()
        a = await p.cmd()
        assert d["params"]["action"] == "delete_markets" and a["params"]["action"] == "add_markets"
        assert d["params"]["market_tickers"] == a["params"]["market_tickers"] == ["B2"]
        await h.next(Trade)
        await p.send(snapshot("B2", sid, 7, [["0.3100", "2.00"]]))
        rec = await h.next(GapRecovered, lambda e: e.ticker == "B2")
        assert rec.kind is GapKind.BOOK and not h.books.all_books()["B2"].stale


async def test_negative_level_marks_book_stale() -> None:
    async with harness(books=("B1", "B2")) as h:
        p, sid = await book_setup(h)
        await p.send(delta("B2", sid, 4, "0.3000", "-2.00"))  # only 1.00 rests there
        gap = await h.next(FeedGap)
        assert gap.ticker == "B2"
        c = await p.cmd()
        assert c["params"]["market_tickers"] == ["B2"]


async def test_add_and_remove_book_tickers() -> None:
    async with harness(books=("B1", "B2")) as h:
        p, sid = await book_setup(h)
        await h.feed.add_book_tickers(["B3"])
        c = await p.cmd()
        assert c["cmd"] == "update_subscription"
        assert c["params"] == {"sids": [sid], "market_tickers": ["B3"], "action": "add_markets"}
        await h.feed.remove_book_tickers(["B1"])
        c = await p.cmd()
        assert c["params"] == {"sids": [sid], "market_tickers": ["B1"], "action": "delete_markets"}
        await h.next(BookUnfollowed, lambda e: e.ticker == "B1")
        assert set(h.books.all_books()) == {"B2"}  # B3's book comes with its first snapshot


async def test_status_events() -> None:
    async with harness() as h:
        await (await h.ex.peer()).ack_all()
        st = await h.next(FeedStatus, lambda e: e.state == "connected")
        assert st.detail.startswith("ws://127.0.0.1")


def test_recent_ids_bounded() -> None:
    r = RecentIds(capacity=3)
    assert r.add("a") and r.add("b") and not r.add("a")
    assert r.add("c") and r.add("d")
    assert "a" not in r and "d" in r and len(r) == 3
