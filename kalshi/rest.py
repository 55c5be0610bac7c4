"""Async Kalshi REST client (httpx): market data endpoints, paging, retries, typed errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from clock import Clock
from errors import UpstreamError
from infra.retry import RetryConfig, RetryPolicy
from kalshi import rest_wire as rest_wire
from kalshi.auth import Signer
from models import BookSnapshot, EventInfo, MarketInfo, SeriesInfo, Trade

log = logging.getLogger(__name__)

BAD_ROW_LOG_CHARS = 300
KALSHI_RETRY = RetryConfig(base_s=0.5, cap_s=30.0, factor=2.0, jitter=0.5, max_attempts=7)


class KalshiError(UpstreamError):
    """Base of every error this client raises. ``status`` 0 means no HTTP response."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details


class KalshiAuthError(KalshiError):
    """401/403, bad keys or a rejected handshake: fatal, retrying cannot help."""


class KalshiRateLimited(KalshiError):
    """429 that outlasted every retry."""


class KalshiHTTPError(KalshiError):
    """Any other failed request (4xx, 5xx after retries, network errors after retries)."""


MARKET_FILTERS = frozenset(
    {
        "event_ticker", "series_ticker", "status", "tickers", "mve_filter",
        "min_created_ts", "max_created_ts", "min_updated_ts", "min_close_ts", "max_close_ts",
        "min_settled_ts", "max_settled_ts",
    }
)  # fmt: skip
EVENT_FILTERS = frozenset({"status", "series_ticker", "min_close_ts", "min_updated_ts"})


def _error_from(resp: httpx.Response) -> KalshiError:
    body = rest_wire.parse_error_body(resp.content)
    text = body.message or body.code or resp.reason_phrase
    if body.details:
        text = f"{text} ({body.details})"
    msg = f"HTTP {resp.status_code} {resp.request.method} {resp.request.url.path}: {text}"
    cls: type[KalshiError]
    if resp.status_code in (401, 403):
        cls = KalshiAuthError
    elif resp.status_code == 429:
        cls = KalshiRateLimited
    else:
        cls = KalshiHTTPError
    return cls(msg, status=resp.status_code, code=body.code, details=body.details)


def _clean_params(params: Mapping[str, Any]) -> dict[str, str | int]:
    out: dict[str, str | int] = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, int | str):
            out[k] = v
        else:
            out[k] = ",".join(v)
    return out


