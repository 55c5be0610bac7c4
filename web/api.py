"""The curl-able debug API under /api and the /ws/stream route; bad parameters get 400 naming
the parameter. Handlers read the parts they need from ``ApiDeps``, which the app's lifespan puts
in the request state."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.status import WS_1008_POLICY_VIOLATION
from starlette.websockets import WebSocket

from aggregator import WINDOWS, Aggregator
from analytics import Analytics
from clock import Clock
from database import Database
from infra.tasks import TaskOwner
from infra.watchdog import LoopWatchdog
from kalshi.book_store import BookStore
from models import Side, Trade
from storage.market_meta import MarketDirectory
from stream.messages import trade_json
from trade_processor import Pipeline, tier_of
from web.board import Board, view_json
from web.health import Health
from web.metrics import Metrics
from web.params import ApiError, choice_param, count_param, int_param, json_response, ticker_param
from web.security import foreign_origin
from websocket_handler import Hub

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ApiDeps:
    """What the debug API and the stream read; built once by the app's lifespan."""

    source: str
    clock: Clock
    tasks: TaskOwner
    db: Database
    aggregator: Aggregator
    analytics: Analytics
    meta: MarketDirectory
    pipeline: Pipeline
    hub: Hub
    board: Board
    metrics: Metrics
    watchdog: LoopWatchdog
    health: Health
    feed_stats: Callable[[], Any]
    books: BookStore
    queue_depth: Callable[[], int]

    def trade_row(self, trade: Trade) -> dict[str, Any]:
        return trade_json(
            trade, self.meta.title(trade.ticker), tier_of(trade.notional, self.pipeline.tiers)
        )

    def book_json(self, ticker: str) -> dict[str, Any] | None:
        book = self.books.book(ticker)
        if book is None:
            return None
        bid, ask = book.best_yes_bid(), book.best_yes_ask()
        return {
            "yes": [list(level) for level in book.levels(Side.YES)],
            "no": [list(level) for level in book.levels(Side.NO)],
            "best_yes_bid": bid[0] if bid else None,
            "best_yes_ask": ask[0] if ask else None,
            "stale": book.stale,
            "ts_ms": book.last_ts_ms,
        }


def deps(conn: HTTPConnection) -> ApiDeps:
    found = conn.state.api
    if not isinstance(found, ApiDeps):
        raise TypeError("the app's lifespan did not put ApiDeps in the state")
    return found


async def health(request: Request) -> Response:
    """200 while the app does its job; 503 naming each reason when not (``web.health``)."""
    rt = deps(request)
    report = rt.health.report()
    ok = report["ok"]
    return json_response(
        {
            "ok": ok,
            "reasons": report["reasons"],
            "source": rt.source,
            "failed_tasks": [name for name, _ in rt.tasks.failures],
            "tasks": rt.tasks.running(),
            **rt.health.warm().json(),  # info, never a failure: the windows are filling
        },
        200 if ok else 503,
    )


async def stats(request: Request) -> Response:
    rt = deps(request)
    status = rt.board.status()
    writer = rt.db.stats
    feed = rt.feed_stats()
    return json_response(
        {
            **status,
            "trades_stored": rt.db.trades_stored,
            "db_bytes": await rt.db.size_bytes(),
            "db_pending": writer.pending,
            "db_flushes": writer.flushes,
            "db_errors": writer.errors,
            "dropped_clients": rt.hub.stats.dropped_slow,
            "clients_total": rt.hub.stats.connected_total,
            "markets_tracked": rt.aggregator.market_count(),
            "tick_ms": round(rt.board.last_tick_ms, 3),
            "queue_depth": rt.queue_depth(),
            "feed": _plain(feed),
            "loop": rt.watchdog.as_dict(),
            "health": rt.health.report(),
        }
    )


def _plain(obj: Any) -> Any:
    if obj is None:
        return None
    slots = getattr(type(obj), "__slots__", None)
    names = slots if slots else getattr(obj, "__dict__", {}).keys()
    return {
        n: getattr(obj, n)
        for n in names
        if not n.startswith("_") and isinstance(getattr(obj, n, None), (int, float, str, bool))
    }


