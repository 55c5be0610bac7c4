"""The curl-able debug API under /api, all JSON; bad parameters get 400 naming the parameter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aggregator import WINDOWS
from models import parse_count
from web.board import view_json

if TYPE_CHECKING:
    from app import Runtime


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def error_response(exc: ApiError) -> Response:
    body: dict[str, Any] = {"error": exc.message}
    if exc.param is not None:
        body["param"] = exc.param
    return json_response(body, exc.status)


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {raw!r}", name) from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}, got {value}", name)
    return value


def choice_param(request: Request, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}, got {value!r}", name)
    return value


def ticker_param(request: Request, name: str = "ticker") -> str | None:
    raw = request.query_params.get(name) or request.path_params.get(name)
    if raw is None:
        return None
    ticker = raw.strip().upper()
    if not ticker or len(ticker) > 120 or not all(c.isalnum() or c in "-._" for c in ticker):
        raise ApiError(400, f"{name} is not a Kalshi ticker: {raw!r}", name)
    return ticker


def count_param(request: Request, name: str) -> int | None:
    """A contract count as decimal text ('10', '0.5') to hundredths."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = parse_count(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a number of contracts, got {raw!r}", name) from None
    if value < 0:
        raise ApiError(400, f"{name} must not be negative", name)
    return value


def runtime(request: Request) -> Runtime:
    return request.state.runtime  # type: ignore[no-any-return]


async def health(request: Request) -> Response:
    rt = runtime(request)
    failures = [name for name, _ in rt.tasks.failures]
    ok = not failures
    return json_response(
        {
            "ok": ok,
            "source": rt.settings.source,
            "failed_tasks": failures,
            "tasks": rt.tasks.running(),
        },
        200 if ok else 503,
    )


async def stats(request: Request) -> Response:
    rt = runtime(request)
    status = rt.board.status()
    writer = rt.db.stats
    feed = rt.feed_stats()
    return json_response(
        {
            **status,
            "trades_stored": await rt.db.trade_count(),
            "db_bytes": await rt.db.size_bytes(),
            "db_pending": writer.pending,
            "db_flushes": writer.flushes,
            "db_errors": writer.errors,
            "dropped_clients": rt.hub.stats.dropped_slow,
            "clients_total": rt.hub.stats.connected_total,
            "markets_tracked": rt.aggregator.market_count(),
            "tick_ms": round(rt.board.last_tick_ms, 3),
            "queue_depth": rt.events.qsize(),
            "feed": _plain(feed),
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
    rt = runtime(request)
    window = choice_param(request, "window", "5m", tuple(WINDOWS))
    limit = int_param(request, "limit", 20, 1, 500)
    by = choice_param(request, "by", "volume", ("volume", "notional", "trades"))
    return json_response({"window": window, "by": by, "markets": rt.board.hot(window, limit, by)})


async def recent_trades(request: Request) -> Response:
    rt = runtime(request)
    limit = int_param(request, "limit", 50, 1, 1000)
    ticker = ticker_param(request)
    min_count = count_param(request, "min_count")
    rows = await rt.db.recent_trades(limit=limit, ticker=ticker, min_count=min_count)
    return json_response({"trades": [rt.trade_row(t) for t in rows]})


async def market(request: Request) -> Response:
    rt = runtime(request)
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
    rt = runtime(request)
    ticker = ticker_param(request)
    assert ticker is not None
    limit = int_param(request, "limit", 100, 1, 1000)
    rows = await rt.db.recent_trades(limit=limit, ticker=ticker)
    if not rows and rt.meta.info(ticker) is None and await rt.db.market(ticker) is None:
        raise ApiError(404, f"unknown ticker {ticker}", "ticker")
    return json_response({"ticker": ticker, "trades": [rt.trade_row(t) for t in rows]})


async def analytics(request: Request) -> Response:
    rt = runtime(request)
    mode = choice_param(request, "mode", "hour", ("hour", "day"))
    view = rt.analytics.view(mode, rt.clock.now_ms())
    return json_response(view_json(view))


async def gaps(request: Request) -> Response:
    rt = runtime(request)
    limit = int_param(request, "limit", 100, 1, 1000)
    return json_response({"gaps": await rt.db.gaps(limit)})


async def metrics(request: Request) -> Response:
    rt = runtime(request)
    body, content_type = rt.metrics.render()
    return Response(body, media_type=content_type)


def routes() -> list[Route]:
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
    ]
