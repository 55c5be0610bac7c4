"""The OpenAPI 3.1 description of the HTTP API, served at ``/api/openapi.json``.

It is made from one table, ``OPERATIONS``: a route's path and method, a summary, its parameters
with their types and ranges, and its answers by status code, each with a small schema (the keys
a client can count on, not every field). tests/web/test_openapi.py holds the table to the app's
routes, so a route added without a line here fails, and fuzzes every operation against it.
The handlers (web/api.py, web/games.py) state their ranges too: a range here narrower than the
handler's is a promise kept, a wider one fails the fuzz run, where a valid value never gets a
400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aggregator import WINDOWS
from web.params import MAX_COUNT, SQLITE_MAX
from web.security import SAFE_METHODS

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str  # "query" or "path"
    schema: Schema
    description: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.where,
            "required": self.where == "path",
            "description": self.description,
            "schema": self.schema,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    description: str
    schema: Schema | None = None  # None: not JSON, see ``media``
    media: str = "application/json"

    def as_json(self) -> dict[str, Any]:
        content = {self.media: {"schema": self.schema if self.schema is not None else {}}}
        return {"description": self.description, "content": content}


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    answers: Mapping[int, Answer]
    params: tuple[Param, ...] = ()

    @property
    def mutating(self) -> bool:
        return self.method not in SAFE_METHODS

    def responses(self) -> dict[int, Answer]:
        """Its answers, with the refusals web/security.py gives any mutating request."""
        if not self.mutating:
            return dict(self.answers)
        return {401: TOKEN_NEEDED, 403: REFUSED, **self.answers}

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "operationId": _operation_id(self.method, self.path),
            "summary": self.summary,
            "parameters": [p.as_json() for p in self.params],
            "responses": {str(k): a.as_json() for k, a in sorted(self.responses().items())},
        }
        if self.mutating:  # the token only where the app listens beyond loopback
            out["security"] = [{}, {"bearer": []}, {"token": []}]
        return out


def _operation_id(method: str, path: str) -> str:
    words = path.replace("{", "").replace("}", "").replace(".", "_").strip("/").split("/")
    return "_".join([method.lower(), *(w.replace("-", "_") for w in words)])


# ---- schemas: the keys a client can count on -----------------------------------------------------


def _obj(required: Mapping[str, Schema], **more: Any) -> Schema:
    return {"type": "object", "required": list(required), "properties": dict(required), **more}


INT: Schema = {"type": "integer"}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
OBJECT: Schema = {"type": "object"}
INT_OR_NULL: Schema = {"type": ["integer", "null"]}
ERROR = _obj({"error": STR}, properties={"error": STR, "param": STR})
TRADE = _obj({
    "id": STR, "ticker": STR, "title": STR, "yes_price": INT, "count": INT,
    "side": {"type": "string", "enum": ["yes", "no"]}, "price": INT, "notional": INT,
    "ts_ms": INT, "recv_ms": INT, "tier": INT,
})  # fmt: skip
CARD = _obj({
    "ticker": STR, "title": STR, "window": STR, "volume": INT, "notional": INT, "trades": INT,
    "yes_volume": INT, "no_volume": INT, "net_flow": INT, "last_price": INT_OR_NULL,
    "spark": {"type": "array", "items": INT},
})  # fmt: skip
TRADES = {"type": "array", "items": TRADE}
HEALTH = _obj({"ok": BOOL})
STATS = _obj({"trades_stored": INT, "db_bytes": INT, "queue_depth": INT, "loop": OBJECT})
VIEW = _obj({
    "mode": {"type": "string", "enum": ["hour", "day"]}, "bucket_ms": INT,
    "buckets": {"type": "array", "items": _obj({"start_ms": INT, "volume": INT, "trades": INT})},
    "total_volume": INT, "total_trades": INT,
})  # fmt: skip
GAME = _obj({"id": INT, "date": STR, "home": STR, "away": STR, "status": STR})
GAME_DETAIL = _obj({
    "id": INT, "home": STR, "away": STR, "history": {"type": "array"}, "odds": {"type": "array"},
    "unmatched": {"type": "object"},
})  # fmt: skip
REFRESHED = _obj({
    "games": INT, "matched": INT, "games_matched": INT,
    "unmatched": {"type": "array", "items": _obj({"event_ticker": STR, "reason": STR})},
})  # fmt: skip

ORDER = _obj({
    "order_id": INT, "account": STR, "ticker": STR, "side": STR, "action": STR, "price": INT,
    "count": INT, "remaining": INT, "filled": INT, "time_in_force": STR, "status": STR,
})  # fmt: skip
FILL = _obj({
    "fill_id": INT, "order_id": INT, "account": STR, "ticker": STR, "side": STR, "action": STR,
    "count": INT, "cost": INT, "fee": INT, "liquidity": STR, "legs": {"type": "array"},
    "ts_ms": INT,
})  # fmt: skip
POSITION = _obj({"account": STR, "ticker": STR, "net": INT, "cost": INT, "realised": INT,
                 "value_mid": INT, "value_exit": INT})  # fmt: skip
ACCOUNT = _obj({"account": STR, "cash": INT, "equity_mid": INT, "equity_exit": INT,
                "positions": {"type": "array", "items": POSITION},
                "orders": {"type": "array", "items": ORDER}})  # fmt: skip
REJECTED = _obj({"error": STR, "reason": STR})
BOOK = _obj({"ticker": STR, "yes": {"type": "array"}, "no": {"type": "array"}, "stale": BOOL,
             "ts_ms": INT_OR_NULL})  # fmt: skip
ORDER_TICKET = (
    "JSON body {ticker, side: yes|no, action: buy|sell, count (contracts: a number or decimal "
    'string), limit_price (the side\'s price: a dollar string such as "0.5600" or integer '
    "centicents), time_in_force: ioc|fok|gtc (or Kalshi's long names), expires_ms?, account?, "
    "probability?, client_order_id?}"
)

DESK_OFF = Answer("the paper desk is off (--no-paper)", ERROR)
BAD_PARAM = Answer("a parameter out of its range or form; `param` names it", ERROR)
UNKNOWN_TICKER = Answer("no such market", ERROR)
REFUSED = Answer("refused: from another site's page (Origin, Sec-Fetch-Site) or Host", ERROR)
TOKEN_NEEDED = Answer("the API token is missing or wrong (when the app has one)", ERROR)

# ---- parameters ---------------------------------------------------------------------------------


def _limit(default: int, hi: int) -> Param:
    schema = {"type": "integer", "minimum": 1, "maximum": hi, "default": default}
    return Param("limit", "query", schema, "how many rows at most")


def _choice(name: str, choices: tuple[str, ...], default: str, description: str) -> Param:
    schema = {"type": "string", "enum": list(choices), "default": default}
    return Param(name, "query", schema, description)


TICKER_SCHEMA: Schema = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,120}$"}
TICKER_PATH = Param("ticker", "path", TICKER_SCHEMA, "a Kalshi market ticker (case-blind)")
TICKER_QUERY = Param("ticker", "query", TICKER_SCHEMA, "only this market's trades")
MIN_COUNT = Param(
    "min_count",
    "query",
    # what the pattern takes is always in range: at most 999,999,999.99 of the billion allowed
    {"type": "string", "pattern": r"^[0-9]{1,9}(\.[0-9]{1,2})?$", "maxLength": 24},
    f"only trades of at least this many contracts, decimals allowed (to 0.01; at most "
    f"{MAX_COUNT // 100:,})",
)
DATE = Param(
    "date",
    "query",
    {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
    "US/Eastern date of the games, YYYY-MM-DD; default today",
)
ACCOUNT_QUERY = Param("account", "query", {"type": "string", "maxLength": 64},
                      "one paper account (manual, or a strategy's)")  # fmt: skip
ORDER_ID = Param("id", "path", {"type": "integer", "minimum": 1, "maximum": SQLITE_MAX},
                 "the paper order's id")  # fmt: skip
STRATEGY_NAME = Param("name", "path", {"type": "string", "maxLength": 64},
                      "a registered strategy (sharp_line, momentum, ...)")  # fmt: skip
STRATEGY = _obj({
    "name": STR, "enabled": BOOL, "version": INT, "config": OBJECT, "status": STR,
    "failures": INT, "account": STR,
})  # fmt: skip
GAME_ID = Param(
    "id",
    "path",
    {"type": "integer", "minimum": 1, "maximum": SQLITE_MAX},
    "balldontlie's game id",
)

# ---- the table ----------------------------------------------------------------------------------

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/health", "whether every background task runs", {
        200: Answer("all running", HEALTH), 503: Answer("a task has failed", HEALTH)}),
    Operation("GET", "/api/stats", "feed, storage, stream and event-loop figures", {
        200: Answer("the figures", STATS)}),
    Operation("GET", "/api/markets/hot", "the hottest markets of a window", {
        200: Answer("market cards, hottest first", _obj({
            "window": STR, "by": STR, "markets": {"type": "array", "items": CARD}})),
        400: BAD_PARAM,
    }, (
        _choice("window", tuple(WINDOWS), "5m", "the sliding window"),
        _limit(20, 500),
        _choice("by", ("volume", "notional", "trades"), "volume", "what ranks them"),
    )),
    Operation("GET", "/api/trades/recent", "the latest stored trades, newest first", {
        200: Answer("trades; prices in centicents, counts in hundredths", _obj({"trades": TRADES})),
        400: BAD_PARAM,
    }, (_limit(50, 1000), TICKER_QUERY, MIN_COUNT)),
    Operation("GET", "/api/markets/{ticker}", "one market: its windows, sparkline and book", {
        200: Answer("the market", _obj({
            "ticker": STR, "info": {"type": ["object", "null"]}, "windows": {"type": "object"},
            "spark": {"type": "array"}, "book": {"type": ["object", "null"]}})),
        400: BAD_PARAM,
        404: UNKNOWN_TICKER,
    }, (TICKER_PATH,)),
    Operation("GET", "/api/markets/{ticker}/trades", "one market's latest trades", {
        200: Answer("its trades, newest first", _obj({"ticker": STR, "trades": TRADES})),
        400: BAD_PARAM,
        404: UNKNOWN_TICKER,
    }, (TICKER_PATH, _limit(100, 1000))),
    Operation("GET", "/api/analytics", "minute (hour view) or hour (day view) analytics", {
        200: Answer("60 minute or 24 hour buckets, the current one included", VIEW),
        400: BAD_PARAM,
    }, (_choice("mode", ("hour", "day"), "hour", "hour: 60 minutes; day: 24 hours"),)),
    Operation("GET", "/api/gaps", "feed gaps and their repairs, newest first", {
        200: Answer("the gaps", _obj({"gaps": {"type": "array", "items": {"type": "object"}}})),
        400: BAD_PARAM,
    }, (_limit(100, 1000),)),
    Operation("GET", "/metrics", "Prometheus metrics", {
        200: Answer("Prometheus text exposition", media="text/plain")}),
    Operation("GET", "/api/openapi.json", "this description", {
        200: Answer("OpenAPI 3.1", _obj({"openapi": STR, "paths": {"type": "object"}}))}),
    Operation("GET", "/api/games", "the NBA games of a day", {
        200: Answer("the games, without history", _obj({
            "date": STR, "games": {"type": "array", "items": GAME}, "enabled": BOOL})),
        400: BAD_PARAM,
    }, (DATE,)),
    Operation("GET", "/api/games/{id}", "one game in full: history, odds, unmatched markets", {
        200: Answer("the game", GAME_DETAIL),
        400: BAD_PARAM,
        404: Answer("no such game (or the NBA side is off)", ERROR),
    }, (GAME_ID,)),
    Operation("POST", "/api/paper/orders", "place a paper order (manual account by default)", {
        503: DESK_OFF,
        201: Answer(ORDER_TICKET + "; the order as accepted", _obj({"order": ORDER})),
        400: Answer("a field out of its form, range or the market's grid; `param` names it",
                    ERROR),
        404: Answer("no such market or account", ERROR),
        413: Answer("body too large", ERROR),
        422: Answer("refused by the risk gate (stored, counted): `reason` says why", REJECTED),
    }),
    Operation("GET", "/api/paper/orders", "paper orders: the open ones, or those of a status", {
        503: DESK_OFF,
        200: Answer("orders, newest last (open) or newest first", _obj({
            "orders": {"type": "array", "items": {"type": "object"}}})),
        400: BAD_PARAM,
        404: Answer("no such account", ERROR),
    }, (
        _choice("status", ("open", "all", "accepted", "waiting", "resting", "decreased",
                           "canceled", "executed"), "open", "which orders"),
        ACCOUNT_QUERY, _limit(100, 1000),
    )),
    Operation("DELETE", "/api/paper/orders/{id}", "cancel a paper order", {
        503: DESK_OFF,
        200: Answer("the cancel is on its way to the book (latency)", _obj({"order": ORDER})),
        400: BAD_PARAM,
        404: Answer("no such order", ERROR),
        409: Answer("the order is not open", ERROR),
    }, (ORDER_ID,)),
    Operation("GET", "/api/paper/fills", "paper fills, newest first", {
        503: DESK_OFF,
        200: Answer("fills: legs are [price, count] per level taken", _obj({
            "fills": {"type": "array", "items": FILL}})),
        400: BAD_PARAM,
        404: Answer("no such account", ERROR),
    }, (ACCOUNT_QUERY, Param("ticker", "query", TICKER_SCHEMA, "only this market's fills"),
        _limit(100, 1000))),
    Operation("GET", "/api/paper/accounts", "every paper account: cash, equity, positions", {
        503: DESK_OFF,
        200: Answer("the accounts", _obj({"accounts": {"type": "array", "items": ACCOUNT},
                                          "killed": BOOL}))}),
    Operation("GET", "/api/paper/positions", "paper positions, marked at the mid and the bid", {
        503: DESK_OFF,
        200: Answer("positions", _obj({"positions": {"type": "array", "items": POSITION}})),
        404: Answer("no such account", ERROR),
    }, (ACCOUNT_QUERY,)),
    Operation("GET", "/api/paper/metrics", "P&L, fees, ratios and drawdown per account", {
        503: DESK_OFF,
        200: Answer("metrics", _obj({"accounts": OBJECT, "overall": OBJECT,
                                     "rejections": {"type": "array"}}))}),
    Operation("GET", "/api/paper/equity", "an account's equity curve (manual by default)", {
        503: DESK_OFF,
        200: Answer("equity points, oldest first", _obj({"account": STR,
                                                         "points": {"type": "array"}})),
        400: BAD_PARAM,
        404: Answer("no such account", ERROR),
    }, (ACCOUNT_QUERY, _limit(1000, 1000))),
    Operation("GET", "/api/paper/risk-events", "risk rejections, kills and flattens", {
        503: DESK_OFF,
        200: Answer("newest first", _obj({"events": {"type": "array"}})),
        400: BAD_PARAM,
    }, (_limit(100, 1000),)),
    Operation("POST", "/api/paper/kill", "stop new orders and cancel open ones", {
        503: DESK_OFF,
        200: Answer("JSON body {account?}: one account, or (none) every one", OBJECT),
        400: BAD_PARAM,
        404: Answer("no such account", ERROR),
        413: Answer("body too large", ERROR),
    }),
    Operation("POST", "/api/paper/revive", "take orders again after a kill", {
        503: DESK_OFF,
        200: Answer("JSON body {account?}", OBJECT),
        400: BAD_PARAM,
        404: Answer("no such account", ERROR),
        413: Answer("body too large", ERROR),
    }),
    Operation("POST", "/api/paper/flatten", "cancel every order, close every position at the book",
              {
        503: DESK_OFF,
        200: Answer("JSON body {account?}; the closing orders' ids", _obj({"orders": {
            "type": "array", "items": INT}})),
        400: BAD_PARAM,
        404: Answer("no such account", ERROR),
        413: Answer("body too large", ERROR),
    }),
    Operation("GET", "/api/paper/strategies", "every strategy, its version and status", {
        200: Answer("each with name, enabled, version, config, status, failures, account",
                    _obj({"strategies": {"type": "array", "items": STRATEGY}}))}),
    Operation("PATCH", "/api/paper/strategies/{name}", "enable, disable or reconfigure", {
        200: Answer("JSON body {enabled?, config?: {key: value}}; a change is a new version",
                    _obj({"strategy": STRATEGY})),
        400: Answer("a field out of its form or range; `param` names it (config.KEY)", ERROR),
        404: Answer("no such strategy", ERROR),
        413: Answer("body too large", ERROR),
    }, (STRATEGY_NAME,)),
    Operation("GET", "/api/markets/{ticker}/book", "a followed market's book and its freshness", {
        200: Answer("levels best first, prices centicents, sizes hundredths", BOOK),
        400: BAD_PARAM,
        404: Answer("no book followed for that market", ERROR),
    }, (TICKER_PATH,)),
    Operation("POST", "/api/games/refresh", "poll balldontlie and match Kalshi's events now", {
        200: Answer("what the refresh found", REFRESHED),
        429: Answer("refreshed too recently", ERROR),
        502: Answer("balldontlie or Kalshi failed", ERROR),
        503: Answer("the NBA side is off", ERROR),
    }),
)  # fmt: skip


def spec(operations: tuple[Operation, ...] = OPERATIONS) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = op.as_json()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flowboard",
            "version": "1",
            "description": (
                "Kalshi money flow and NBA games. Prices are integer centicents ($0.0001), "
                "counts integer hundredths of a contract, money integer micro-dollars, times "
                "epoch milliseconds. The live stream is the WebSocket /ws/stream (see README)."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "token": {"type": "apiKey", "in": "header", "name": "X-Flowboard-Token"},
            }
        },
    }


def routes() -> list[Route]:
    body = orjson.dumps(spec())

    async def openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return [Route("/api/openapi.json", openapi)]
