"""The app records its feed with --record and plays it back with --source replay: the replayed
board stores the same trades and builds the same windows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest

from app import Flowboard, create_app
from config import ConfigError, Settings
from models import EventFeeUpdate, FeedState, FeedStatus, SeriesFetched
from stream.decoder import TradeDecoder
from tests.serving import running_app
from tests.test_app_e2e import emit, trades_handled
from websocket_handler import Subscriber


def settings(tmp_path: Path, db: str, **changes: object) -> Settings:
    return Settings(
        source="sim", db_path=str(tmp_path / db), port=0, sim_rate=0, sim_markets=40, nba=False,
        flush_interval_ms=20, trade_batch_ms=20,
    ).with_(**changes)  # fmt: skip


async def test_recorded_feed_replays_to_the_same_board(tmp_path: Path) -> None:
    rec = tmp_path / "night.rec"
    async with running_app(settings(tmp_path, "live.db", record_path=str(rec))) as app:
        await app.runtime.source.sim.wait_clients(1)
        ids: list[str] = []
        for _ in range(3):
            batch = await emit(app, 150)
            handled = trades_handled(app, batch)
            async with asyncio.timeout(10):
                await handled
            ids += batch
        await app.runtime.db.flush()
        tickers = {t.ticker for t in await app.runtime.db.recent_trades(limit=500)}
        agg = app.runtime.aggregator
        live = {t: agg.market(t, "1h") for t in tickers}
    assert len(live) >= 10 and rec.stat().st_size > 0

    replay = settings(tmp_path, "replay.db", source="replay", replay_path=str(rec))
    watchers: list[Subscriber] = []

    def watch(fb: Flowboard) -> None:  # a stream client from before the first replayed event
        watchers.append(fb.hub.subscribe("test", fb.board.snapshot))

    async with running_app(replay, on_ready=watch) as app:
        src = app.runtime.source.replay
        pipeline = app.runtime.pipeline
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_event(event: object) -> None:  # the replay's last event is its STOPPED status
            if isinstance(event, FeedStatus) and event.state is FeedState.STOPPED:
                ended.set_result(None)

        pipeline.listen("test-end", on_event)
        if pipeline.stats.state is not FeedState.STOPPED:
            async with asyncio.timeout(20):
                await ended
        await app.runtime.db.flush()
        stored = await app.runtime.db.recent_trades(limit=1000)
        assert sorted(t.trade_id for t in stored) == sorted(ids)
        agg = app.runtime.aggregator
        for ticker, window in live.items():
            assert agg.market(ticker, "1h") == window
        assert src.read.skipped == 0 and src.stats.bad_frames == 0
        async with httpx.AsyncClient(base_url=app.url) as http:
            status = (await http.get("/api/stats")).json()
            hot = (await http.get("/api/markets/hot", params={"window": "1h", "limit": 100})).json()
        assert status["trades_seen"] == len(ids)
        assert {m["ticker"] for m in hot["markets"]} == set(live)
        # The hub's batches follow the recording's time, as the board's tick does: each
        # `trades` message holds the trades of one batch interval of event time, however fast
        # the replay ran, and between them the client got every trade.
        decoder, got = TradeDecoder(), []
        queue = watchers[0].queue
        while not queue.empty():
            msg = orjson.loads(queue.get_nowait())
            rows = decoder.feed(msg)
            if rows:
                assert len({r["recv_ms"] // replay.trade_batch_ms for r in rows}) == 1
            got += [r["id"] for r in rows]
        assert sorted(got) == sorted(ids)


def test_replay_of_a_file_that_is_not_a_recording_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    with pytest.raises(ConfigError, match="not a Flowboard recording"):
        create_app(settings(tmp_path, "x.db", source="replay", replay_path=str(bad)))
    with pytest.raises(ConfigError, match="cannot read"):
        create_app(settings(tmp_path, "x.db", source="replay", replay_path=str(tmp_path / "no")))
    with pytest.raises(ConfigError, match="not a replay"):
        settings(tmp_path, "x.db", source="replay", replay_path=str(bad), record_path="r.rec")


async def test_fees_and_ticks_are_recorded_and_replay_as_they_were_live(tmp_path: Path) -> None:
    """Series details (fee type and multiplier), an event's fee override and the markets' price
    grids reach the pipeline as events, live and from the recording alike."""
    rec = tmp_path / "fees.rec"
    async with running_app(settings(tmp_path, "live.db", record_path=str(rec))) as app:
        sim, meta, pipeline = app.runtime.source.sim, app.runtime.meta, app.runtime.pipeline
        await sim.wait_clients(1)
        series_seen: set[str] = set()
        overrides: asyncio.Queue[EventFeeUpdate] = asyncio.Queue()
        handled = asyncio.Event()

        def on_event(event: object) -> None:
            handled.set()
            if isinstance(event, SeriesFetched):
                series_seen.update(s.ticker for s in event.series)
            elif isinstance(event, EventFeeUpdate):
                overrides.put_nowait(event)

        pipeline.listen("test-fees", on_event)
        batch = await emit(app, 200)
        async with asyncio.timeout(10):
            await trades_handled(app, batch)
        await app.runtime.db.flush()
        tickers = {t.ticker for t in await app.runtime.db.recent_trades(limit=500)}
        want = {meta.series_of(t) for t in tickers}
        async with asyncio.timeout(10):  # each series is looked up once its first market is
            while not want <= series_seen or any(meta.info(t) is None for t in tickers):
                handled.clear()
                await handled.wait()
        some = sorted(tickers)[0]
        info = meta.info(some)
        assert info is not None and info.price_ranges and info.price_level_structure
        series = meta.series(info.series_ticker)
        assert series is not None and meta.fees(some) == (series.fee_type,
                                                          series.fee_multiplier_ppm)  # fmt: skip
        sim.set_event_fee(info.event_ticker, "quadratic_with_maker_fees", 2_500_000)
        async with asyncio.timeout(10):
            got = await overrides.get()
        assert got.event_ticker == info.event_ticker
        assert meta.fees(some) == ("quadratic_with_maker_fees", 2_500_000)
        live_fees = {t: meta.fees(t) for t in tickers}
        live_info = {t: meta.info(t) for t in tickers}

    replay = settings(tmp_path, "replay.db", source="replay", replay_path=str(rec))
    async with running_app(replay) as app:
        pipeline, meta = app.runtime.pipeline, app.runtime.meta
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_end(event: object) -> None:
            if isinstance(event, FeedStatus) and event.state is FeedState.STOPPED:
                ended.set_result(None)

        pipeline.listen("test-end", on_end)
        if pipeline.stats.state is not FeedState.STOPPED:
            async with asyncio.timeout(20):
                await ended
        bad = [t for t in tickers if meta.fees(t) != live_fees[t]]
        if bad:
            import shutil

            shutil.copy(rec, "/tmp/fail.rec")
            print(
                "BAD",
                bad[0],
                meta.info(bad[0]),
                meta.series(meta.series_of(bad[0])),
                app.runtime.source.replay.read.skipped,
            )
        assert {t: meta.fees(t) for t in tickers} == live_fees
        assert {t: meta.info(t) for t in tickers} == live_info
        assert app.runtime.source.replay.stats.bad_frames == 0
