"""The paper desk's routes under /api/paper, and a market's book at /api/markets/{ticker}/book.

Orders go to the ``manual`` account unless the ticket names another. A ticket that does not
parse is a 400 naming the field; one the desk refuses for its content (off the price grid, a
fraction where the market trades whole contracts) is a 400 naming the field too; one the risk
gate refuses is a 422 with the reason, which the desk also stores and counts. An unknown ticker
is a 404. Answers are in Flowboard's units: prices centicents, counts hundredths of a contract,
money micro-dollars.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from clock import Clock
from kalshi.book_store import BookStore
from models import Side
from paper import MANUAL, RejectReason
from storage.market_meta import MarketDirectory
from storage.paper_store import PaperStore
from trading.runner import DeskRunner
from trading.strategies import StrategyRunner
from trading.views import account_json, order_json, positions_json
from web.paper_orders import json_body, order_request
from web.params import (
    ApiError,
    choice_param,
    int_param,
    json_response,
    path_int_param,
    ticker_param,
)

log = logging.getLogger(__name__)

FIELD_OF = {
    RejectReason.UNKNOWN_ACCOUNT: "account",
    RejectReason.BAD_PRICE: "limit_price",
    RejectReason.OFF_GRID: "limit_price",
    RejectReason.BAD_COUNT: "count",
    RejectReason.FRACTIONAL: "count",
    RejectReason.BAD_EXPIRY: "expires_ms",
    RejectReason.BAD_PROBABILITY: "probability",
    RejectReason.MARKET_FINISHED: "ticker",
}
ORDER_STATUSES = ("open", "all", "accepted", "waiting", "resting", "decreased", "canceled",
                  "executed")  # fmt: skip


@dataclass(frozen=True, slots=True)
class PaperDeps:
    """What the paper routes read; ``runner`` is None when the desk is off (``--no-paper``)."""

    clock: Clock
    runner: DeskRunner | None
    store: PaperStore
    meta: MarketDirectory
    books: BookStore
    strategies: StrategyRunner | None  # None with the desk


def deps(request: Request) -> PaperDeps:
    found = request.state.paper
    if not isinstance(found, PaperDeps):
        raise TypeError("the app's lifespan did not put PaperDeps in the state")
    return found


def desk_of(d: PaperDeps) -> DeskRunner:
    if d.runner is None:
        raise ApiError(503, "the paper desk is off (--no-paper)")
    return d.runner


def _account(request: Request, d: PaperDeps) -> str | None:
    name = request.query_params.get("account")
    if not name:
        return None
    if name not in desk_of(d).desk.ledger.accounts:
        raise ApiError(404, f"unknown account {name!r}", "account")
    return name


async def place(request: Request) -> Response:
    d = deps(request)
    runner = desk_of(d)
    req = order_request(await json_body(request), d.clock.now_ms())
    known = (
        d.meta.info(req.ticker) is not None
        or d.books.book(req.ticker) is not None
        or runner.desk.markets.info(req.ticker) is not None  # restored with the desk
    )
    if not known:
        raise ApiError(404, f"unknown ticker {req.ticker}", "ticker")
    result = runner.place(req)
    if result.order_id is None:
        reason = result.reason
        assert reason is not None
        field = FIELD_OF.get(reason)
        status = 422 if field is None else 404 if reason is RejectReason.UNKNOWN_ACCOUNT else 400
        return json_response(
            {"error": f"order rejected: {reason}", "reason": str(reason),
             "detail": result.detail, "param": field},
            status,
        )  # fmt: skip
    order = runner.desk.orders[result.order_id]
    return json_response({"order": order_json(order)}, 201)


async def cancel(request: Request) -> Response:
    d = deps(request)
    order_id = path_int_param(request, "id")
    order = desk_of(d).desk.orders.get(order_id)
    if order is None:
        raise ApiError(404, f"unknown order {order_id}", "id")
    if not desk_of(d).cancel(order_id):
        raise ApiError(409, f"order {order_id} is {order.status}: nothing to cancel", "id")
    return json_response({"order": order_json(order), "cancel": "requested"})


async def orders(request: Request) -> Response:
    d = deps(request)
    status = choice_param(request, "status", "open", ORDER_STATUSES)
    account = _account(request, d)
    limit = int_param(request, "limit", 100, 1, 1_000)
    if status == "open":
        found = [order_json(o) for o in desk_of(d).desk.open_orders(account)][-limit:]
        return json_response({"orders": found})
    rows = await d.store.orders(status=None if status == "all" else status, account=account,
                                limit=limit)  # fmt: skip
    return json_response({"orders": rows})


async def fills(request: Request) -> Response:
    d = deps(request)
    rows = await d.store.fills(account=_account(request, d), ticker=ticker_param(request),
                               limit=int_param(request, "limit", 100, 1, 1_000))  # fmt: skip
    return json_response({"fills": rows})


async def accounts(request: Request) -> Response:
    d = deps(request)
    desk = desk_of(d).desk
    return json_response({"accounts": [account_json(desk, a) for a in desk_of(d).accounts()],
                          "killed": desk.risk.killed})  # fmt: skip


async def positions(request: Request) -> Response:
    d = deps(request)
    account = _account(request, d)
    names = [account] if account is not None else desk_of(d).accounts()
    return json_response(
        {"positions": [p for a in names for p in positions_json(desk_of(d).desk, a)]}
    )


async def metrics(request: Request) -> Response:
    d = deps(request)
    desk = desk_of(d).desk
    per = {a: asdict(desk.metrics(a)) for a in desk_of(d).accounts()}
    rejections = [{"account": a, "reason": str(r), "count": n}
                  for (a, r), n in sorted(desk.rejections.items())]  # fmt: skip
    return json_response({"accounts": per, "overall": asdict(desk.metrics(None)),
                          "rejections": rejections})  # fmt: skip


async def equity(request: Request) -> Response:
    d = deps(request)
    account = _account(request, d) or MANUAL
    limit = int_param(request, "limit", 1_000, 1, 1_000)
    points = await d.store.equity(account=account, limit=limit)
    return json_response({"account": account, "points": points})


async def risk_events(request: Request) -> Response:
    d = deps(request)
    limit = int_param(request, "limit", 100, 1, 1_000)
    return json_response({"events": await d.store.risk_events(limit=limit)})


async def _control_account(request: Request, d: PaperDeps) -> str | None:
    body = await json_body(request)
    account = body.get("account")
    if account is None:
        return None
    if type(account) is not str or account not in desk_of(d).desk.ledger.accounts:
        raise ApiError(404, f"unknown account {account!r}", "account")
    return account


async def kill(request: Request) -> Response:
    d = deps(request)
    account = await _control_account(request, d)
    desk_of(d).kill(account)
    return json_response({"killed": account or "all"})


async def revive(request: Request) -> Response:
    d = deps(request)
    account = await _control_account(request, d)
    desk_of(d).revive(account)
    return json_response({"revived": account or "all"})


async def flatten(request: Request) -> Response:
    d = deps(request)
    account = await _control_account(request, d)
    ids = desk_of(d).flatten(account)
    return json_response({"orders": ids})


async def book(request: Request) -> Response:
    d = deps(request)
    ticker = ticker_param(request)
    assert ticker is not None
    found = d.books.book(ticker)
    if found is None:
        raise ApiError(404, f"no book followed for {ticker}", "ticker")
    now = d.clock.now_ms()
    bid, ask = found.best_yes_bid(), found.best_yes_ask()
    return json_response({
        "ticker": ticker,
        "yes": [list(level) for level in found.levels(Side.YES)],
        "no": [list(level) for level in found.levels(Side.NO)],
        "best_yes_bid": bid[0] if bid else None,
        "best_yes_ask": ask[0] if ask else None,
        "stale": found.stale,
        "seq": found.last_seq,
        "ts_ms": found.last_ts_ms,
        "age_ms": now - found.last_ts_ms if found.last_ts_ms is not None else None,
    })  # fmt: skip


def routes() -> list[BaseRoute]:
    return [
        Route("/api/paper/orders", place, methods=["POST"]),
        Route("/api/paper/orders", orders, methods=["GET"]),
        Route("/api/paper/orders/{id}", cancel, methods=["DELETE"]),
        Route("/api/paper/fills", fills),
        Route("/api/paper/accounts", accounts),
        Route("/api/paper/positions", positions),
        Route("/api/paper/metrics", metrics),
        Route("/api/paper/equity", equity),
        Route("/api/paper/risk-events", risk_events),
        Route("/api/paper/kill", kill, methods=["POST"]),
        Route("/api/paper/revive", revive, methods=["POST"]),
        Route("/api/paper/flatten", flatten, methods=["POST"]),
        Route("/api/markets/{ticker}/book", book),
    ]
