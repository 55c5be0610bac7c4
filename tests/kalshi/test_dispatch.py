"""The frame dispatcher on its own: frames in, events and controls out, no I/O."""

from __future__ import annotations

from typing import Any

import orjson

from kalshi import wire
from kalshi.dispatch import BackfillWanted, FrameDispatcher, SnapshotsWanted
from models import BookDelta, BookSnapshot, FeedGap, GapKind, GapRecovered, Trade

T0 = 1_780_000_000_000
BOOK = "KXNBAGAME-26MAY04MINSAS-SAS"


def text(kind: str, sid: int, seq: int | None, msg: dict[str, Any]) -> bytes:
    frame: dict[str, Any] = {"type": kind, "sid": sid, "msg": msg}
    if seq is not None:
        frame["seq"] = seq
    return orjson.dumps(frame)


def subscribed(channel: str, sid: int) -> bytes:
    return orjson.dumps({"type": "subscribed", "id": sid, "msg": {"channel": channel, "sid": sid}})


def trade(seq: int, trade_id: str) -> bytes:
    return text("trade", 1, seq, {
        "trade_id": trade_id, "market_ticker": BOOK, "yes_price_dollars": "0.5600",
        "no_price_dollars": "0.4400", "count_fp": "2.00", "taker_side": "yes",
        "ts": T0 // 1000})  # fmt: skip


def snapshot(seq: int) -> bytes:
    return text("orderbook_snapshot", 2, seq, {
        "market_ticker": BOOK, "yes_dollars_fp": [["0.4200", "45.00"]],
        "no_dollars_fp": [["0.5000", "10.00"]]})  # fmt: skip


def delta(seq: int) -> bytes:
    return text("orderbook_delta", 2, seq, {
        "market_ticker": BOOK, "price_dollars": "0.4200", "delta_fp": "-5.00",
        "side": "yes"})  # fmt: skip


def take(d: FrameDispatcher, raw: bytes, at: int = T0) -> tuple[list[Any], list[Any]]:
    d.dispatch(raw, at)
    out = (list(d.events), list(d.controls))
    d.events.clear()
    d.controls.clear()
    return out


def test_trades_are_deduped_and_a_seq_skip_asks_for_a_backfill() -> None:
    d = FrameDispatcher(want_books=set())
    events, controls = take(d, subscribed("trade", 1))
    assert events == [] and isinstance(controls[0], wire.Subscribed)
    assert [type(e) for e in take(d, trade(1, "a"))[0]] == [Trade]
    assert take(d, trade(2, "a")) == ([], [])  # the same id again: delivered once
    events, controls = take(d, trade(4, "b"), T0 + 50)  # seq 3 lost
    gap, t = events
    assert isinstance(gap, FeedGap) and gap.kind is GapKind.TRADE
    assert (gap.expected_seq, gap.got_seq, gap.from_ms) == (3, 4, T0)  # from the watermark
    assert isinstance(t, Trade) and t.trade_id == "b"
    assert controls == [BackfillWanted(T0, gap)]
    assert d.stats.trades == 2 and d.stats.trade_gaps == 1 and d.stats.frames == 4


def test_a_book_gap_drops_deltas_until_the_snapshot_that_recovers_it() -> None:
    d = FrameDispatcher(want_books={BOOK})
    d.reset_connection(T0)  # a new connection: the book waits for its first snapshot
    take(d, subscribed("orderbook_delta", 2))
    assert take(d, delta(1)) == ([], [])  # before its snapshot
    events, _ = take(d, snapshot(2))
    assert [type(e) for e in events] == [BookSnapshot]  # a first snapshot repairs no gap
    assert [type(e) for e in take(d, delta(3))[0]] == [BookDelta]
    events, controls = take(d, delta(5), T0 + 10)  # seq 4 lost
    assert [type(e) for e in events] == [FeedGap]  # and the delta is dropped
    assert controls == [SnapshotsWanted((BOOK,), T0 + 10)]
    events, _ = take(d, snapshot(6), T0 + 20)
    assert [type(e) for e in events] == [BookSnapshot, GapRecovered]
    assert d.stats.book_gaps == 1 and d.stats.gaps_recovered == 1


def test_without_a_followed_set_every_book_is_taken_and_bad_frames_are_counted() -> None:
    d = FrameDispatcher(want_books=None)  # a replay
    take(d, subscribed("orderbook_delta", 2))
    assert [type(e) for e in take(d, snapshot(1))[0]] == [BookSnapshot]
    events, controls = take(d, delta(3))  # seq 2 lost: the books seen so far are stale
    assert [type(e) for e in events] == [FeedGap] and controls == [SnapshotsWanted((BOOK,), T0)]
    assert take(d, b'{"type": "trade"') == ([], [])
    assert d.stats.bad_frames == 1
