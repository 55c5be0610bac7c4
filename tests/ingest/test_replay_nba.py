"""The NBA side replays as it was: a recorded night (balldontlie's responses and what discovery
matched, with the Kalshi feed) replays through the driver to the same games, scores, consensus
and fair values each time, equal to the live run's, and the app's replay serves that night."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from ingest.driver import World, run_recording
from ingest.recording import read_recording
from models import Event, FeedState, FeedStatus, GameStatus
from nba.state import KINDS, NbaState
from tests.serving import running_app
from tests.test_app_e2e import sim_settings

RESULTS = ("yes", "no")


def nba_view(state: NbaState) -> dict[str, Any]:
    """What the page and /api/games show of the night, from the state."""
    return {
        "games": dict(sorted(state.games.items())),
        "quotes": dict(sorted(state.quotes.items())),
        "consensus": {gid: dict(sorted(c.items())) for gid, c in sorted(state.consensus.items())},
        "fair": {
            gid: (state.home_win_ppm(gid), state.consensus_home_ppm(gid), state.fair_values(gid))
            for gid in sorted(state.games)
        },
        "markets": dict(sorted(state.markets.items())),
        "market_state": dict(sorted(state.market_state.items())),
    }


def settled(state: NbaState) -> bool:
    """Every game final and every matched market of it settled yes or no."""
    games = state.games.values()
    return (
        len(state.games) == 2
        and all(g.status is GameStatus.FINAL for g in games)
        and set(state.markets) == set(state.games)
        and all(state.status_of(m.ticker).result in RESULTS for ms in state.markets.values()
                for m in ms)
    )  # fmt: skip


async def record_night(rec: Path, tmp_path: Path) -> tuple[NbaState, Any]:
    """A simulated night of two games played to the end, with --record; the live state."""
    settings = sim_settings(
        tmp_path, sim_games=2, sim_tipoff_s=1, sim_game_stagger_s=0, sim_game_speed=4000.0,
        sim_rate=20, record_path=str(rec),
    )  # fmt: skip
    async with running_app(settings) as app:
        nba = app.runtime.nba
        assert nba is not None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def check(event: Event) -> None:
            if not done.done() and settled(nba.state):
                done.set_result(None)

        app.runtime.pipeline.listen("test-settled", check)
        async with asyncio.timeout(30):
            await done
        night = app.runtime.source.night
    return nba.state, night  # as of the app's close: what it had queued is handled too


async def replay(rec: Path, db: Path) -> tuple[dict[str, Any], World]:
    states: list[NbaState] = []
    worlds: list[World] = []

    def setup(world: World) -> None:
        state = NbaState()
        world.pipeline.listen("nba-state", state.on_event, kinds=KINDS)
        states.append(state)
        worlds.append(world)

    summary = await run_recording(rec, db, setup=setup, flush_every=700)
    assert summary.skipped_lines == 0 and summary.bad_frames == 0
    assert worlds[0].pipeline.stats.listener_errors == 0
    return nba_view(states[0]), worlds[0]


async def test_a_recorded_nba_night_replays_the_same_and_as_live(tmp_path: Path) -> None:
    rec = tmp_path / "night.rec"
    live, night = await record_night(rec, tmp_path)
    kinds = {r.kind for r in read_recording(rec)}
    assert {"ws", "nba", "nba_matches"} <= kinds

    first, world = await replay(rec, tmp_path / "a.db")
    second, _ = await replay(rec, tmp_path / "b.db")
    # the markets discovery described were recorded as inputs: a replay names them
    nba_markets = [m for ms in first["markets"].values() for m in ms]
    assert nba_markets and all(world.meta.info(m.ticker) is not None for m in nba_markets)
    assert first == second
    assert first == nba_view(live)
    games = first["games"]
    assert len(games) == 2
    for gid, g in games.items():
        sim = night.games[gid]
        assert g.status is GameStatus.FINAL
        assert (g.home_score, g.away_score) == (sim.home_score, sim.away_score)
        home_won = g.home_score > g.away_score
        assert first["fair"][gid][0] == (1_000_000 if home_won else 0)
        assert first["consensus"][gid]  # the books' lines came through too
        assert {m.kind for m in first["markets"][gid]} == {"game", "spread", "total"}

    # the app's replay: no balldontlie, the night from the recording on /api/games
    replay_settings = sim_settings(tmp_path, db_path=str(tmp_path / "replay.db"),
                                   source="replay", replay_path=str(rec))  # fmt: skip
    async with running_app(replay_settings) as app:
        nba, pipeline = app.runtime.nba, app.runtime.pipeline
        assert nba is not None
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_end(event: Event) -> None:
            if isinstance(event, FeedStatus) and event.state is FeedState.STOPPED:
                ended.set_result(None)

        pipeline.listen("test-end", on_end, kinds=(FeedStatus,))
        if pipeline.stats.state is not FeedState.STOPPED:
            async with asyncio.timeout(20):
                await ended
        assert nba_view(nba.state) == first
        assert nba.poller.last_ok_ms == {"scores": None, "odds": None}  # nothing was polled
        date = next(iter(games.values())).date
        async with httpx.AsyncClient(base_url=app.url) as http:
            r = await http.get("/api/games", params={"date": date})
        assert r.status_code == 200
        shown = {g["id"]: g for g in r.json()["games"]}
        assert set(shown) == set(games)
        for gid, g in games.items():
            assert shown[gid]["status"] == "final"
            assert (shown[gid]["home_score"], shown[gid]["away_score"]) == (
                g.home_score, g.away_score)  # fmt: skip
            assert all(m["result"] in RESULTS for m in shown[gid]["markets"])
