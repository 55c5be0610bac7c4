"""The NBA routes under /api/games: today's games, one game in full, and a refresh now."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clock import Clock
from kalshi_client import KalshiError
from nba.errors import NbaError
from nba.service import NbaService
from nba.views import us_date
from web.params import ApiError, date_param, json_response, path_int_param

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GamesDeps:
    """What the NBA routes read; ``nba`` is None when the NBA side is off."""

    clock: Clock
    nba: NbaService | None


def deps(request: Request) -> GamesDeps:
    found = request.state.games
    if not isinstance(found, GamesDeps):
        raise TypeError("the app's lifespan did not put GamesDeps in the state")
    return found


async def games(request: Request) -> Response:
    d = deps(request)
    day = date_param(request, us_date(d.clock.now_ms()))
    nba = d.nba
    views = await nba.views_on(day) if nba is not None else []
    return json_response({"date": day, "games": views, "enabled": nba is not None})


async def game(request: Request) -> Response:
    game_id = path_int_param(request, "id")
    nba = deps(request).nba
    detail = await nba.detail(game_id) if nba is not None else None
    if detail is None:
        raise ApiError(404, f"unknown game {game_id}", "id")
    return json_response(detail)


async def refresh(request: Request) -> Response:
    nba = deps(request).nba
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
