"""Answers and query parameters of the HTTP API: JSON bodies, errors that name the parameter."""

from __future__ import annotations

import re
from datetime import date as Date
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from models import parse_count

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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


def date_param(request: Request, default: str) -> str:
    raw = request.query_params.get("date")
    if raw is None or raw == "":
        return default
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        Date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"date must be YYYY-MM-DD, got {raw!r}", "date") from None
    return raw
