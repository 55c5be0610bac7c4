"""The backtest driver hands the pipeline batches of events between timer boundaries: the world
is the same, at every timer and at the end, as with each event handled alone."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from aggregator import WINDOWS
from analytics import MODES
from ingest.driver import World, book_levels, drive, open_world
from ingest.recording import Recorder
from ingest.replay import RecordPlayer
from models import MarketInfo, Side, Trade

T0 = 1_780_000_000_000
BOOKS = ("KXD-0", "KXD-1")


def _frame(kind: str, sid: int, seq: int | None, msg: dict[str, Any]) -> str:
    frame: dict[str, Any] = {"type": kind, "sid": sid, "msg": msg}
    if seq is not None:
        frame["seq"] = seq
    return orjson.dumps(frame).decode()


def _trade(seq: int, trade_id: str, ticker: str, cents: int, count: int, taker: str,
           ts_ms: int) -> str:  # fmt: skip
    return _frame("trade", 1, seq, {
        "trade_id": trade_id, "market_ticker": ticker, "yes_price_dollars": f"0.{cents:02d}00",
        "no_price_dollars": f"0.{100 - cents:02d}00", "count_fp": f"{count}.00",
        "taker_side": taker, "ts_ms": ts_ms})  # fmt: skip


def _delta(seq: int, ticker: str, delta: str, ts_ms: int) -> str:
    return _frame("orderbook_delta", 3, seq, {
        "market_ticker": ticker, "price_dollars": "0.4000", "delta_fp": delta, "side": "yes",
        "ts_ms": ts_ms})  # fmt: skip


def _snapshot(seq: int, ticker: str) -> str:
    return _frame("orderbook_snapshot", 3, seq, {
        "market_ticker": ticker, "yes_dollars_fp": [["0.4000", "50.00"]],
        "no_dollars_fp": [["0.5800", "30.00"]]})  # fmt: skip


def _determined(ticker: str, ts_ms: int) -> str:
    return _frame("market_lifecycle_v2", 2, None, {
        "market_ticker": ticker, "event_type": "determined", "result": "no",
        "determination_ts": ts_ms // 1000})  # fmt: skip


async def _record(path: Path, seed: int) -> None:
    """Trades (a duplicate, a seq skip), book snapshots and deltas (some breaking a book),
    lifecycle events, REST backfills and market details, over several seconds."""
    rng = random.Random(seed)
    rec = Recorder(str(path), source="sim", started_ms=T0)
    for sid, channel in ((1, "trade"), (2, "market_lifecycle_v2"), (3, "orderbook_delta")):
        msg = {"channel": channel, "sid": sid}
        rec.frame(T0, orjson.dumps({"id": sid, "type": "subscribed", "msg": msg}).decode())
    book_seq = 0
    for ticker in BOOKS:
        book_seq += 1
        rec.frame(T0, _snapshot(book_seq, ticker))
    now, seq = T0, 0
    for i in range(4_000):
        now += rng.choice([0, 0, 0, 1, 3, 20, 120])
        ticker = f"KXD-{rng.randrange(40)}"
        roll = rng.random()
        if roll < 0.15:
            book_seq += 1
            rec.frame(now, _delta(book_seq, rng.choice(BOOKS), rng.choice(["-0.50", "0.70"]), now))
        elif roll < 0.16:
            rec.frame(now, _determined(ticker, now))
        elif roll < 0.165:
            rec.backfill(now, [Trade(f"bf-{i}", ticker, 5_100, 300, Side.NO, now - 9, now)])
        elif roll < 0.167:
            info = MarketInfo(ticker, "KXD", "KXD", f"market {i}", "", "active", None, None)
            rec.markets(now, [info])
        else:
            seq += 2 if rng.random() < 0.002 else 1
            trade_id = f"t-{i - 1}" if rng.random() < 0.01 else f"t-{i}"
            rec.frame(now, _trade(seq, trade_id, ticker, rng.randrange(1, 100),
                                  rng.randrange(1, 5000), rng.choice(["yes", "no"]),
                                  now - rng.randrange(0, 50)))  # fmt: skip
    await rec.close()


def _looks(world: World, ticks: list[tuple[object, ...]]) -> None:
    def look() -> None:
        now = world.clock.now_ms()
        ticks.append((now, world.pipeline.stats.trades, world.aggregator.hot("1m", 10),
                      world.analytics.view("hour", now), book_levels(world.books),
                      list(world.pipeline.recent)[-5:]))  # fmt: skip

    world.timers.every(1_000, "look", look)


def _state(world: World) -> dict[str, object]:
    agg, now = world.aggregator, world.clock.now_ms()
    return {
        "stats": world.pipeline.stats,
        "tape": list(world.pipeline.recent),
        "books": book_levels(world.books),
        "hot": {w: agg.hot(w, 100) for w in WINDOWS},
        "analytics": {mode: world.analytics.view(mode, now) for mode in MODES},
        "clock": now,
        "timers": world.timers.fired,
    }


async def test_batches_leave_the_world_as_events_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "d.rec"
    await _record(path, 3)
    results = []
    for name in ("one", "rows", "records"):
        world = await open_world(tmp_path / f"{name}.db", T0)
        ticks: list[tuple[object, ...]] = []
        _looks(world, ticks)
        player = RecordPlayer(path)
        try:
            if name == "one":
                for rec in player.records():
                    events = player.play(rec)
                    for event in events:
                        world.pipeline.handle(event)
                    events.clear()
            else:  # what the driver reads: plain rows (run_recording's) or Records
                records = player.rows() if name == "rows" else player.records()
                counts: list[int] = []
                while n := drive(world, player, records, limit=777):
                    counts.append(n)
                # each call stops at the end of the record that reaches the limit
                assert all(777 <= n < 790 for n in counts[:-1]) and 0 < counts[-1] <= 790
                assert sum(counts) == world.pipeline.stats.events
            state = _state(world)
        finally:
            await world.close()
        with sqlite3.connect(tmp_path / f"{name}.db") as conn:
            state["stored"] = list(conn.iterdump())
        results.append((state, ticks, player.stats))
    (one, one_ticks, one_feed), *batched = results
    assert [state for state, _, _ in batched] == [one, one]
    assert [ticks for _, ticks, _ in batched] == [one_ticks, one_ticks] and len(one_ticks) >= 5
    assert [feed for _, _, feed in batched] == [one_feed, one_feed] and one_feed.trade_gaps > 0
    assert any("'bf-" in line for line in one["stored"])  # type: ignore[attr-defined]
