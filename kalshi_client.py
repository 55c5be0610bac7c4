"""The way into Kalshi: one client (REST plus the WebSocket feed) built from endpoints and a
signer. Code outside ``kalshi/`` imports what it needs of Kalshi from here; nothing inside
``kalshi/`` imports this module."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from clock import Clock
from infra.retry import RetryPolicy
from kalshi.auth import Signer
from kalshi.endpoints import KalshiEndpoints, KalshiEnvError, resolve_endpoints
from kalshi.feed import FeedStats, FrameSink, KalshiFeed
from kalshi.orderbook import OrderBook
from kalshi.rest import (
    KALSHI_RETRY,
    KalshiAuthError,
    KalshiError,
    KalshiHTTPError,
    KalshiRateLimited,
    KalshiRest,
)
from models import Event

__all__ = [
    "KALSHI_RETRY",
    "FeedStats",
    "KalshiAuthError",
    "KalshiClient",
    "KalshiEndpoints",
    "KalshiEnvError",
    "KalshiError",
    "KalshiFeed",
    "KalshiHTTPError",
    "KalshiRateLimited",
    "KalshiRest",
    "OrderBook",
    "Signer",
    "open_client",
    "resolve_endpoints",
    "signer_from_file",
]


@dataclass(slots=True)
class KalshiClient:
    """REST and the feed over one signer. The feed backfills through ``rest``."""

    rest: KalshiRest
    feed: KalshiFeed

    async def aclose(self) -> None:
        await self.rest.aclose()


def signer_from_file(key_id: str, path: str | Path, clock: Clock) -> Signer:
    return Signer.from_file(key_id, path, clock)


def open_client(
    *,
    rest_url: str,
    ws_url: str,
    signer: Signer,
    events: asyncio.Queue[Event],
    clock: Clock,
    silence_timeout_s: float,
    book_tickers: Iterable[str] = (),
    resume_from_ms: int | None = None,
    recorder: FrameSink | None = None,
    ws_reader: str = "handwritten",
    retry: RetryPolicy | None = None,
) -> KalshiClient:
    """The client; nothing connects until ``feed.run()`` is awaited. ``retry`` is the Kalshi
    upstream's one policy (and request budget): REST, the feed's backfill and its reconnects
    share it."""
    rest = KalshiRest(rest_url, signer=signer, clock=clock, retry=retry)
    feed = KalshiFeed(
        ws_url=ws_url,
        rest=rest,
        signer=signer,
        out=events,
        clock=clock,
        retry=retry,
        silence_timeout_s=silence_timeout_s,
        book_tickers=book_tickers,
        resume_from_ms=resume_from_ms,
        recorder=recorder,
        ws_reader=ws_reader,
    )
    return KalshiClient(rest=rest, feed=feed)
