"""The NBA routes under /api/games: today's games, one game in full, and a refresh now.

A refresh polls balldontlie and Kalshi, so ``POST /api/games/refresh`` shares the refresh in
progress and starts at most one every ``--refresh-interval`` seconds: sooner is a 429 with
``Retry-After``. However many clients press the button, the upstreams see one refresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clock import Clock
from infra.coalesce import TooSoon
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
        summary = await nba.refresh_shared()
    except TooSoon as exc:
        wait_s = exc.retry_after_s
        every_s = nba.refresher.min_interval_ms / 1000
        body = {
            "error": f"a refresh started less than {every_s:g} s ago; try again in {wait_s} s",
            "retry_after_s": wait_s,
        }
        resp = json_response(body, 429)
        resp.headers["Retry-After"] = str(wait_s)
        return resp
    except (NbaError, KalshiError) as exc:
        log.warning("refresh failed: %s", exc)
        raise ApiError(502, f"refresh failed: {exc}") from None
    return json_response(summary)


class Refresh(HTTPEndpoint):
    """``/api/games/refresh`` answers every method, so that a GET is told to POST (405) instead
    of reaching ``/api/games/{id}`` as a game id called "refresh"."""

    async def post(self, request: Request) -> Response:
        return await refresh(request)

    async def method_not_allowed(self, request: Request) -> Response:
        resp = json_response(
            {"error": f"{request.method} is not allowed here: POST /api/games/refresh"}, 405
        )
        resp.headers["Allow"] = "POST"
        return resp


def routes() -> list[Route]:
    return [
        Route("/api/games", games),
        Route("/api/games/refresh", Refresh),  # before {id}: it takes every method
        Route("/api/games/{id}", game),
    ]
