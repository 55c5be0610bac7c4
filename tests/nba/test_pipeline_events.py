"""The NBA side's polls reach the pipeline's queue as events, through the real app on the
simulator; a full queue drops and counts instead of waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from clock import ManualClock
from database import Database
from models import Event, GameState, GameStatus, OddsQuote
from nba.client import NbaClient
from nba.service import NbaService
from nba.store import NbaStore
from sim.balldontlie import SimBalldontlie
from sim.nba_games import NightSim
from tests.nba.test_service import DATE, KEY, T0, Recorder, once
from tests.serving import running_app
from tests.test_app_e2e import sim_settings


async def test_game_states_reach_the_pipeline_queue_while_the_night_runs(tmp_path: Path) -> None:
    settings = sim_settings(
        tmp_path, sim_games=2, sim_tipoff_s=0, sim_game_speed=4000.0, sim_rate=20
    )
    async with running_app(settings) as app:
        rt = app.runtime
        nba = rt.nba
        assert nba is not None
        seen: asyncio.Queue[GameState | OddsQuote] = asyncio.Queue()

        def record(event: Event) -> None:
            assert isinstance(event, GameState | OddsQuote)
            seen.put_nowait(event)
            # listeners come in order: the state has applied the event the recorder gets
            if isinstance(event, GameState):
                assert nba.state.games[event.game_id] == event

        rt.pipeline.listen("test-nba", record, kinds=(GameState, OddsQuote))
        finals: set[int] = set()
        statuses: set[GameStatus] = set()
        quotes = 0
        async with asyncio.timeout(30):
            while len(finals) < 2:
                event = await seen.get()
                if isinstance(event, OddsQuote):
                    quotes += 1
                    continue
                statuses.add(event.status)
                if event.status is GameStatus.FINAL:
                    finals.add(event.game_id)
        assert GameStatus.LIVE in statuses and quotes > 0
        assert nba.events_dropped == 0
        for gid in finals:
            view = nba.view(gid, history=False)
            assert view is not None and view["status"] == "final"
        await nba.store.flush()
        for gid in finals:
            stored = await nba.store.game(gid)
            assert stored is not None and stored.status is GameStatus.FINAL


async def test_a_full_queue_drops_and_counts_the_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    server = SimBalldontlie(KEY, 1, clock, games=NightSim(1, DATE, T0 + 60_000, 3))
    await server.start()
    client = NbaClient(server.url, KEY, clock, retry=once())
    db = await Database.open(tmp_path / "nba.db", clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    queue: asyncio.Queue[Event] = asyncio.Queue(2)
    kw: dict[str, Any] = {"hub": Recorder()}
    try:
        service = NbaService(client=client, store=store, clock=clock, emit=queue.put_nowait,
                             dates=lambda: [DATE], **kw)  # fmt: skip
        changed = await service.poll()  # three games and their odds: more than the queue holds
        assert changed > 2
        assert queue.qsize() == 2 and service.events_dropped == changed - 2
        assert "event queue full" in caplog.text
        assert service.state.games == {}  # nothing applied: the pipeline never handled them
    finally:
        await client.aclose()
        await db.close()
        await server.stop()
