"""An order ticket as JSON, read strictly: each bad field is a 400 that names it.

``{ticker, side: yes|no, action: buy|sell, count, limit_price, time_in_force, expires_ms?,
account?, probability?, client_order_id?}``. ``count`` is contracts: a JSON number or a
decimal string (``"2.50"``), at most two decimals. ``limit_price`` is the named side's price:
a dollar string (``"0.5600"``) or an integer of centicents (``5600``). ``time_in_force`` takes
the short names (``ioc``, ``fok``, ``gtc``) or Kalshi's long ones. ``probability``, the chance
the order's side wins as its sender sees it (scored by Brier), is a decimal in 0..1.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from models import COUNT_SCALE, PRICE_SCALE, Action, Side, parse_count
from paper import MANUAL, OrderRequest, TimeInForce
from web.params import MAX_COUNT, SQLITE_MAX, ApiError, shown

MAX_BODY = 16_384
TIME_IN_FORCE = {
    "ioc": TimeInForce.IOC,
    "fok": TimeInForce.FOK,
    "gtc": TimeInForce.GTC,
    **{str(t): t for t in TimeInForce},
}
_PRICE = re.compile(r"0?\.[0-9]{1,4}|0|1(?:\.0{1,4})?")
_DECIMAL = re.compile(r"[0-9]{1,13}(?:\.[0-9]{1,2})?")
_PROBABILITY = re.compile(r"0?\.[0-9]{1,6}|[01](?:\.0{1,6})?")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


async def json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, f"body over {MAX_BODY} bytes")
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        raise ApiError(400, "body is not JSON", "body") from None
    if type(data) is not dict:
        raise ApiError(400, "body must be a JSON object", "body")
    return data


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if type(value) is not str or not value:
        raise ApiError(400, f"{name} is required, as a string", name)
    return value


def _choice(data: dict[str, Any], name: str, choices: dict[str, Any]) -> Any:
    raw = _text(data, name)
    found = choices.get(raw.lower())
    if found is None:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}, got {shown(raw)}", name)
    return found


def count_field(data: dict[str, Any], name: str = "count") -> int:
    """Contracts (a number or decimal text) to hundredths; positive, at most a billion."""
    raw = data.get(name)
    if type(raw) is int:
        value = raw * COUNT_SCALE
    elif type(raw) is float and raw.is_integer():
        value = int(raw) * COUNT_SCALE
    elif type(raw) in (str, float):
        text = repr(raw) if type(raw) is float else str(raw)
        if not _DECIMAL.fullmatch(text):
            raise ApiError(400, f"{name} must be contracts with at most 2 decimals: {shown(text)}",
                           name)  # fmt: skip
        value = parse_count(text)
    else:
        raise ApiError(400, f"{name} is required: contracts, a number or a decimal string", name)
    if not 0 < value <= MAX_COUNT:
        raise ApiError(400, f"{name} must be positive and at most a billion contracts", name)
    return value


def price_field(data: dict[str, Any], name: str = "limit_price") -> int:
    """A dollar string ("0.5600") or integer centicents (5600) to centicents, inside 0..$1."""
    raw = data.get(name)
    if type(raw) is int:
        value = raw
    elif type(raw) is str and _PRICE.fullmatch(raw):
        value = _dollars(raw)
    else:
        raise ApiError(400, f"{name} is required: a dollar string such as \"0.5600\" or integer "
                            f"centicents, got {shown(str(raw))}", name)  # fmt: skip
    if not 0 < value < PRICE_SCALE:
        raise ApiError(400, f"{name} must be between $0.0001 and $0.9999: {shown(str(raw))}", name)
    return value


def _dollars(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole or "0") * PRICE_SCALE + int((frac + "0000")[:4])


def _probability(data: dict[str, Any]) -> int | None:
    raw = data.get("probability")
    if raw is None:
        return None
    text = repr(raw) if type(raw) is float else str(raw) if type(raw) in (int, str) else ""
    if not _PROBABILITY.fullmatch(text):
        raise ApiError(400, f"probability must be a decimal in 0..1: {shown(text)}", "probability")
    whole, _, frac = text.partition(".")
    return int(whole or "0") * 1_000_000 + int((frac + "000000")[:6])


def order_request(data: dict[str, Any], now_ms: int) -> OrderRequest:
    """The ticket as an ``OrderRequest`` (the desk checks the grid, fractions and risk)."""
    ticker = _text(data, "ticker").strip().upper()
    if len(ticker) > 120 or not all(c.isalnum() or c in "-._" for c in ticker):
        raise ApiError(400, f"ticker is not a Kalshi ticker: {shown(ticker)}", "ticker")
    side = _choice(data, "side", {"yes": Side.YES, "no": Side.NO})
    action = _choice(data, "action", {"buy": Action.BUY, "sell": Action.SELL})
    count = count_field(data)
    price = price_field(data)
    tif = _choice(data, "time_in_force", TIME_IN_FORCE) if "time_in_force" in data else None
    if tif is None:
        raise ApiError(400, "time_in_force is required: ioc, fok or gtc", "time_in_force")
    expires = data.get("expires_ms")
    if expires is not None:
        if type(expires) is not int or not 0 < expires <= SQLITE_MAX:
            raise ApiError(400, "expires_ms must be epoch milliseconds", "expires_ms")
        if tif is not TimeInForce.GTC:
            raise ApiError(400, "expires_ms goes with time_in_force gtc only", "expires_ms")
        if expires <= now_ms:
            raise ApiError(400, "expires_ms is in the past", "expires_ms")
    account = data.get("account", MANUAL)
    if type(account) is not str or not account:
        raise ApiError(400, "account must be a string", "account")
    client_id = data.get("client_order_id", "")
    if type(client_id) is not str or (client_id and not _CLIENT_ID.fullmatch(client_id)):
        raise ApiError(400, "client_order_id must be up to 64 letters, digits or _.:-",
                       "client_order_id")  # fmt: skip
    return OrderRequest(account, ticker, side, action, price, count, tif, expires,
                        _probability(data), client_id)  # fmt: skip
