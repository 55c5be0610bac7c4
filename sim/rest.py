"""REST routes of the simulated exchange under /trade-api/v2 (Kalshi's shapes and paging)."""

from __future__ import annotations

import base64
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim.auth import BAD_SIGNATURE, Verifier
from sim.catalogue import SERIES_BY_TICKER, Market
from sim.faults import Faults
from sim.history import CursorError
from sim.market_model import MarketModel
from sim.ratelimit import RATE_LIMITED_BODY, RateLimiter
from sim.shapes import book_levels, event_json, market_json, series_json, trade_rest_json

log = logging.getLogger(__name__)

PREFIX = "/trade-api/v2"
Handler = Callable[[Request], Awaitable[Response]]
# Kalshi's market status filter values -> the statuses they select
STATUS_FILTER = {
    "unopened": {"initialized"},
    "open": {"active"},
    "paused": {"inactive"},
    "closed": {"closed", "determined"},
    "settled": {"finalized", "settled"},
}


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _not_found() -> Response:
    return json_response({"error": {"code": "not_found", "message": "not found"}}, 404)


class BadParam(Exception):
    def __init__(self, op: str, field: str, tag: str) -> None:
        super().__init__(field)
        self.body = {
            "msg": f"Parameter validation failed for {op}: Key: '{op}Params.{field}' "
            f"Error:Field validation for '{field}' failed on the '{tag}' tag"
        }


def _int_param(req: Request, name: str, op: str, field: str) -> int | None:
    raw = req.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadParam(op, field, "numeric") from None


def _limit(req: Request, op: str) -> int:
    limit = _int_param(req, "limit", op, "Limit")
    if limit is None:
        return 100
    if limit > 1000:
        raise BadParam(op, "Limit", "lte")
    if limit < 1:
        raise BadParam(op, "Limit", "gte")
    return limit


def _pos_cursor(cursor: str | None, tag: str) -> int:
    """Offset cursors for the catalogue lists; Kalshi ignores a cursor it cannot read."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return 0
    name, _, num = raw.partition(":")
    return int(num) if name == tag and num.isdigit() else 0


def _pos_encode(pos: int, tag: str) -> str:
    return base64.urlsafe_b64encode(f"{tag}:{pos}".encode()).decode().rstrip("=")


class RequestLog:
    """What the REST API answered: requests by route (``/events``, ``/markets/{ticker}``, ...)
    and status, for tests and client authors to count a client's calls."""

    def __init__(self) -> None:
        self.answers: Counter[tuple[str, int]] = Counter()

    def add(self, route: str, status: int) -> None:
        self.answers[(route, status)] += 1

    def count(self, route: str | None = None, status: int | None = None) -> int:
        return sum(
            n
            for (r, s), n in self.answers.items()
            if (route is None or r == route) and (status is None or s == status)
        )

    @property
    def rejected_429(self) -> int:
        return self.count(status=429)


