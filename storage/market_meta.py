"""Market names for the board: a cache in front of SQLite and Kalshi's REST markets endpoint.

``title`` never waits: an unknown ticker returns "" and is queued; the lookup task fetches queued
tickers in batches, at most ``max_per_s`` requests a second; after a failed batch (the fetch has
retried on its own) it waits on the ``retry`` policy's delays, longer after each failure in a row.
With a clock, a market whose details are older than ``refresh_ms`` (or came from SQLite at a
restart) is queued again when the board next shows it (``shown``), and re-fetched from REST
while the cached title keeps being shown: titles, status and close times change.

It also holds what fees and ticks depend on: each market's series details (fee type and
multiplier, looked up once per series as its first market is described), the events' fee
overrides from the lifecycle channel, and each market's price grid (a structure change on the
lifecycle channel applies the named structure's grid and queues the market for REST).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from clock import Clock
from database import Database
from infra.retry import RetryConfig, RetryPolicy
from models import (
    STATUS_AFTER,
    STRUCTURE_GRIDS,
    EventFeeUpdate,
    LifecycleEvent,
    LifecycleKind,
    MarketInfo,
    MarketsFetched,
    SeriesFetched,
    SeriesInfo,
)

log = logging.getLogger(__name__)

Fetch = Callable[[list[str]], Awaitable[list[MarketInfo]]]
SeriesFetch = Callable[[list[str]], Awaitable[list[SeriesInfo]]]
BATCH = 100  # tickers per REST request
LOOKUP_RETRY = RetryConfig(base_s=5.0, cap_s=60.0, factor=2.0, jitter=0.5)


class MarketDirectory:
    def __init__(
        self,
        *,
        db: Database,
        fetch: Fetch | None,
        max_per_s: float = 5.0,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        refresh_ms: int = 600_000,
        emit: Callable[[MarketsFetched | SeriesFetched], None] | None = None,
        fetch_series: SeriesFetch | None = None,
    ) -> None:
        self._db = db
        self._fetch = fetch
        self._fetch_series = fetch_series
        self._series: dict[str, SeriesInfo] = {}
        self._series_queued: dict[str, None] = {}
        self._series_asked: set[str] = set()
        self._fee_overrides: dict[str, EventFeeUpdate] = {}  # by event ticker, while set
        # REST's answers are inputs: with ``emit`` they go on the pipeline's queue (and into a
        # recording) and reach the directory as the pipeline handles them; without, at once
        self._emit = emit
        self._clock = clock
        self._refresh_ms = refresh_ms
        self._info: dict[str, MarketInfo] = {}
        self._fetched_ms: dict[str, int] = {}  # when REST last described the market
        self._refresh: set[str] = set()  # queued tickers that go to REST even if stored
        self._queued: dict[str, None] = {}
        self._asked: set[str] = set()
        self._wake = asyncio.Event()
        self._interval = 1.0 / max_per_s
        self._retry = retry or RetryPolicy(LOOKUP_RETRY, name="market lookup")
        self._failures = 0  # failed lookups in a row
        self.lookups = 0
        self.lookup_errors = 0
        self.refreshed = 0

    def title(self, ticker: str) -> str:
        """The market's title, "" (and a lookup queued) while unknown. Cheap: per trade."""
        info = self._info.get(ticker)
        if info is not None:
            return info.title
        if ticker not in self._asked:
            self._asked.add(ticker)
            self._queued[ticker] = None
            self._wake.set()
        return ""

    def shown(self, ticker: str) -> str:
        """The title of a market the board shows; its details are re-fetched when stale."""
        if self._clock is not None and ticker in self._info and ticker not in self._refresh:
            fetched = self._fetched_ms.get(ticker, 0)
            if self._clock.now_ms() - fetched >= self._refresh_ms:
                self._refresh.add(ticker)
                self._queued[ticker] = None
                self._wake.set()
        return self.title(ticker)

    def info(self, ticker: str) -> MarketInfo | None:
        return self._info.get(ticker)

    def series_of(self, ticker: str) -> str:
        info = self._info.get(ticker)
        return info.series_ticker if info else ticker.split("-", 1)[0]

    def put(self, info: MarketInfo) -> None:
        self._info[info.ticker] = info
        self._db.add_market(info)
        series = info.series_ticker
        if series and series not in self._series and series not in self._series_asked:
            self._series_asked.add(series)
            self._series_queued[series] = None
            self._wake.set()

    def series(self, series_ticker: str) -> SeriesInfo | None:
        return self._series.get(series_ticker)

    def put_series(self, info: SeriesInfo) -> None:
        self._series[info.ticker] = info

    def on_fee_update(self, event: EventFeeUpdate) -> None:
        if event.fee_type is None and event.fee_multiplier_ppm is None:
            self._fee_overrides.pop(event.event_ticker, None)
        else:
            self._fee_overrides[event.event_ticker] = event

    def fees(self, ticker: str) -> tuple[str, int] | None:
        """(fee type, multiplier in ppm) that apply to the market now: its event's override
        over its series' structure; None while the market or its series is unknown."""
        info = self._info.get(ticker)
        series = self._series.get(info.series_ticker) if info is not None else None
        if info is None or series is None:
            return None
        fee_type, ppm = series.fee_type, series.fee_multiplier_ppm
        override = self._fee_overrides.get(info.event_ticker)
        if override is not None:
            fee_type = override.fee_type if override.fee_type is not None else fee_type
            if override.fee_multiplier_ppm is not None:
                ppm = override.fee_multiplier_ppm
        return fee_type, ppm

    def on_lifecycle(self, event: LifecycleEvent) -> None:
        info = self._info.get(event.ticker)
        status = STATUS_AFTER.get(event.kind)
        structure = event.price_level_structure
        if info is None:
            self.title(event.ticker)
            return
        if structure is not None and structure != info.price_level_structure:
            grid = STRUCTURE_GRIDS.get(structure)
            info = replace(info, price_level_structure=structure,
                           price_ranges=grid if grid is not None else ())  # fmt: skip
            self.put(info)
            if event.kind is LifecycleKind.PRICE_LEVEL_STRUCTURE_UPDATED:
                self._refresh.add(event.ticker)  # REST states the exact ranges
                self._queued[event.ticker] = None
                self._wake.set()
        if status is not None:
            self.put(replace(info, status=str(status), result=event.result or info.result))

    async def load(self, tickers: list[str]) -> None:
        """Fill the cache from SQLite (warm restart)."""
        known = await self._db.markets(tickers)
        self._info.update(known)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queued or self._series_queued:
                if self._queued:
                    batch = list(self._queued)[:BATCH]
                    for ticker in batch:
                        del self._queued[ticker]
                    await self._lookup(batch)
                    await asyncio.sleep(self._interval)
                if self._series_queued:
                    ticker = next(iter(self._series_queued))
                    del self._series_queued[ticker]
                    await self._lookup_series(ticker)
                    await asyncio.sleep(self._interval)

    async def _lookup_series(self, ticker: str) -> None:
        if self._fetch_series is None:
            return
        try:
            found = await self._fetch_series([ticker])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # network trouble: ask again later
            self.lookup_errors += 1
            log.warning("series lookup of %s failed: %r", ticker, exc)
            self._series_queued[ticker] = None
            await self._retry.wait(self._failures)
            self._failures += 1
            return
        self._failures = 0
        self.lookups += 1
        if not found:
            return
        now = self._clock.now_ms() if self._clock is not None else 0
        if self._emit is not None:
            try:
                self._emit(SeriesFetched(tuple(found), now, now))
                return
            except asyncio.QueueFull:  # nothing is lost: the directory takes them at once
                log.warning("event queue full: series %s applied directly", ticker)
        for info in found:
            self.put_series(info)

    async def _lookup(self, tickers: list[str]) -> None:
        stored = [t for t in tickers if t not in self._refresh]
        known = await self._db.markets(stored) if stored else {}
        self._info.update(known)
        missing = [t for t in tickers if t not in known]
        if not missing or self._fetch is None:
            self._refresh.difference_update(tickers)
            return
        try:
            found = await self._fetch(missing)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # network trouble: try these again later
            self.lookup_errors += 1
            log.warning("market lookup of %d tickers failed: %r", len(missing), exc)
            for ticker in missing:
                self._queued[ticker] = None
            await self._retry.wait(self._failures)
            self._failures += 1
            return
        self._failures = 0
        self.lookups += 1
        now = self._clock.now_ms() if self._clock is not None else 0
        for ticker in missing:
            if ticker in self._refresh:
                self._refresh.discard(ticker)
                self.refreshed += 1
            self._fetched_ms[ticker] = now  # described now, or unknown to REST: ask later
        if self._emit is not None and found:
            try:
                self._emit(MarketsFetched(tuple(found), now, now))
                return
            except asyncio.QueueFull:  # nothing is lost: the directory takes them at once
                log.warning("event queue full: %d market details applied directly", len(found))
        for info in found:
            self.put(info)
