"""The strategies' routes: ``GET /api/paper/strategies`` (each one's name, whether it runs, its
config version and config, its status, failures and account) and ``PATCH
/api/paper/strategies/{name}`` with ``{"enabled"?: bool, "config"?: {key: value}}``.

A PATCH is checked whole before anything changes: a body that is not an object, an unknown key,
``enabled`` that is not a boolean, or a config value of the wrong type or out of its range is a
400 whose ``param`` names the field (``enabled``, ``config``, ``config.min_edge_cc``); an unknown
strategy is a 404. What changes is a new version, stored; orders and fills carry the version
they were made under. A PATCH that changes nothing makes no version.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from strategies.common import FieldError
from trading.strategies import StrategyRunner
from web.paper import PaperDeps, deps
from web.paper_orders import json_body
from web.params import ApiError, json_response, shown

PATCH_KEYS = ("enabled", "config")


def runner_of(d: PaperDeps) -> StrategyRunner:
    if d.strategies is None:
        raise ApiError(503, "the paper desk is off (--no-paper)")
    return d.strategies


async def strategies(request: Request) -> Response:
    d = deps(request)
    return json_response({"strategies": runner_of(d).describe_all()})


async def patch(request: Request) -> Response:
    d = deps(request)
    name = str(request.path_params["name"])
    runner = runner_of(d)
    if name not in runner.slots:
        raise ApiError(404, f"unknown strategy {shown(name)}", "name")
    body = await json_body(request)
    for key in body:
        if key not in PATCH_KEYS:
            raise ApiError(400, f"unknown field {shown(key)}: enabled and config only", key)
    enabled = body.get("enabled")
    if "enabled" in body and type(enabled) is not bool:
        raise ApiError(400, "enabled must be true or false", "enabled")
    changes = body.get("config")
    if "config" in body and type(changes) is not dict:
        raise ApiError(400, "config must be an object of settings", "config")
    try:
        runner.configure(name, enabled=enabled, changes=changes, now_ms=d.clock.now_ms())
    except FieldError as exc:
        raise ApiError(400, f"config.{exc}", f"config.{exc.field}") from None
    return json_response({"strategy": runner.describe(name)})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/paper/strategies", strategies),
        Route("/api/paper/strategies/{name}", patch, methods=["PATCH"]),
    ]