class RestApi:
    def __init__(
        self,
        model: MarketModel,
        verifier: Verifier | None,
        limiter: RateLimiter,
        faults: Faults,
        log: RequestLog | None = None,
    ) -> None:
        self._model = model
        self._verifier = verifier
        self._limiter = limiter
        self._faults = faults
        self.log = log or RequestLog()

    def routes(self) -> list[Route]:
        r = [
            ("/exchange/status", self.exchange_status, False),
            ("/markets", self.markets, False),
            ("/markets/trades", self.trades, False),
            ("/markets/{ticker}", self.market, False),
            ("/markets/{ticker}/orderbook", self.orderbook, True),
            ("/events", self.events, False),
            ("/events/{event_ticker}", self.event, False),
            ("/series/{series_ticker}", self.series, False),
            ("/portfolio/balance", self.balance, True),
        ]
        return [
            Route(PREFIX + path, self._gate(path, fn, auth), methods=["GET"])
            for path, fn, auth in r
        ]

    def _gate(self, route: str, fn: Handler, needs_auth: bool) -> Handler:
        async def handler(req: Request) -> Response:
            resp = await self._answer(req, fn, needs_auth)
            self.log.add(route, resp.status_code)
            return resp

        return handler

    async def _answer(self, req: Request, fn: Handler, needs_auth: bool) -> Response:
        caller = req.client.host if req.client else "?"
        v = self._verifier
        if v is not None and (needs_auth or v.has_credentials(req.headers)):
            # Sign over the path without the query string (Kalshi API keys docs).
            result = v.check(req.headers, req.method, req.url.path)
            if isinstance(result, str) and self._faults.take_auth_reject():
                result = BAD_SIGNATURE
            if not isinstance(result, str):
                return json_response(result.body, 401)
            caller = result
        if self._faults.take_429() or not self._limiter.allow(caller):
            return json_response(RATE_LIMITED_BODY, 429)
        try:
            return await fn(req)
        except BadParam as e:
            return json_response(e.body, 400)

    async def exchange_status(self, req: Request) -> Response:
        return json_response({"exchange_active": True, "trading_active": True})

    async def balance(self, req: Request) -> Response:
        return json_response(
            {"balance": 0, "balance_dollars": "0.0000", "portfolio_value": 0, "updated_ts": 0}
        )

    def _filtered_markets(self, req: Request) -> list[Market]:
        q = req.query_params
        ms: list[Market] = self._model.markets
        status = q.get("status")
        if status:
            wanted = STATUS_FILTER.get(status)
            if wanted is None:
                raise BadParam("GetMarkets", "Status", "oneof")
            ms = [m for m in ms if m.status in wanted]
        if q.get("series_ticker"):
            ms = [m for m in ms if m.series_ticker == q["series_ticker"]]
        if q.get("event_ticker"):
            evs = set(q["event_ticker"].split(","))
            ms = [m for m in ms if m.event_ticker in evs]
        if q.get("tickers"):
            ts = set(q["tickers"].split(","))
            ms = [m for m in ms if m.ticker in ts]
        lo = _int_param(req, "min_close_ts", "GetMarkets", "MinCloseTs")
        hi = _int_param(req, "max_close_ts", "GetMarkets", "MaxCloseTs")
        if lo is not None:
            ms = [m for m in ms if m.close_ms // 1000 >= lo]
        if hi is not None:
            ms = [m for m in ms if m.close_ms // 1000 <= hi]
        return ms

    async def markets(self, req: Request) -> Response:
        limit = _limit(req, "GetMarkets")
        ms = self._filtered_markets(req)
        pos = _pos_cursor(req.query_params.get("cursor"), "markets")
        page = ms[pos : pos + limit]
        nxt = _pos_encode(pos + limit, "markets") if pos + limit < len(ms) else ""
        return json_response({"cursor": nxt, "markets": [market_json(m) for m in page]})

    async def market(self, req: Request) -> Response:
        m = self._model.by_ticker.get(req.path_params["ticker"])
        if m is None:
            return _not_found()
        return json_response({"market": market_json(m)})

    async def orderbook(self, req: Request) -> Response:
        m = self._model.by_ticker.get(req.path_params["ticker"])
        if m is None:
            return _not_found()
        depth = _int_param(req, "depth", "GetMarketOrderbook", "Depth") or 0
        yes = book_levels(m.book_yes, False)
        no = book_levels(m.book_no, False)
        if depth > 0:
            yes, no = yes[-depth:], no[-depth:]
        return json_response({"orderbook_fp": {"yes_dollars": yes, "no_dollars": no}})

    async def trades(self, req: Request) -> Response:
        q = req.query_params
        limit = _limit(req, "GetTrades")
        market: int | None = None
        if q.get("ticker"):
            m = self._model.by_ticker.get(q["ticker"])
            if m is None:
                return json_response({"cursor": "", "trades": []})
            market = m.index
        # min_ts / max_ts are unix seconds (OpenAPI MinTsQuery/MaxTsQuery), both inclusive.
        lo = _int_param(req, "min_ts", "GetTrades", "MinTs")
        hi = _int_param(req, "max_ts", "GetTrades", "MaxTs")
        hist = self._model.history
        try:
            idx, nxt = hist.query(
                market=market,
                min_ts_ms=None if lo is None else lo * 1000,
                max_ts_ms=None if hi is None else hi * 1000 + 999,
                limit=limit,
                cursor=q.get("cursor"),
            )
        except CursorError:
            raise BadParam("GetTrades", "Cursor", "cursor") from None
        markets = self._model.markets
        rows = [trade_rest_json(r, markets[r.market].ticker) for r in map(hist.row, idx)]
        if self._faults.bad_rest_trades:
            for row in rows:
                if row["trade_id"] in self._faults.bad_rest_trades:
                    row["count_fp"] = "lots"
        return json_response({"cursor": nxt, "trades": rows})

    async def events(self, req: Request) -> Response:
        q = req.query_params
        limit = _int_param(req, "limit", "GetEvents", "Limit") or 200
        if limit > 200:
            raise BadParam("GetEvents", "Limit", "lte")
        nested = q.get("with_nested_markets") == "true"
        evs = list(self._model.events.values())
        if q.get("series_ticker"):
            evs = [e for e in evs if e.series_ticker == q["series_ticker"]]
        status = q.get("status")
        if status:
            wanted = STATUS_FILTER.get(status, set())
            evs = [
                e
                for e in evs
                if any(m.status in wanted for m in self._model.event_markets[e.event_ticker])
            ]
        pos = _pos_cursor(q.get("cursor"), "events")
        page = evs[pos : pos + limit]
        nxt = _pos_encode(pos + limit, "events") if pos + limit < len(evs) else ""
        em = self._model.event_markets
        return json_response(
            {
                "cursor": nxt,
                "events": [event_json(e, em[e.event_ticker] if nested else None) for e in page],
                "milestones": [],
            }
        )

    async def event(self, req: Request) -> Response:
        et = req.path_params["event_ticker"]
        ev = self._model.events.get(et)
        if ev is None:
            return _not_found()
        markets = self._model.event_markets[et]
        if req.query_params.get("with_nested_markets") == "true":
            return json_response({"event": event_json(ev, markets), "markets": []})
        return json_response(
            {"event": event_json(ev, None), "markets": [market_json(m) for m in markets]}
        )

    async def series(self, req: Request) -> Response:
        s = SERIES_BY_TICKER.get(req.path_params["series_ticker"])
        if s is None:
            return _not_found()
        return json_response({"series": series_json(s)})


def snapshot_msg(m: Market, use_yes: bool) -> dict[str, Any]:
    msg: dict[str, Any] = {"market_ticker": m.ticker, "market_id": m.market_id}
    if m.book_yes:
        msg["yes_dollars_fp"] = book_levels(m.book_yes, False)
    if m.book_no:
        msg["no_dollars_fp"] = book_levels(m.book_no, use_yes)
    return msg
