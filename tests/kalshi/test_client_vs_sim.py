"""The Kalshi client against the simulator over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clock import ManualClock, SystemClock
from infra.retry import RetryConfig, RetryPolicy
from kalshi.auth import HEADER_SIGNATURE, Signer
from kalshi.book_store import BookStore
from kalshi.feed import KalshiFeed
from kalshi.rest import KalshiAuthError, KalshiRateLimited, KalshiRest
from models import (
    BookDelta,
    BookSnapshot,
    BookUnfollowed,
    Event,
    FeedGap,
    GapKind,
    GapRecovered,
    Trade,
)
from tests.infra.sleeps import RecordedSleep

exchange = pytest.importorskip("sim.exchange")

KEY_ID = "a952bcbe-ec3b-4b5b-b8f9-11dae589608c"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def fast(sleep: RecordedSleep | None = None, max_attempts: int = 7) -> RetryPolicy:
    config = RetryConfig(base_s=0.002, cap_s=0.02, max_attempts=max_attempts)
    return RetryPolicy(config, name="kalshi", sleep=sleep or RecordedSleep(), rng=random.Random(5))


@pytest.fixture
async def sim(key: rsa.RSAPrivateKey) -> AsyncIterator[Any]:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ex = exchange.SimExchange(
        key_id=KEY_ID,
        public_key_pem=pem,
        seed=3,
        rate=0.0,
        n_markets=40,
        rate_limit_per_s=10_000.0,
        rate_limit_burst=10_000,
    )
    await ex.start()
    try:
        yield ex
    finally:
        await ex.stop()


def signer(key: rsa.RSAPrivateKey) -> Signer:
    return Signer(KEY_ID, key, SystemClock())


@dataclass
class Run:
    feed: KalshiFeed
    out: asyncio.Queue[Event]
    trades: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    books: BookStore = field(default_factory=BookStore)  # as the pipeline builds its own

    async def until(self, cond: Callable[[], bool], limit_s: float = 10.0) -> None:
        """Consume feed output until ``cond()`` holds (checked before each wait)."""
        async with asyncio.timeout(limit_s):
            while not cond():
                ev = await self.out.get()
                self.books.apply(ev)
                self.events.append(ev)
                if isinstance(ev, Trade):
                    self.trades.append(ev.trade_id)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@contextlib.asynccontextmanager
async def running(sim: Any, key: rsa.RSAPrivateKey, **kw: Any) -> AsyncIterator[Run]:
    out: asyncio.Queue[Event] = asyncio.Queue(maxsize=10_000)
    async with KalshiRest(
        sim.rest_url, signer=signer(key), clock=SystemClock(), retry=fast()
    ) as rest:
        feed = KalshiFeed(
            ws_url=sim.ws_url,
            rest=rest,
            signer=signer(key),
            out=out,
            clock=SystemClock(),
            retry=fast(),
            **kw,
        )
        task = asyncio.create_task(feed.run())
        run = Run(feed, out, books=BookStore(feed.request_snapshot))
        try:
            async with asyncio.timeout(10):
                await sim.wait_clients(1)
            yield run
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if task.done() and not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]


# ---- auth -------------------------------------------------------------------------------------


async def test_signed_rest_accepted(sim: Any, key: rsa.RSAPrivateKey) -> None:
    async with KalshiRest(sim.rest_url, signer=signer(key), clock=SystemClock()) as rest:
        assert (await rest.exchange_status())[0] is True
        markets = await rest.markets(limit=7)
    assert {m.ticker for m in markets} == set(sim.tickers())


class NoSignature:
    def __init__(self, inner: Signer) -> None:
        self.inner = inner

    def headers(self, method: str, url: str) -> dict[str, str]:
        h = self.inner.headers(method, url)
        del h[HEADER_SIGNATURE]
        return h

    def ws_headers(self) -> dict[str, str]:
        return self.headers("GET", "/trade-api/ws/v2")


async def test_each_auth_rejection(sim: Any, key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stale = ManualClock(SystemClock().now_ms() - 5 * 60_000)
    cases: list[tuple[Any, str]] = [
        (Signer(KEY_ID, other, SystemClock()), "INCORRECT_API_KEY_SIGNATURE"),
        (Signer("00000000-0000-0000-0000-000000000000", key, SystemClock()), "NOT_FOUND"),
        (NoSignature(signer(key)), "signature is missing from headers"),
        (Signer(KEY_ID, key, stale), "header timestamp expired"),
    ]
    for bad, text in cases:
        async with KalshiRest(sim.rest_url, signer=bad, clock=SystemClock()) as rest:
            with pytest.raises(KalshiAuthError, match=text) as ei:
                await rest.markets_page(limit=1)
            assert ei.value.status == 401 and rest.requests == 1
        out: asyncio.Queue[Event] = asyncio.Queue()
        async with KalshiRest(sim.rest_url, signer=None, clock=SystemClock()) as rest:
            feed = KalshiFeed(
                ws_url=sim.ws_url,
                rest=rest,
                signer=bad,
                out=out,
                clock=SystemClock(),
                retry=fast(),
            )
            async with asyncio.timeout(10):
                with pytest.raises(KalshiAuthError, match="401"):
                    await feed.run()


# ---- REST paging and rate limits ---------------------------------------------------------------


async def test_paging_through_thousands_of_trades(sim: Any, key: rsa.RSAPrivateKey) -> None:
    ids = await sim.emit_trades(3500)
    async with KalshiRest(sim.rest_url, signer=signer(key), clock=SystemClock()) as rest:
        trades = await rest.trades(limit=1000)
        assert rest.requests >= 4
        ticker = trades[0].ticker
        one = await rest.trades(ticker=ticker, limit=100)
    assert [t.trade_id for t in trades] == list(reversed(sim.produced_trade_ids()))
    assert set(ids) <= {t.trade_id for t in trades}
    assert [t.trade_id for t in one] == [t.trade_id for t in trades if t.ticker == ticker]
    assert all(a.ts_ms >= b.ts_ms for a, b in itertools.pairwise(trades))


async def test_backoff_on_429(sim: Any, key: rsa.RSAPrivateKey) -> None:
    sleep = RecordedSleep()
    async with KalshiRest(
        sim.rest_url, signer=signer(key), clock=SystemClock(), retry=fast(sleep, max_attempts=6)
    ) as rest:
        sim.faults.rate_limit_burst(3)
        assert (await rest.exchange_status())[0]
        assert rest.retries == 3
        assert len(sleep.delays) == 3 and all(0.001 <= d <= 0.02 for d in sleep.delays)
        sim.faults.rate_limit_burst(50)
        with pytest.raises(KalshiRateLimited):
            await rest.exchange_status()
        assert rest.retries == 8  # five more, then the sixth attempt's 429 is raised


# ---- WebSocket ---------------------------------------------------------------------------------


def books_match(run: Run, sim: Any, tickers: list[str]) -> bool:
    books = run.books.all_books()
    return all(
        t in books and not books[t].stale and books[t].as_maps() == sim.book(t) for t in tickers
    )


async def test_trades_and_books_match_simulator(sim: Any, key: rsa.RSAPrivateKey) -> None:
    tickers = sim.open_tickers()[:6]
    async with running(sim, key, book_tickers=tickers) as run:
        await run.until(lambda: len(run.of(BookSnapshot)) >= len(tickers))
        ids = await sim.emit_trades(400)
        await run.until(lambda: set(ids) <= set(run.trades) and books_match(run, sim, tickers))
        assert run.of(BookDelta), "trades moved no watched book"
        snaps = run.of(BookSnapshot)
        assert len({s.sid for s in snaps}) == 1 and all(s.seq >= 1 for s in snaps)
        assert len(run.trades) == len(set(run.trades))
        stats = run.feed.stats
        assert stats.connected and stats.trade_gaps == 0 and stats.book_gaps == 0


async def test_fresh_start_repairs_nothing_and_a_seq_gap_is_one_of_each(
    sim: Any, key: rsa.RSAPrivateKey
) -> None:
    tickers = sim.open_tickers()[:6]
    early = await sim.emit_trades(30)  # before the feed starts: the resume backfill has them
    resume = SystemClock().now_ms() - 60_000
    async with running(sim, key, book_tickers=tickers, resume_from_ms=resume) as run:
        await run.until(lambda: len(run.of(BookSnapshot)) >= len(tickers))
        await run.until(lambda: set(early) <= set(run.trades))
        async with asyncio.timeout(10):
            await run.feed.backfill_idle()
        first = await sim.emit_trades(20)
        await run.until(lambda: set(first) <= set(run.trades))
        # first snapshots and the start-up backfill: nothing was lost, so nothing repaired
        assert run.of(FeedGap) == [] and run.of(GapRecovered) == []
        assert run.feed.stats.gaps_recovered == 0 and run.feed.stats.trades_recovered == 0
        sim.faults.skip_seq("trade", 2)
        more = await sim.emit_trades(20)
        await run.until(lambda: set(more) <= set(run.trades) and bool(run.of(GapRecovered)))
        async with asyncio.timeout(10):
            await run.feed.backfill_idle()
        await run.until(lambda: run.out.empty())
        gaps, repairs = run.of(FeedGap), run.of(GapRecovered)
        assert [g.kind for g in gaps] == [GapKind.TRADE]
        assert [(r.kind, r.from_ms) for r in repairs] == [(GapKind.TRADE, gaps[0].from_ms)]
        stats = run.feed.stats
        assert stats.trade_gaps == 1 and stats.gaps_recovered == 1 and stats.book_gaps == 0


async def test_book_gap_recovered_with_get_snapshot(sim: Any, key: rsa.RSAPrivateKey) -> None:
    tickers = sim.open_tickers()[:3]
    async with running(sim, key, book_tickers=tickers) as run:
        await run.until(lambda: len(run.of(BookSnapshot)) >= len(tickers))
        for t in tickers:
            sim.faults.drop_book_deltas(t, 1)
        for _ in range(50):
            await sim.emit_trades(40)
            if run.feed.stats.book_gaps or any(isinstance(e, FeedGap) for e in run.events):
                break
            await run.until(lambda: run.out.empty(), limit_s=5)
        await run.until(lambda: bool(run.of(FeedGap)), limit_s=10)
        await run.until(lambda: bool(run.of(GapRecovered)) and books_match(run, sim, tickers))
        gap = run.of(FeedGap)[0]
        assert gap.kind is GapKind.BOOK and gap.expected_seq is not None
        assert run.of(GapRecovered)[0].kind is GapKind.BOOK


async def test_update_subscription_add_and_delete(sim: Any, key: rsa.RSAPrivateKey) -> None:
    a, b = sim.open_tickers()[:2]
    async with running(sim, key, book_tickers=[a]) as run:
        await run.until(lambda: any(s.ticker == a for s in run.of(BookSnapshot)))
        await run.feed.add_book_tickers([b])
        await run.until(lambda: any(s.ticker == b for s in run.of(BookSnapshot)))
        await run.feed.remove_book_tickers([a])
        await run.until(lambda: any(e.ticker == a for e in run.of(BookUnfollowed)))
        assert set(run.books.all_books()) == {b}
        await sim.emit_trades(200)
        await run.until(lambda: books_match(run, sim, [b]))


async def test_malformed_frames_counted_and_skipped(sim: Any, key: rsa.RSAPrivateKey) -> None:
    async with running(sim, key) as run:
        sim.faults.send_malformed('{"type":"trade","msg":')
        sim.faults.send_malformed("not json at all")
        ids = await sim.emit_trades(5)
        await run.until(lambda: set(ids) <= set(run.trades))
        assert run.feed.stats.bad_frames == 2


async def test_malformed_rest_trade_counted_and_skipped(
    sim: Any, key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(sim, key) as run:
        first = await sim.emit_trades(20)
        await run.until(lambda: set(first) <= set(run.trades))
        sim.faults.drop_connections()
        missed = await sim.emit_trades(30)  # while the feed is away: only REST has them
        bad = missed[11]
        sim.faults.corrupt_rest_trade(bad)
        await run.until(lambda: set(missed) - {bad} <= set(run.trades))
        async with asyncio.timeout(10):
            await run.feed.backfill_idle()
        assert bad not in run.trades and run.feed.stats.bad_rest_rows == 1
        later = await sim.emit_trades(5)
        await run.until(lambda: set(later) <= set(run.trades))
        assert run.feed.stats.connected  # nothing died
    skipped = [r.getMessage() for r in caplog.records if "do not parse" in r.getMessage()]
    assert len(skipped) == 1 and bad in skipped[0] and "lots" in skipped[0]


async def test_zero_loss_across_drops_and_seq_skips(sim: Any, key: rsa.RSAPrivateKey) -> None:
    async with running(sim, key) as run:
        seen: set[str] = set()
        target: set[str] = set()

        async def emit(n: int) -> None:
            target.update(await sim.emit_trades(n))

        def delivered_all() -> bool:
            seen.update(run.trades[len(seen) :])
            return seen >= target

        await emit(200)
        await run.until(delivered_all)
        drops = 0
        for round_ in range(6):
            if round_ % 2 == 0:
                drops += 1
                sim.faults.drop_connections()
                await emit(250)  # while the feed is away
                await run.until(lambda n=drops: run.feed.stats.reconnects >= n)  # type: ignore[misc]
                async with asyncio.timeout(10):
                    await sim.wait_clients(1)
            else:
                sim.faults.skip_seq("trade", 3)
                if round_ == 3:
                    sim.faults.rate_limit_burst(2)  # the backfill has to retry
            await emit(250)
            await run.until(delivered_all, limit_s=20)
        await emit(100)
        produced = sim.produced_trade_ids()
        await run.until(delivered_all, limit_s=20)
        async with asyncio.timeout(10):
            await run.feed.backfill_idle()
        while not run.out.empty():
            ev = run.out.get_nowait()
            if isinstance(ev, Trade):
                run.trades.append(ev.trade_id)
        assert len(produced) == 2550
        assert set(run.trades) == set(produced)
        assert len(run.trades) == len(produced), "a trade was delivered twice"
        stats = run.feed.stats
        assert stats.reconnects >= 3 and stats.trade_gaps >= 3 and stats.trades_recovered >= 750
        assert stats.trades == 2550


async def test_silence_triggers_reconnect(sim: Any, key: rsa.RSAPrivateKey) -> None:
    async with running(sim, key, silence_timeout_s=0.5) as run:
        sim.faults.silence(True)
        await run.until(lambda: run.feed.stats.reconnects >= 1)
        sim.faults.silence(False)
        ids = await sim.emit_trades(10)
        await run.until(lambda: set(ids) <= set(run.trades))
