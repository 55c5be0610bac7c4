"""Market names: looked up without blocking, stored, and refreshed from REST when stale."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from clock import ManualClock
from database import Database
from infra.retry import RetryConfig, RetryPolicy
from models import (
    STRUCTURE_GRIDS,
    EventFeeUpdate,
    LifecycleEvent,
    LifecycleKind,
    MarketInfo,
    MarketsFetched,
    PriceRange,
    SeriesFetched,
    SeriesInfo,
)
from storage.market_meta import MarketDirectory
from tests.infra.sleeps import RecordedSleep

T0 = 1_780_000_000_000


def info(ticker: str, title: str, status: str = "active") -> MarketInfo:
    return MarketInfo(ticker, ticker.rsplit("-", 1)[0], ticker.split("-")[0], title, "", status,
                      None, None)  # fmt: skip


class Rest:
    """Stands in for KalshiRest.markets: answers from a dict, records each request."""

    def __init__(self) -> None:
        self.markets: dict[str, MarketInfo] = {}
        self.requests: list[list[str]] = []
        self.fail_next = 0
        self._answered = asyncio.Event()

    async def fetch(self, tickers: list[str]) -> list[MarketInfo]:
        self.requests.append(list(tickers))
        self._answered.set()  # the directory stores the answer before it next yields
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("reset by peer")
        return [self.markets[t] for t in tickers if t in self.markets]

    async def answered(self, n: int) -> None:
        async with asyncio.timeout(5):
            while len(self.requests) < n:
                self._answered.clear()
                await self._answered.wait()
            await asyncio.sleep(0)  # one turn of the loop: the answer is stored


@contextlib.asynccontextmanager
async def directory(
    path: Path, rest: Rest, clock: ManualClock, sleep: RecordedSleep | None = None
) -> AsyncIterator[MarketDirectory]:
    db = await Database.open(str(path), clock=clock, flush_interval_ms=10)
    retry = RetryPolicy(RetryConfig(base_s=5.0, cap_s=60.0, jitter=0.0), name="market lookup",
                        sleep=sleep or RecordedSleep())  # fmt: skip
    d = MarketDirectory(db=db, fetch=rest.fetch, max_per_s=10_000, retry=retry,
                        clock=clock, refresh_ms=60_000)  # fmt: skip
    task = asyncio.create_task(d.run())
    try:
        yield d
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def test_unknown_ticker_is_fetched_in_the_background(tmp_path: Path, clock: ManualClock
                                                           ) -> None:  # fmt: skip
    rest = Rest()
    rest.markets["KXA-1"] = info("KXA-1", "Will A?")
    async with directory(tmp_path / "m.db", rest, clock) as d:
        assert d.title("KXA-1") == ""  # never waits
        assert d.title("KXA-1") == ""  # and asks once
        await rest.answered(1)
        assert d.title("KXA-1") == "Will A?"
        assert rest.requests == [["KXA-1"]]


async def test_stale_details_are_refreshed_while_the_old_title_shows(
    tmp_path: Path, clock: ManualClock
) -> None:
    rest = Rest()
    rest.markets["KXA-1"] = info("KXA-1", "Will A?")
    async with directory(tmp_path / "m.db", rest, clock) as d:
        d.title("KXA-1")
        await rest.answered(1)
        clock.advance(59_000)
        assert d.shown("KXA-1") == "Will A?"
        assert len(rest.requests) == 1  # still fresh
        rest.markets["KXA-1"] = info("KXA-1", "Will A by Friday?", status="closed")
        rest.fail_next = 1  # the first refresh fails and is retried
        clock.advance(1_000)
        assert d.title("KXA-1") == "Will A?"  # a trade's lookup does not refresh
        assert len(rest.requests) == 1
        assert d.shown("KXA-1") == "Will A?"  # the board's does
        await rest.answered(3)
        assert d.title("KXA-1") == "Will A by Friday?"
        assert d.info("KXA-1").status == "closed"  # type: ignore[union-attr]
        assert d.refreshed == 1 and d.lookup_errors == 1
        assert rest.requests == [["KXA-1"]] * 3


async def test_details_from_storage_are_refreshed_after_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    rest = Rest()
    rest.markets["KXA-1"] = info("KXA-1", "Old title")
    async with directory(tmp_path / "m.db", rest, clock) as d:
        d.title("KXA-1")
        await rest.answered(1)
    rest.markets["KXA-1"] = info("KXA-1", "New title")
    async with directory(tmp_path / "m.db", rest, clock) as d:
        await d.load(["KXA-1"])
        assert d.shown("KXA-1") == "Old title"  # from SQLite at once
        await rest.answered(2)
        assert d.title("KXA-1") == "New title"
        assert len(rest.requests) == 2


async def test_failed_lookups_wait_longer_each_time_in_a_row(
    tmp_path: Path, clock: ManualClock
) -> None:
    rest = Rest()
    rest.markets["KXA-1"] = info("KXA-1", "Will A?")
    rest.markets["KXB-1"] = info("KXB-1", "Will B?")
    sleep = RecordedSleep()
    async with directory(tmp_path / "m.db", rest, clock, sleep) as d:
        rest.fail_next = 3
        d.title("KXA-1")
        await rest.answered(4)
        assert d.title("KXA-1") == "Will A?" and d.lookup_errors == 3
        assert sleep.delays == [5.0, 10.0, 20.0]
        rest.fail_next = 1  # a success in between: the next failure waits the base delay again
        d.title("KXB-1")
        await rest.answered(6)
        assert d.title("KXB-1") == "Will B?"
        assert sleep.delays == [5.0, 10.0, 20.0, 5.0]


async def test_with_emit_lookups_reach_the_directory_through_the_pipelines_queue(
    tmp_path: Path, clock: ManualClock
) -> None:
    rest = Rest()
    rest.markets["KXA-1"] = info("KXA-1", "Will A?")
    queue: asyncio.Queue[MarketsFetched | SeriesFetched] = asyncio.Queue()
    db = await Database.open(str(tmp_path / "q.db"), clock=clock)
    d = MarketDirectory(db=db, fetch=rest.fetch, max_per_s=10_000, clock=clock,
                        emit=queue.put_nowait)  # fmt: skip
    task = asyncio.create_task(d.run())
    try:
        assert d.title("KXA-1") == ""
        async with asyncio.timeout(5):
            fetched = await queue.get()
        assert isinstance(fetched, MarketsFetched)
        assert fetched.markets == (info("KXA-1", "Will A?"),) and fetched.recv_ms == T0
        assert d.title("KXA-1") == ""  # not until the pipeline has handled the event
        for market in fetched.markets:  # what the pipeline does with a MarketsFetched
            d.put(market)
        assert d.title("KXA-1") == "Will A?"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.close()


SERIES = SeriesInfo("KXA", "A things", "Sports", "quadratic_with_maker_fees", 1_000_000)


async def test_a_markets_series_is_looked_up_once_and_reaches_the_directory_as_an_event(
    tmp_path: Path, clock: ManualClock
) -> None:
    rest = Rest()
    rest.markets["KXA-1"] = info("KXA-1", "Will A?")
    rest.markets["KXA-2"] = info("KXA-2", "Will A twice?")
    asked: list[list[str]] = []

    async def fetch_series(tickers: list[str]) -> list[SeriesInfo]:
        asked.append(list(tickers))
        return [SERIES] if tickers == ["KXA"] else []

    queue: asyncio.Queue[MarketsFetched | SeriesFetched] = asyncio.Queue()
    db = await Database.open(str(tmp_path / "s.db"), clock=clock)
    d = MarketDirectory(db=db, fetch=rest.fetch, max_per_s=10_000, clock=clock,
                        emit=queue.put_nowait, fetch_series=fetch_series)  # fmt: skip
    task = asyncio.create_task(d.run())
    try:
        d.title("KXA-1")
        d.title("KXA-2")
        async with asyncio.timeout(5):
            fetched = await queue.get()
        assert isinstance(fetched, MarketsFetched)
        for m in fetched.markets:  # as the pipeline applies them
            d.put(m)
        assert d.fees("KXA-1") is None  # the series is not known yet
        async with asyncio.timeout(5):
            series = await queue.get()
        assert isinstance(series, SeriesFetched) and series.series == (SERIES,)
        assert d.series("KXA") is None  # not until the pipeline has handled it
        d.put_series(SERIES)
        assert d.fees("KXA-1") == d.fees("KXA-2") == ("quadratic_with_maker_fees", 1_000_000)
        assert asked == [["KXA"]]  # one lookup for the series of both markets
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.close()


async def test_an_event_fee_override_layers_over_the_series_and_clears(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with directory(tmp_path / "f.db", Rest(), clock) as d:
        d.put(info("KXA-1", "Will A?"))  # event KXA
        d.put(info("KXB-1", "Will B?"))
        d.put_series(SERIES)
        d.put_series(
            replace(SERIES, ticker="KXB", fee_type="quadratic", fee_multiplier_ppm=500_000)
        )
        d.on_fee_update(EventFeeUpdate("KXA", "quadratic", None, T0, T0))
        assert d.fees("KXA-1") == ("quadratic", 1_000_000)  # the series' multiplier stays
        d.on_fee_update(EventFeeUpdate("KXA", None, 2_000_000, T0, T0))  # replaces the override
        assert d.fees("KXA-1") == ("quadratic_with_maker_fees", 2_000_000)
        assert d.fees("KXB-1") == ("quadratic", 500_000)  # another event: untouched
        d.on_fee_update(EventFeeUpdate("KXA", None, None, T0, T0))  # cleared
        assert d.fees("KXA-1") == ("quadratic_with_maker_fees", 1_000_000)
        assert d.fees("KXC-1") is None  # unknown market


async def test_a_price_structure_change_applies_its_grid_and_asks_rest_for_the_ranges(
    tmp_path: Path, clock: ManualClock
) -> None:
    rest = Rest()
    cent = replace(info("KXA-1", "Will A?"), price_level_structure="linear_cent",
                   price_ranges=STRUCTURE_GRIDS["linear_cent"])  # fmt: skip
    async with directory(tmp_path / "g.db", rest, clock) as d:
        d.put(cent)
        rest.markets["KXA-1"] = replace(cent, price_level_structure="tapered_deci_cent",
                                        price_ranges=(PriceRange(0, 10_000, 10),))  # fmt: skip
        d.on_lifecycle(LifecycleEvent("KXA-1", LifecycleKind.PRICE_LEVEL_STRUCTURE_UPDATED, T0,
                                      T0, price_level_structure="tapered_deci_cent"))  # fmt: skip
        got = d.info("KXA-1")
        assert got is not None and got.price_ranges == STRUCTURE_GRIDS["tapered_deci_cent"]
        await rest.answered(1)
        assert rest.requests == [["KXA-1"]]
        got = d.info("KXA-1")
        assert got is not None and got.price_ranges == (PriceRange(0, 10_000, 10),)
