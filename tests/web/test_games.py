"""The /api/games routes and the stream's games, through the real app on the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import websockets

from clock import ManualClock
from tests.serving import running_app
from tests.test_app_e2e import recv_type, sim_settings

GAME_KEYS = {
    "id", "date", "home", "away", "home_score", "away_score", "status", "period", "seconds_left",
    "clock", "start_ms", "ts_ms", "fair", "consensus", "kalshi", "markets", "freshness_ms",
}  # fmt: skip


T0 = 1_781_391_600_000  # 2026-06-13 23:00 UTC


def nba_settings(tmp_path: Path, **changes: Any) -> Any:
    return sim_settings(tmp_path, sim_games=3, sim_tipoff_s=3600, **changes)


async def test_games_routes_answer_200_400_404(tmp_path: Path) -> None:
    async with (
        running_app(nba_settings(tmp_path)) as app,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        r = await http.post("/api/games/refresh")
        assert r.status_code == 200, r.text
        summary = r.json()
        assert summary["games"] == 3 and isinstance(summary["unmatched"], list)
        assert isinstance(summary["matched"], int)

        r = await http.get("/api/games")
        assert r.status_code == 200
        body = r.json()
        assert body["enabled"] is True and len(body["games"]) == 3
        for g in body["games"]:
            assert set(g) == GAME_KEYS  # no history in the list
            assert g["date"] == body["date"] and g["status"] == "scheduled"
            assert g["clock"].endswith(" ET")
            assert set(g["consensus"]) == {"home_win_ppm", "spread_tenths", "total_tenths", "books"}
            assert g["freshness_ms"]["scores"] is not None

        r = await http.get("/api/games", params={"date": body["date"]})
        assert [g["id"] for g in r.json()["games"]] == [g["id"] for g in body["games"]]
        r = await http.get("/api/games", params={"date": "2020-01-01"})
        assert r.status_code == 200 and r.json() == {
            "date": "2020-01-01", "games": [], "enabled": True}  # fmt: skip
        for bad in ("yesterday", "2026-02-30", "2026-1-5"):
            r = await http.get("/api/games", params={"date": bad})
            assert r.status_code == 400 and r.json()["param"] == "date", bad

        gid = body["games"][0]["id"]
        r = await http.get(f"/api/games/{gid}")
        assert r.status_code == 200
        detail = r.json()
        assert set(detail) == GAME_KEYS | {"history", "odds", "unmatched"}
        assert detail["id"] == gid and detail["history"]
        assert all(len(p) == 4 for p in detail["history"])
        assert detail["odds"] and {"vendor", "market", "line_tenths"} <= set(detail["odds"][0])
        assert set(detail["unmatched"]) == {"events", "missing_series"}

        r = await http.get("/api/games/12x")
        assert r.status_code == 400 and r.json()["param"] == "id"
        r = await http.get("/api/games/999")
        assert r.status_code == 404 and r.json()["param"] == "id"
        r = await http.get("/api/games/refresh")
        assert r.status_code == 405  # GET: not the refresh, and not a game id
        assert r.headers["allow"] == "POST" and "POST" in r.json()["error"]


async def test_refresh_is_shared_and_started_at_most_once_per_interval(tmp_path: Path) -> None:
    """On the injected clock, frozen: the refresh that runs is shared, and until the clock has
    moved the interval (10 s by default) every other ask is a 429 with Retry-After."""
    clock = ManualClock(T0)
    async with (
        running_app(nba_settings(tmp_path), clock=clock) as app,
        httpx.AsyncClient(base_url=app.url, timeout=30) as http,
    ):
        nba = app.runtime.nba
        assert nba is not None
        answers = await asyncio.gather(*(http.post("/api/games/refresh") for _ in range(20)))
        ok = [r for r in answers if r.status_code == 200]
        limited = [r for r in answers if r.status_code == 429]
        assert ok and len(ok) + len(limited) == 20, [r.status_code for r in answers]
        assert all(r.json() == ok[0].json() for r in ok)  # one refresh, one summary
        assert ok[0].json()["games"] == 3
        assert nba.refresher.started == 1 and nba.refresher.joined == len(ok) - 1
        for r in limited:
            assert r.headers["retry-after"] == "10"
            assert r.json()["retry_after_s"] == 10 and "try again in 10 s" in r.json()["error"]

        clock.advance(4_000)
        r = await http.post("/api/games/refresh")
        assert r.status_code == 429 and r.headers["retry-after"] == "6"
        clock.advance(6_000)
        r = await http.post("/api/games/refresh")
        assert r.status_code == 200 and nba.refresher.started == 2


async def test_a_rush_of_refreshes_reaches_the_upstreams_as_a_handful(tmp_path: Path) -> None:
    """200 clients press refresh at once (before: ~208 balldontlie games polls, ~204 odds
    polls and ~1,300 Kalshi /events requests, half of them answered 429)."""
    async with (
        running_app(nba_settings(tmp_path)) as app,
        httpx.AsyncClient(
            base_url=app.url, timeout=60, limits=httpx.Limits(max_connections=300)
        ) as http,
    ):
        rt = app.runtime
        bdl, exchange, rest = rt.source.nba_sim, rt.source.sim.rest_log, rt.source.rest
        assert rest is not None
        polls = bdl.paths.copy()
        events = exchange.count("/events")
        rush = [http.post("/api/games/refresh") for _ in range(200)]
        health = [http.get("/api/health") for _ in range(20)]
        answers = await asyncio.gather(*rush, *health)
        refreshed, healthy = answers[:200], answers[200:]
        codes = {r.status_code for r in refreshed}
        assert 200 in codes and codes <= {200, 429}, codes
        games = bdl.paths["/v1/games"] - polls["/v1/games"]
        odds = bdl.paths["/v2/odds"] - polls["/v2/odds"]
        discovery = exchange.count("/events") - events
        # one refresh (one games poll, one odds poll, three /events), a second one if the rush
        # outlasts the interval on a slow machine, and the poller's own polls meanwhile
        assert 1 <= games <= 5 and 1 <= odds <= 5 and 3 <= discovery <= 9, (games, odds, discovery)
        assert exchange.rejected_429 == 0 and rest.retries == 0
        assert rt.meta.lookup_errors == 0
        assert [r.status_code for r in healthy] == [200] * 20


async def test_the_stream_snapshot_carries_todays_games(tmp_path: Path) -> None:
    async with running_app(nba_settings(tmp_path)) as app:
        assert app.runtime.nba is not None
        await app.runtime.nba.refresh()
        async with websockets.connect(app.ws_url + "/ws/stream") as ws:
            snapshot = await recv_type(ws, "snapshot")
        games = snapshot["games"]
        assert len(games) == 3
        assert all(set(g) == GAME_KEYS | {"history"} for g in games)


async def test_no_nba_turns_the_routes_off(tmp_path: Path) -> None:
    async with (
        running_app(nba_settings(tmp_path, nba=False)) as app,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        assert app.runtime.nba is None
        r = await http.get("/api/games")
        assert r.status_code == 200 and r.json()["games"] == [] and r.json()["enabled"] is False
        r = await http.post("/api/games/refresh")
        assert r.status_code == 503
        r = await http.get("/api/games/1")
        assert r.status_code == 404


def _expected_result(m: dict[str, Any], g: dict[str, Any]) -> str:
    home_margin = g["home_score"] - g["away_score"]
    if m["kind"] == "total":
        won = (g["home_score"] + g["away_score"]) * 10 > m["strike_tenths"]
    else:
        margin = home_margin if m["yes_team"] == g["home"] else -home_margin
        won = margin * 10 > (m["strike_tenths"] or 0)
    return "yes" if won else "no"


async def test_a_game_night_played_to_the_end_through_the_app(tmp_path: Path) -> None:
    settings = sim_settings(
        tmp_path, sim_games=2, sim_tipoff_s=0, sim_game_speed=4000.0, sim_rate=20
    )
    async with running_app(settings) as app:
        nba = app.runtime.nba
        assert nba is not None
        summary = await nba.refresh()
        assert summary["games"] == 2 and summary["games_matched"] == 2
        assert summary["unmatched"] == []
        settled: dict[int, bool] = {}
        async with websockets.connect(app.ws_url + "/ws/stream") as ws:
            games = (await recv_type(ws, "snapshot"))["games"]
            async with asyncio.timeout(30):
                while True:
                    for g in games:
                        settled[g["id"]] = g["status"] == "final" and all(
                            m["result"] in ("yes", "no") for m in g["markets"]
                        )
                    if len(settled) == 2 and all(settled.values()):
                        break
                    games = [(await recv_type(ws, "game"))["game"]]
        async with httpx.AsyncClient(base_url=app.url) as http:
            for gid in settled:
                r = await http.get(f"/api/games/{gid}")
                assert r.status_code == 200
                g = r.json()
                sim = app.runtime.source.night.games[gid]
                assert (g["home_score"], g["away_score"]) == (sim.home_score, sim.away_score)
                assert g["status"] == "final" and g["clock"] == "Final"
                assert {m["kind"] for m in g["markets"]} == {"game", "spread", "total"}
                for m in g["markets"]:
                    assert m["result"] == _expected_result(m, g), m
                home_won = g["home_score"] > g["away_score"]
                assert g["fair"]["home_win_ppm"] == (1_000_000 if home_won else 0)
                assert g["unmatched"]["missing_series"] == []
