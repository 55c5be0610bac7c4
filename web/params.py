"""Answers and parameters of the HTTP API: JSON bodies, errors that name the parameter.

A parameter is read strictly and to a real range: integers are ASCII digits (a leading '-'
only where the range has negatives), inside SQLite's signed 64 bits and the parameter's own
bounds; counts are plain decimals of at most a billion contracts. A 400 names the parameter and
quotes no more than the first ``SHOWN_CHARS`` characters of what was sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date as Date
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from models import COUNT_SCALE, parse_count

SQLITE_MIN = -(2**63)
SQLITE_MAX = 2**63 - 1
MAX_COUNT = 1_000_000_000 * COUNT_SCALE
"""The largest contract count a parameter takes, in hundredths: a billion contracts."""
SHOWN_CHARS = 40

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UNSIGNED = re.compile(r"[0-9]+")  # [0-9], not \d: \d takes any Unicode digit ('５')
_SIGNED = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_INT_DIGITS = len(str(SQLITE_MAX))
_COUNT_CHARS = 24  # a billion contracts to hundredths is 13; this leaves room for zeros


def shown(raw: str) -> str:
    """``raw`` quoted for an error message: its first ``SHOWN_CHARS`` characters at most."""
    return repr(raw if len(raw) <= SHOWN_CHARS else raw[:SHOWN_CHARS] + "…")


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, headers=headers, media_type="application/json"
    )


def error_response(exc: ApiError) -> Response:
    body: dict[str, Any] = {"error": exc.message}
    if exc.param is not None:
        body["param"] = exc.param
    return json_response(body, exc.status)


def parse_int(raw: str, name: str, lo: int, hi: int) -> int:
    """``raw`` as an integer in ``lo..hi`` (a range inside SQLite's 64 bits), or a 400."""
    assert SQLITE_MIN <= lo <= hi <= SQLITE_MAX, (lo, hi)
    form = _SIGNED if lo < 0 else _UNSIGNED
    if not form.fullmatch(raw):
        raise ApiError(400, f"{name} must be an integer from {lo} to {hi}, got {shown(raw)}", name)
    # int() of thousands of digits costs; nothing that long is in range
    value = int(raw) if len(raw.lstrip("-").lstrip("0")) <= _INT_DIGITS else None
    if value is None or not lo <= value <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}, got {shown(raw)}", name)
    return value


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(raw, name, lo, hi)


def path_int_param(request: Request, name: str, lo: int = 1, hi: int = SQLITE_MAX) -> int:
    """The integer path parameter ``name`` (``/api/games/{id}``) in ``lo..hi``, or a 400."""
    return parse_int(str(request.path_params[name]), name, lo, hi)


def choice_param(request: Request, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}, got {shown(value)}", name)
    return value


def ticker_param(request: Request, name: str = "ticker") -> str | None:
    raw = request.query_params.get(name) or request.path_params.get(name)
    if raw is None:
        return None
    ticker = raw.strip().upper()
    if (
        not ticker
        or len(ticker) > 120
        or not ticker.isascii()
        or not all(c.isalnum() or c in "-._" for c in ticker)
    ):
        raise ApiError(400, f"{name} is not a Kalshi ticker: {shown(raw)}", name)
    return ticker


def count_param(request: Request, name: str, hi: int = MAX_COUNT) -> int | None:
    """A contract count as decimal text ('10', '0.5') to hundredths, at most ``hi``."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        if len(raw) > _COUNT_CHARS or not _DECIMAL.fullmatch(raw):
            raise ValueError(raw)
        value = parse_count(raw)
    except ValueError:
        raise ApiError(
            400, f"{name} must be a number of contracts (to 0.01), got {shown(raw)}", name
        ) from None
    if value > hi:
        limit = f"{hi // COUNT_SCALE}.{hi % COUNT_SCALE:02d}"
        raise ApiError(400, f"{name} must be at most {limit} contracts, got {shown(raw)}", name)
    return value


def date_param(request: Request, default: str) -> str:
    raw = request.query_params.get("date")
    if raw is None or raw == "":
        return default
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        Date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"date must be YYYY-MM-DD, got {shown(raw)}", "date") from None
    return raw