class KalshiRest:
    """REST client. Requests are signed when a ``Signer`` is given (market data is public).

    ``retry`` is the Kalshi upstream's policy, shared by every client of it."""

    def __init__(
        self,
        base_url: str,
        *,
        signer: Signer | None,
        clock: Clock,
        retry: RetryPolicy | None = None,
        timeout_s: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._signer = signer
        self._clock = clock
        self._retry = retry or RetryPolicy(KALSHI_RETRY, name="kalshi")
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self.requests = 0
        self.retries = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> KalshiRest:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> bytes:
        """GET ``base_url + path``; returns the raw 200 body. 429/5xx/network errors are retried."""
        url = self.base_url + path
        query = _clean_params(params or {})
        tries = 0

        async def attempt() -> httpx.Response:
            nonlocal tries
            if tries:
                self.retries += 1
            tries += 1
            self.requests += 1
            headers = self._signer.headers("GET", url) if self._signer else {}  # signed afresh
            return await self._http.get(url, params=query, headers=headers)

        try:
            resp = await self._retry.send(attempt, what=f"GET {path}")
        except httpx.TransportError as exc:
            raise KalshiHTTPError(f"GET {path}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code == 200:
            return resp.content
        raise _error_from(resp)

    # ---- endpoints ------------------------------------------------------------------------------

    async def exchange_status(self) -> tuple[bool, bool]:
        """(exchange_active, trading_active)."""
        return rest_wire.parse_exchange_status(await self.get("/exchange/status"))

    async def markets_page(
        self, *, cursor: str | None = None, limit: int = 1000, **filters: Any
    ) -> tuple[list[MarketInfo], str | None]:
        unknown = set(filters) - MARKET_FILTERS
        if unknown:
            raise ValueError(f"unknown market filters: {sorted(unknown)}")
        body = await self.get("/markets", {"limit": limit, "cursor": cursor, **filters})
        return rest_wire.parse_markets_page(body)

    async def iter_markets(self, *, limit: int = 1000, **filters: Any) -> AsyncIterator[MarketInfo]:
        """Every market matching the filters, following the cursor until it comes back empty."""
        cursor: str | None = None
        while True:
            page, cursor = await self.markets_page(cursor=cursor, limit=limit, **filters)
            for m in page:
                yield m
            if not cursor:
                return

    async def markets(self, *, limit: int = 1000, **filters: Any) -> list[MarketInfo]:
        return [m async for m in self.iter_markets(limit=limit, **filters)]

    async def market(self, ticker: str) -> MarketInfo:
        return rest_wire.parse_market_body(await self.get(f"/markets/{ticker}"))

    async def trades_page(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        cursor: str | None = None,
        limit: int = 1000,
    ) -> rest_wire.TradesPage:
        """One page of `/markets/trades`; ``min_ts``/``max_ts`` are unix SECONDS as Kalshi takes.
        Rows that do not parse are skipped, logged once per page and listed in ``bad_rows``."""
        params = {"ticker": ticker, "min_ts": min_ts, "max_ts": max_ts, "cursor": cursor}
        body = await self.get("/markets/trades", {"limit": limit, **params})
        page = rest_wire.parse_trades_page(body, self._clock.now_ms())
        if page.bad_rows:
            first = page.bad_rows[0]
            # one line per page, the raw row escaped (no control characters reach the log)
            log.warning(
                "GET /markets/trades: skipped %d of %d rows that do not parse; first (%s): %s",
                len(page.bad_rows), len(page.bad_rows) + len(page.trades), first.error,
                ascii(first.raw[:BAD_ROW_LOG_CHARS]),
            )  # fmt: skip
        return page

    async def iter_trade_pages(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int = 1000,
    ) -> AsyncIterator[rest_wire.TradesPage]:
        """Every page, following the cursor until it comes back empty (or a page is empty)."""
        cursor: str | None = None
        while True:
            page = await self.trades_page(
                ticker=ticker, min_ts=min_ts, max_ts=max_ts, cursor=cursor, limit=limit
            )
            yield page
            cursor = page.cursor
            if not cursor or not (page.trades or page.bad_rows):
                return

    async def iter_trades(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int = 1000,
    ) -> AsyncIterator[Trade]:
        pages = self.iter_trade_pages(ticker=ticker, min_ts=min_ts, max_ts=max_ts, limit=limit)
        async for page in pages:
            for t in page.trades:
                yield t

    async def trades(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int = 1000,
    ) -> list[Trade]:
        it = self.iter_trades(ticker=ticker, min_ts=min_ts, max_ts=max_ts, limit=limit)
        return [t async for t in it]

    async def orderbook(self, ticker: str, depth: int | None = None) -> BookSnapshot:
        body = await self.get(f"/markets/{ticker}/orderbook", {"depth": depth})
        return rest_wire.parse_orderbook_body(ticker, body, self._clock.now_ms())

    async def events_page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 200,
        with_nested_markets: bool = True,
        **filters: Any,
    ) -> tuple[list[EventInfo], str | None]:
        unknown = set(filters) - EVENT_FILTERS
        if unknown:
            raise ValueError(f"unknown event filters: {sorted(unknown)}")
        params = {"limit": limit, "cursor": cursor, "with_nested_markets": with_nested_markets}
        return rest_wire.parse_events_page(await self.get("/events", {**params, **filters}))

    async def events(
        self, *, limit: int = 200, with_nested_markets: bool = True, **filters: Any
    ) -> list[EventInfo]:
        out: list[EventInfo] = []
        cursor: str | None = None
        while True:
            page, cursor = await self.events_page(
                cursor=cursor, limit=limit, with_nested_markets=with_nested_markets, **filters
            )
            out.extend(page)
            if not cursor:
                return out

    async def series(self, series_ticker: str) -> SeriesInfo:
        """Series metadata, including ``fee_type`` and ``fee_multiplier``."""
        return rest_wire.parse_series_body(await self.get(f"/series/{series_ticker}"))

    async def series_many(self, tickers: Iterable[str]) -> dict[str, SeriesInfo]:
        return {t: await self.series(t) for t in tickers}