async def hot_markets(request: Request) -> Response:
    rt = deps(request)
    window = choice_param(request, "window", "5m", tuple(WINDOWS))
    limit = int_param(request, "limit", 20, 1, 500)
    by = choice_param(request, "by", "volume", ("volume", "notional", "trades"))
    return json_response({"window": window, "by": by, "markets": rt.board.hot(window, limit, by)})


async def recent_trades(request: Request) -> Response:
    rt = deps(request)
    limit = int_param(request, "limit", 50, 1, 1000)
    ticker = ticker_param(request)
    min_count = count_param(request, "min_count")
    rows = await rt.db.recent_trades(limit=limit, ticker=ticker, min_count=min_count)
    return json_response({"trades": [rt.trade_row(t) for t in rows]})


async def market(request: Request) -> Response:
    rt = deps(request)
    ticker = ticker_param(request)
    assert ticker is not None
    info = rt.meta.info(ticker) or await rt.db.market(ticker)
    windows = {w: rt.aggregator.market(ticker, w) for w in WINDOWS}
    if info is None and all(v is None for v in windows.values()):
        raise ApiError(404, f"unknown ticker {ticker}", "ticker")
    return json_response(
        {
            "ticker": ticker,
            "info": _market_info(info),
            "windows": {w: rt.board.card(m, spark=False) for w, m in windows.items() if m},
            "spark": rt.aggregator.sparkline(ticker),
            "book": rt.book_json(ticker),
        }
    )


def _market_info(info: Any) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "title": info.title,
        "subtitle": info.subtitle,
        "event_ticker": info.event_ticker,
        "series_ticker": info.series_ticker,
        "status": info.status,
        "open_ts_ms": info.open_ts_ms,
        "close_ts_ms": info.close_ts_ms,
        "floor_strike": info.floor_strike,
        "result": info.result,
    }


async def market_trades(request: Request) -> Response:
    rt = deps(request)
    ticker = ticker_param(request)
    assert ticker is not None
    limit = int_param(request, "limit", 100, 1, 1000)
    rows = await rt.db.recent_trades(limit=limit, ticker=ticker)
    if not rows and rt.meta.info(ticker) is None and await rt.db.market(ticker) is None:
        raise ApiError(404, f"unknown ticker {ticker}", "ticker")
    return json_response({"ticker": ticker, "trades": [rt.trade_row(t) for t in rows]})


async def analytics(request: Request) -> Response:
    rt = deps(request)
    mode = choice_param(request, "mode", "hour", ("hour", "day"))
    view = rt.analytics.view(mode, rt.clock.now_ms())
    return json_response(view_json(view))


async def gaps(request: Request) -> Response:
    rt = deps(request)
    limit = int_param(request, "limit", 100, 1, 1000)
    return json_response({"gaps": await rt.db.gaps(limit)})


async def metrics(request: Request) -> Response:
    rt = deps(request)
    body, content_type = rt.metrics.render()
    return Response(body, media_type=content_type)


async def stream(websocket: WebSocket) -> None:
    rt = deps(websocket)
    refused = foreign_origin(websocket.scope)
    if refused is not None:
        log.info("/ws/stream %s", refused)
        # closed before it is accepted: the server answers the handshake with HTTP 403
        await websocket.close(code=WS_1008_POLICY_VIOLATION)
        return
    await rt.hub.serve(websocket, rt.board.snapshot)


def routes() -> list[BaseRoute]:
    return [
        Route("/api/health", health),
        Route("/api/stats", stats),
        Route("/api/markets/hot", hot_markets),
        Route("/api/trades/recent", recent_trades),
        Route("/api/markets/{ticker}", market),
        Route("/api/markets/{ticker}/trades", market_trades),
        Route("/api/analytics", analytics),
        Route("/api/gaps", gaps),
        Route("/metrics", metrics),
        WebSocketRoute("/ws/stream", stream),
    ]
