"""Recording the feed from the simulator and playing it back through the same parser."""

from __future__ import annotations

import asyncio
import gzip
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from clock import ManualClock
from ingest import recording
from ingest.driver import World, run_recording
from ingest.recording import (
    ReadStats,
    Recorder,
    RecordingError,
    read_recording,
    trade_fields,
)
from ingest.replay import RecordPlayer, ReplaySource
from ingest.sources import Source
from models import (
    Event,
    FeedStatus,
    GameState,
    MarketInfo,
    MarketsFetched,
    MatchedMarket,
    NbaMarketsMatched,
    Side,
    Trade,
)
from tests.kalshi.test_client_vs_sim import key, running, sim  # noqa: F401 - fixtures

T0 = 1_780_000_000_000


async def replay_all(path: Path, speed: str = "max") -> tuple[ReplaySource, list[Event]]:
    out: asyncio.Queue[Event] = asyncio.Queue()
    clock = ManualClock(0)
    src = ReplaySource(str(path), out=out, clock=clock, speed=speed)
    async with asyncio.timeout(10):
        await src.run()
    events = []
    while not out.empty():
        events.append(out.get_nowait())
    return src, events


async def test_record_then_replay_delivers_the_same_trades(
    sim: Any,
    key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    path = tmp_path / "feed.rec"
    rec = Recorder(str(path), source="sim", started_ms=T0, flush_ms=10)
    async with running(sim, key, recorder=rec) as run:
        target = set(await sim.emit_trades(150))
        await run.until(lambda: set(run.trades) >= target)
        sim.faults.drop_connections()
        target |= set(await sim.emit_trades(120))  # while the feed is away: backfilled
        await run.until(lambda: run.feed.stats.reconnects >= 1)
        async with asyncio.timeout(10):
            await sim.wait_clients(1)
        target |= set(await sim.emit_trades(80))
        await run.until(lambda: set(run.trades) >= target, limit_s=20)
        async with asyncio.timeout(10):
            await run.feed.backfill_idle()
        run_trades = [t for t in run.events if isinstance(t, Trade)]
    await rec.close()
    assert run.feed.stats.trades_recovered >= 120

    kinds = {r.kind for r in read_recording(path)}
    assert kinds == {"ws", "backfill"}
    src, events = await replay_all(path)
    replayed = [e for e in events if isinstance(e, Trade)]
    assert [t.trade_id for t in replayed] == [t.trade_id for t in run_trades]
    live = {t.trade_id: t for t in run_trades}
    for t in replayed:  # same fields, same receipt times
        assert t == live[t.trade_id]
    assert src.stats.trades == len(run_trades) == 350
    assert src.read.skipped == 0
    assert isinstance(events[0], FeedStatus) and isinstance(events[-1], FeedStatus)


def write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


def frame(seq: int, trade_id: str, recv_ms: int) -> bytes:
    msg = {"type": "trade", "sid": 1, "seq": seq, "msg": {
        "trade_id": trade_id, "market_ticker": "KXNBAGAME-26MAY04MINSAS-SAS",
        "yes_price_dollars": "0.8600", "no_price_dollars": "0.1400", "count_fp": "1.32",
        "taker_side": "yes", "ts": recv_ms // 1000}}  # fmt: skip
    return orjson.dumps([recv_ms, "ws", orjson.dumps(msg).decode()])


async def test_damaged_lines_are_counted_and_the_rest_replays(tmp_path: Path) -> None:
    path = tmp_path / "bad.rec"
    good_backfill = trade_fields(Trade("bf-1", "KXA-1", 4_200, 300, Side.NO, T0 + 5, T0 + 9))
    write(path, [
        orjson.dumps({"flowboard_recording": 1, "source": "live", "started_ms": T0}),
        orjson.dumps([T0 + 900, "ws", orjson.dumps(
            {"type": "subscribed", "id": 1, "msg": {"channel": "trade", "sid": 1}}).decode()]),
        frame(1, "t-1", T0 + 1_000),
        b'[12, "ws", "{not json',  # cut off
        b'{"an": "object"}',  # wrong shape
        frame(2, "t-2", T0 + 2_000),
        frame(3, "t-3", T0 + 1_500),  # time goes back
        orjson.dumps([T0 + 2_100, "ws", '{"type": "trade", "msg": {"trade_id": 5}}']),  # bad frame
        orjson.dumps([T0 + 2_200, "backfill", {**good_backfill, "yes_price": 42.0}]),  # float
        orjson.dumps([T0 + 2_300, "backfill", good_backfill]),
        frame(5, "t-2", T0 + 2_400),  # a duplicate id, after a seq skip
    ])  # fmt: skip
    src, events = await replay_all(path)
    trades = [e for e in events if isinstance(e, Trade)]
    assert [t.trade_id for t in trades] == ["t-1", "t-2", "bf-1"]
    assert trades[0].yes_price == 8_600 and trades[0].count == 132
    assert trades[0].taker_side is Side.YES and trades[0].recv_ms == T0 + 1_000
    assert trades[2].recv_ms == T0 + 2_300 and trades[2].ts_ms == T0 + 5
    assert src.read.skipped == 3
    assert src.stats.bad_frames == 2
    assert src.stats.trade_gaps == 1


def test_a_file_that_is_not_a_recording_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.rec"
    path.write_text("hello\n")
    with pytest.raises(RecordingError, match="not a Flowboard recording"):
        list(read_recording(path))
    path.write_bytes(orjson.dumps({"flowboard_recording": 9}) + b"\n")
    with pytest.raises(RecordingError, match="format 9"):
        list(read_recording(path))


async def test_replay_at_a_speed_moves_the_clock_with_the_recording(tmp_path: Path) -> None:
    path = tmp_path / "s.rec"
    write(path, [
        orjson.dumps({"flowboard_recording": 1, "source": "live", "started_ms": T0}),
        frame(1, "a", T0 + 1_000),
        frame(2, "b", T0 + 1_040),
    ])  # fmt: skip
    src, events = await replay_all(path, speed="1")
    assert [e.trade_id for e in events if isinstance(e, Trade)] == ["a", "b"]
    assert src._clock.now_ms() == 0  # the reader leaves the clock to the consumer
    assert events[-1].recv_ms == T0 + 1_040  # its last status is on the recording's time


MARKET = MarketInfo("KXNBAGAME-26MAY04MINSAS-SAS", "KXNBAGAME-26MAY04MINSAS", "KXNBAGAME",
                    "Minnesota at San Antonio Winner?", "", "active", T0, T0 + 9_000_000,
                    None, None, "San Antonio", "Minnesota")  # fmt: skip


async def test_market_lookups_are_recorded_and_replayed_as_events(tmp_path: Path) -> None:
    path = tmp_path / "m.rec"
    rec = Recorder(str(path), source="sim", started_ms=T0)
    fetched: list[list[str]] = []

    class Rest:
        async def markets(self, *, tickers: list[str], limit: int) -> list[MarketInfo]:
            fetched.append(tickers)
            return [MARKET]

    source = Source(name="sim", rest=Rest(), record_markets=lambda ms: rec.markets(T0 + 7, ms))  # type: ignore[arg-type]
    fetch = source.fetch_markets
    assert fetch is not None
    assert await fetch([MARKET.ticker]) == [MARKET]
    rec.frame(T0 + 20, orjson.loads(frame(1, "t-1", T0 + 20))[2])
    await rec.close()
    assert fetched == [[MARKET.ticker]]

    player = RecordPlayer(path)
    events: list[Event] = []
    for r in player.records():
        out = player.play(r)
        events += out
        out.clear()
    assert events[0] == MarketsFetched((MARKET,), T0 + 7, T0 + 7)
    assert isinstance(events[1], Trade)

    summary_titles: dict[str, str] = {}

    def setup(world: World) -> None:
        world.pipeline.listen("titles", lambda e: summary_titles.update(
            {e.ticker: world.meta.title(e.ticker)} if isinstance(e, Trade) else {}))  # fmt: skip

    await run_recording(path, tmp_path / "m.db", setup=setup)
    assert summary_titles == {MARKET.ticker: MARKET.title}  # named as live, with no REST


def test_a_bad_markets_record_is_counted_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bm.rec"
    write(path, [
        orjson.dumps({"flowboard_recording": 1, "source": "live", "started_ms": T0}),
        orjson.dumps([T0 + 1, "markets", [{"ticker": "KXA-1"}]]),  # lacks fields
        orjson.dumps([T0 + 2, "markets", {"ticker": "KXA-1"}]),  # not a list: a damaged line
    ])  # fmt: skip
    player = RecordPlayer(path)
    for r in player.records():
        assert player.play(r) == []
    assert player.stats.bad_frames == 1 and player.read.skipped == 1


def games_body(home_score: int, status: str = "3rd Qtr") -> bytes:
    row = {"id": 7, "date": "2026-06-13", "status": status, "period": 3, "time": "5:00",
           "home_team": {"abbreviation": "SAS"}, "visitor_team": {"abbreviation": "NYK"},
           "home_team_score": home_score, "visitor_team_score": 70}  # fmt: skip
    return orjson.dumps({"data": [row], "meta": {}})


async def test_nba_responses_and_matches_are_recorded_and_replayed_as_events(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nba.rec"
    rec = Recorder(str(path), source="sim", started_ms=T0)
    matched = NbaMarketsMatched(
        (
            MatchedMarket(
                "KXNBATOTAL-26JUN13NYKSAS-217",
                "KXNBATOTAL-26JUN13NYKSAS",
                7,
                "total",
                "2026-06-13",
                "NYK",
                "SAS",
                None,
                2175,
                "active",
                None,
            ),
        ),
        T0 + 2,
        T0 + 2,
    )
    rec.nba(T0 + 1, "/v1/games?dates[]=2026-06-13", games_body(80))
    rec.nba_matches(matched)
    rec.nba(T0 + 3, "/v1/games?dates[]=2026-06-13", games_body(80))  # unchanged: no event
    rec.nba(T0 + 4, "/v1/games?dates[]=2026-06-13", b"{not json")  # damaged: counted
    rec.nba(T0 + 5, "/nba/v1/games?dates[]=2026-06-13", games_body(82))
    await rec.close()
    assert [r.kind for r in read_recording(path)] == ["nba", "nba_matches", "nba", "nba", "nba"]

    src, events = await replay_all(path)
    nba = [e for e in events if not isinstance(e, FeedStatus)]
    assert [type(e).__name__ for e in nba] == ["GameState", "NbaMarketsMatched", "GameState"]
    first, again, later = nba
    assert isinstance(first, GameState) and isinstance(later, GameState)
    assert (first.home_score, first.recv_ms, later.home_score, later.recv_ms) == (
        80, T0 + 1, 82, T0 + 5)  # fmt: skip
    assert again == matched
    assert src.stats.bad_frames == 1 and src.read.skipped == 0


async def test_a_write_queued_when_the_recorders_task_is_cancelled_still_lands(
    tmp_path: Path,
) -> None:
    """Shutdown cancels the recorder's task; a write it had handed to the thread pool but no
    thread had started yet must still reach the file, before the final flush's lines."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(1)
    loop.set_default_executor(pool)
    gate = threading.Event()
    busy = loop.run_in_executor(pool, gate.wait)  # the one worker is taken: writes queue
    path = tmp_path / "c.rec"
    rec = Recorder(str(path), source="sim", started_ms=T0)
    rec.frame(T0 + 1, orjson.loads(frame(1, "first", T0 + 1))[2])
    flushing = asyncio.create_task(rec.flush())
    await asyncio.sleep(0)  # the write is queued behind the busy worker
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    rec.frame(T0 + 2, orjson.loads(frame(2, "second", T0 + 2))[2])
    gate.set()
    await busy
    await rec.close()
    ids = [orjson.loads(r.body)["msg"]["trade_id"] for r in read_recording(path)]
    assert ids == ["first", "second"]


def trade_text(seq: int, trade_id: str, recv_ms: int) -> str:
    text: str = orjson.loads(frame(seq, trade_id, recv_ms))[2]
    return text


async def test_frames_are_written_as_frame_lines_and_read_back_as_received(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v2.rec"
    rec = Recorder(str(path), source="sim", started_ms=T0)
    spaced = '{"type": "trade",\n "sid": 1}'  # a line break inside: kept as a JSON array
    backfilled = Trade("bf-1", "KXA-1", 4_200, 300, Side.NO, T0 + 5, T0 + 9)
    rec.frame(T0 + 1, trade_text(1, "a", T0 + 1))
    rec.frame(T0 + 2, trade_text(2, "b", T0 + 2).encode())  # bytes, as a reader may hand them
    rec.frame(T0 + 3, spaced)
    rec.frame(T0 + 3, "{}\r")
    rec.backfill(T0 + 9, [backfilled])
    await rec.close()

    lines = path.read_bytes().split(b"\n")
    assert orjson.loads(lines[0])["flowboard_recording"] == 2
    assert lines[1] == b"%d ws %s" % (T0 + 1, trade_text(1, "a", T0 + 1).encode())
    assert lines[2].startswith(b"%d ws {" % (T0 + 2))
    assert orjson.loads(lines[3]) == [T0 + 3, "ws", spaced]
    assert orjson.loads(lines[4]) == [T0 + 3, "ws", "{}\r"]
    assert len(lines) == 7 and lines[-1] == b""
    records = [(r.line, r.recv_ms, r.kind, r.body) for r in read_recording(path)]
    assert records == [
        (2, T0 + 1, "ws", trade_text(1, "a", T0 + 1)),
        (3, T0 + 2, "ws", trade_text(2, "b", T0 + 2)),
        (4, T0 + 3, "ws", spaced),
        (5, T0 + 3, "ws", "{}\r"),
        (6, T0 + 9, "backfill", trade_fields(backfilled)),
    ]


def test_a_version_1_recording_reads_as_the_same_records(tmp_path: Path) -> None:
    texts = [(T0 + i, trade_text(i, f"t-{i}", T0 + i)) for i in range(1, 4)]
    old, new = tmp_path / "v1.rec", tmp_path / "v2.rec"
    write(old, [orjson.dumps({"flowboard_recording": 1, "source": "live", "started_ms": T0}),
                *(orjson.dumps([ms, "ws", text]) for ms, text in texts)])  # fmt: skip
    write(new, [orjson.dumps({"flowboard_recording": 2, "source": "live", "started_ms": T0}),
                *(b"%d ws %s" % (ms, text.encode()) for ms, text in texts)])  # fmt: skip
    assert list(read_recording(old)) == list(read_recording(new))
    assert [r.body for r in read_recording(old)] == [text for _, text in texts]


def test_a_gzipped_recording_reads_as_the_plain_one(tmp_path: Path) -> None:
    texts = [(T0 + i, trade_text(i, f"t-{i}", T0 + i)) for i in range(1, 4)]
    plain, packed = tmp_path / "night.rec", tmp_path / "night.rec.gz"
    write(plain, [orjson.dumps({"flowboard_recording": 2, "source": "sim", "started_ms": T0}),
                  *(b"%d ws %s" % (ms, text.encode()) for ms, text in texts)])  # fmt: skip
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    named_plainly = tmp_path / "night-packed.rec"  # the gzip magic decides, not the name
    named_plainly.write_bytes(packed.read_bytes())
    assert recording.read_header(packed) == recording.read_header(plain)
    assert list(read_recording(packed)) == list(read_recording(plain))
    assert list(read_recording(named_plainly)) == list(read_recording(plain))
    assert [r.body for r in read_recording(packed)] == [text for _, text in texts]


async def test_a_version_1_recording_appended_to_stays_version_1(tmp_path: Path) -> None:
    path = tmp_path / "v1.rec"
    write(path, [orjson.dumps({"flowboard_recording": 1, "source": "live", "started_ms": T0}),
                 frame(1, "t-1", T0 + 1)])  # fmt: skip
    rec = Recorder(str(path), source="live", started_ms=T0 + 10)
    rec.frame(T0 + 20, trade_text(2, "t-2", T0 + 20))
    await rec.close()
    assert path.read_bytes().splitlines()[-1] == frame(2, "t-2", T0 + 20)
    stats = ReadStats()
    assert [r.recv_ms for r in read_recording(path, stats)] == [T0 + 1, T0 + 20]
    assert stats.skipped == 0


async def test_damaged_frame_lines_are_counted_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bad2.rec"

    def line(ms: int, seq: int, trade_id: str) -> bytes:
        return b"%d ws %s" % (ms, trade_text(seq, trade_id, ms).encode())

    write(path, [
        orjson.dumps({"flowboard_recording": 2, "source": "live", "started_ms": T0}),
        b"%d ws %s" % (T0, orjson.dumps(
            {"type": "subscribed", "id": 1, "msg": {"channel": "trade", "sid": 1}})),
        line(T0 + 1_000, 1, "t-1"),
        b"12x3 ws {}",  # not a time
        b"%d wx {}" % (T0 + 1_100),  # not a frame line
        b"%d ws" % (T0 + 1_200),  # no frame
        b"%d ws \xff\xfe" % (T0 + 1_300),  # not UTF-8
        b"   ",  # blank: not a record, not damage
        line(T0 + 2_000, 2, "t-2"),
        line(T0 + 1_500, 3, "t-3"),  # time goes back
        b'%d ws {"type": "trade", "msg": {"trade_id": 5}}' % (T0 + 2_100),  # a bad frame
        line(T0 + 2_400, 4, "t-4"),
    ])  # fmt: skip
    src, events = await replay_all(path)
    assert [e.trade_id for e in events if isinstance(e, Trade)] == ["t-1", "t-2", "t-4"]
    assert src.read.skipped == 5 and src.read.records == 5
    assert src.stats.bad_frames == 1 and src.stats.trade_gaps == 1  # seq 3 was a skipped line
    skipped = sorted(int(r.getMessage().split(" line ")[1].split()[0])
                     for r in caplog.records if " skipped: " in r.getMessage())  # fmt: skip
    assert skipped == [4, 5, 6, 7, 10]


def test_reading_a_chunk_at_a_time_splits_no_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "chunks.rec"
    write(path, [
        orjson.dumps({"flowboard_recording": 2, "source": "live", "started_ms": T0}),
        *(b"%d ws %s" % (T0 + i, trade_text(i, f"t-{i}", T0 + i).encode()) for i in range(40)),
        b"%d ws \xff" % (T0 + 40),  # not UTF-8: that chunk goes line by line
        *(orjson.dumps([T0 + 41 + i, "ws", trade_text(i, f"u-{i}", T0 + 41)]) for i in range(9)),
        b"%d ws {}" % (T0 + 50),  # the last line, with no line end
    ])  # fmt: skip
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    whole_stats, chunked_stats = ReadStats(), ReadStats()
    whole = list(read_recording(path, whole_stats))
    monkeypatch.setattr(recording, "READ_CHUNK", 97)  # shorter than a line: lines span chunks
    assert list(read_recording(path, chunked_stats)) == whole
    assert whole_stats == chunked_stats == ReadStats(records=50, skipped=1)
    assert whole[-1] == (52, T0 + 50, "ws", "{}")
