"""The NBA routes under /api/games: today's games, one game in full, and a refresh now."""

from __future__ import annotations

import logging
import re
from datetime import date as Date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kalshi_client import KalshiError
from nba.client import NbaError
from nba.service import NbaService
from nba.views import us_date
from web.api import ApiError, json_response, runtime

log = logging.getLogger(__name__)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _service(request: Request) -> NbaService | None:
    return runtime(request).nba


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


async def games(request: Request) -> Response:
    rt = runtime(request)
    day = date_param(request, us_date(rt.clock.now_ms()))
    nba = rt.nba
    views = await nba.views_on(day) if nba is not None else []
    return json_response({"date": day, "games": views, "enabled": nba is not None})


async def game(request: Request) -> Response:
    raw = request.path_params["id"]
    try:
        game_id = int(raw)
    except ValueError:
        raise ApiError(400, f"id must be an integer game id, got {raw!r}", "id") from None
    nba = _service(request)
    detail = await nba.detail(game_id) if nba is not None else None
    if detail is None:
        raise ApiError(404, f"unknown game {game_id}", "id")
    return json_response(detail)


async def refresh(request: Request) -> Response:
    nba = _service(request)
    if nba is None:
        raise ApiError(503, "the NBA side is off (--no-nba, or no balldontlie key)")
    try:
        summary = await nba.refresh()
    except (NbaError, KalshiError) as exc:
        log.warning("refresh failed: %s", exc)
        raise ApiError(502, f"refresh failed: {exc}") from None
    return json_response(summary)


def routes() -> list[Route]:
    return [
        Route("/api/games", games),
        Route("/api/games/refresh", refresh, methods=["POST"]),
        Route("/api/games/{id}", game),
    ]
