"""A balldontlie-compatible NBA server driven by simulated games (JSON shapes from balldontlie's
OpenAPI: NBAGame, NBATeam, NBABoxScore, NBABettingOdd, Pagination, Error; live box scores
flattened as the service sends them).

Serves ``/v1/...`` and ``/nba/v1/...``, ``/v2/odds`` and ``/nba/v2/odds``. The key must be in
``Authorization`` (no ``Bearer``); requests over ``rate_limit_per_min`` in a clock minute get 429.

Run alone: ``python -m sim.balldontlie --host 127.0.0.1 --port PORT --api-key KEY [--seed N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clock import Clock, SystemClock
from models import GameState, GameStatus, OddsQuote
from sim.embedded import EmbeddedServer, embedded_config
from sim.nba_games import TEAM_BY_ABBR, TEAMS, NightSim

log = logging.getLogger(__name__)

_ORDINAL = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th"}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def team_json(abbr: str) -> dict[str, Any]:
    tid, ab, city, name, conf, div = TEAM_BY_ABBR[abbr]
    return {
        "id": tid,
        "conference": conf,
        "division": div,
        "city": city,
        "name": name,
        "full_name": f"{city} {name}",
        "abbreviation": ab,
    }


def _status_text(g: GameState) -> tuple[str, str]:
    """(status, time) as balldontlie writes them."""
    if g.status is GameStatus.SCHEDULED:
        return _iso(g.start_ms or 0), ""
    if g.status is GameStatus.HALFTIME:
        return "Halftime", ""
    if g.status is GameStatus.FINAL:
        ot = g.period - 4
        return ("Final" if ot <= 0 else "Final/OT" if ot == 1 else f"Final/{ot}OT"), "Final"
    label = (
        f"{_ORDINAL[g.period]} Qtr"
        if g.period <= 4
        else ("OT" if g.period == 5 else f"{g.period - 4}OT")
    )
    return label, f"{g.seconds_left // 60}:{g.seconds_left % 60:02d}"


def _season(date: str) -> int:
    year, month = int(date[:4]), int(date[5:7])
    return year if month >= 10 else year - 1


def game_json(g: GameState) -> dict[str, Any]:
    status, clock = _status_text(g)
    return {
        "id": g.game_id,
        "date": g.date,
        "season": _season(g.date),
        "status": status,
        "period": g.period,
        "time": clock,
        "period_detail": status,
        "datetime": _iso(g.start_ms) if g.start_ms is not None else None,
        "postseason": False,
        "home_team_score": g.home_score,
        "visitor_team_score": g.away_score,
        "home_team": team_json(g.home),
        "visitor_team": team_json(g.away),
        "ist_stage": None,
    }


def box_json(g: GameState) -> dict[str, Any]:
    """A live box score as the service sends it: the team fields sit on ``home_team`` and
    ``visitor_team`` beside ``players`` (balldontlie's SDK reads them there), where the
    OpenAPI spec nests them under ``team``."""
    status, clock = _status_text(g)
    return {
        "date": g.date,
        "season": _season(g.date),
        "status": status,
        "period": g.period,
        "time": clock,
        "postseason": False,
        "home_team_score": g.home_score,
        "visitor_team_score": g.away_score,
        "home_team": {**team_json(g.home), "players": []},
        "visitor_team": {**team_json(g.away), "players": []},
    }


def _line(tenths: int | None) -> str | None:
    if tenths is None:
        return None
    sign = "-" if tenths < 0 else ""
    return f"{sign}{abs(tenths) // 10}.{abs(tenths) % 10}"


def odds_rows(quotes: list[OddsQuote]) -> list[dict[str, Any]]:
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for q in quotes:
        row = rows.setdefault(
            (q.game_id, q.vendor),
            {
                "id": 0,
                "game_id": q.game_id,
                "vendor": q.vendor,
                "spread_home_value": None,
                "spread_home_odds": None,
                "spread_away_value": None,
                "spread_away_odds": None,
                "moneyline_home_odds": None,
                "moneyline_away_odds": None,
                "total_value": None,
                "total_over_odds": None,
                "total_under_odds": None,
                "updated_at": _iso(q.ts_ms),
            },
        )
        if q.market == "moneyline":
            row.update(moneyline_home_odds=q.home_odds, moneyline_away_odds=q.away_odds)
        elif q.market == "spread" and q.line_tenths is not None:
            row.update(
                spread_home_value=_line(q.line_tenths),
                spread_home_odds=q.home_odds,
                spread_away_value=_line(-q.line_tenths),
                spread_away_odds=q.away_odds,
            )
        elif q.market == "total":
            row.update(
                total_value=_line(q.line_tenths),
                total_over_odds=q.over_odds,
                total_under_odds=q.under_odds,
            )
        row["updated_at"] = max(row["updated_at"], _iso(q.ts_ms))
    out = sorted(rows.values(), key=lambda r: (r["game_id"], r["vendor"]))
    for i, r in enumerate(out, 1):
        r["id"] = i
    return out


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _page(rows: list[dict[str, Any]], request: Request) -> JSONResponse:
    """Cursor paging: ``cursor`` is the ``id`` of the last row of the previous page."""
    try:
        per_page = min(100, max(1, int(request.query_params.get("per_page", "25"))))
        cursor = int(request.query_params.get("cursor", "0"))
    except ValueError:
        return _error(400, "per_page and cursor must be integers")
    rest = [r for r in rows if r["id"] > cursor]
    page = rest[:per_page]
    meta: dict[str, Any] = {"per_page": per_page}
    if len(rest) > per_page:
        meta["next_cursor"] = page[-1]["id"]
    return JSONResponse({"data": page, "meta": meta})


class SimBalldontlie:
    def __init__(
        self,
        api_key: str,
        seed: int,
        clock: Clock,
        games: NightSim | None = None,
        *,
        rate_limit_per_min: int = 600,
    ) -> None:
        self.api_key = api_key
        self.seed = seed
        self._clock = clock
        if games is None:
            now = clock.now_ms()
            games = NightSim(seed, _iso(now)[:10], now, 15, acceleration=20.0)
        self.games = games
        self.rate_limit_per_min = rate_limit_per_min
        self._window: tuple[int, int] = (-1, 0)  # (minute, requests in it)
        self.requests = 0
        self.paths: Counter[str] = Counter()  # requests by path, without the /nba prefix
        self.rejected_429 = 0
        self.rejected_401 = 0
        self._server: EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self.url = ""
        routes: list[Route] = []
        for prefix in ("", "/nba"):
            routes += [
                Route(f"{prefix}/v1/teams", self._teams),
                Route(f"{prefix}/v1/teams/{{id:int}}", self._team),
                Route(f"{prefix}/v1/games", self._games),
                Route(f"{prefix}/v1/games/{{id:int}}", self._game),
                Route(f"{prefix}/v1/box_scores/live", self._box_live),
                Route(f"{prefix}/v2/odds", self._odds),
            ]
        self.app = Starlette(routes=routes, lifespan=self._lifespan)
        self._ready: asyncio.Event | None = None

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self._ready is not None:
            self._ready.set()
        yield

    def _gate(self, request: Request) -> JSONResponse | None:
        self.requests += 1
        self.paths[request.url.path.removeprefix("/nba")] += 1
        if request.headers.get("authorization", "") != self.api_key:
            self.rejected_401 += 1
            return _error(401, "Unauthorized: invalid or missing API key")
        minute = self._clock.now_ms() // 60_000
        count = self._window[1] + 1 if self._window[0] == minute else 1
        self._window = (minute, count)
        if count > self.rate_limit_per_min:
            self.rejected_429 += 1
            resp = _error(429, "Too many requests")
            resp.headers["Retry-After"] = str(60 - (self._clock.now_ms() // 1000) % 60)
            return resp
        self.games.step(self._clock.now_ms())
        return None

    async def _teams(self, request: Request) -> JSONResponse:
        if (denied := self._gate(request)) is not None:
            return denied
        return JSONResponse({"data": [team_json(t[1]) for t in TEAMS]})

    async def _team(self, request: Request) -> JSONResponse:
        if (denied := self._gate(request)) is not None:
            return denied
        tid = request.path_params["id"]
        for t in TEAMS:
            if t[0] == tid:
                return JSONResponse({"data": team_json(t[1])})
        return _error(404, "Not found")

    async def _games(self, request: Request) -> JSONResponse:
        if (denied := self._gate(request)) is not None:
            return denied
        dates = set(request.query_params.getlist("dates[]"))
        rows = [
            game_json(g)
            for g in sorted(self.games.states(), key=lambda s: s.game_id)
            if not dates or g.date in dates
        ]
        return _page(rows, request)

    async def _game(self, request: Request) -> JSONResponse:
        if (denied := self._gate(request)) is not None:
            return denied
        gid = request.path_params["id"]
        if gid not in self.games.games:
            return _error(404, "Not found")
        return JSONResponse({"data": game_json(self.games.state(gid))})

    async def _box_live(self, request: Request) -> JSONResponse:
        if (denied := self._gate(request)) is not None:
            return denied
        live = [
            box_json(g)
            for g in self.games.states()
            if g.status in (GameStatus.LIVE, GameStatus.HALFTIME)
        ]
        return JSONResponse({"data": live})

    async def _odds(self, request: Request) -> JSONResponse:
        if (denied := self._gate(request)) is not None:
            return denied
        dates = set(request.query_params.getlist("dates[]"))
        try:
            ids = {int(x) for x in request.query_params.getlist("game_ids[]")}
        except ValueError:
            return _error(400, "game_ids must be integers")
        if not dates and not ids:
            return _error(400, "dates or game_ids is required")
        wanted = {g.game_id for g in self.games.states() if g.date in dates} | ids
        return _page(odds_rows(self.games.odds(wanted)), request)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._ready = asyncio.Event()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # early connections wait in the backlog until uvicorn accepts
        self._sock = sock
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        # idle keep-alive connections are kept longer than the pollers' intervals, as real
        # API servers do (uvicorn's 5 s races a poll every 5 s: a reused connection is closed)
        config = embedded_config(self.app, lifespan="on", timeout_keep_alive=75)
        self._server = EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        ready = asyncio.create_task(self._ready.wait())
        async with asyncio.timeout(30):
            done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()
            raise RuntimeError("balldontlie simulator stopped during start-up")

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._sock is not None:
            self._sock.close()
        self._server = self._task = self._sock = None


async def _main(args: argparse.Namespace) -> None:
    sim = SimBalldontlie(args.api_key, args.seed, SystemClock(), rate_limit_per_min=args.rate_limit)
    await sim.start(args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY url={sim.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="balldontlie-compatible NBA simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate-limit", type=int, default=600, help="requests per minute")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C during start-up
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
