"""The frame dispatcher on its own: frames in, events and controls out, no I/O."""

from __future__ import annotations

import random
import uuid
from collections import deque
from typing import Any

import orjson

from kalshi import wire
from kalshi.dispatch import BackfillWanted, FrameDispatcher, RecentIds, SnapshotsWanted
from models import BookDelta, BookSnapshot, FeedGap, GapKind, GapRecovered, Side, Trade

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


class CappedIds:
    """What RecentIds was: the id texts in a set and a deque, the oldest dropped past capacity."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.order: deque[str] = deque()
        self.ids: set[str] = set()

    def add(self, item: str) -> bool:
        if item in self.ids:
            return False
        self.ids.add(item)
        self.order.append(item)
        if len(self.order) > self.capacity:
            self.ids.discard(self.order.popleft())
        return True


def test_recent_ids_without_keep_from_are_the_capped_set_they_were() -> None:
    rng = random.Random(3)
    pool = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(300)]
    # not UUIDs, or not canonical ones: the texts themselves are the keys
    pool += [f"trade-{i}" for i in range(100)] + [p.upper() for p in pool[:50]] + ["", "1"]
    for capacity, generation in ((1, 1), (7, 3), (50, 8), (120, 120), (200, 1000)):
        ours, model = RecentIds(capacity, generation=generation), CappedIds(capacity)
        for i in range(5_000):
            item = rng.choice(pool)
            assert ours.add(item, T0 + i) == model.add(item), (capacity, generation)
            probe = rng.choice(pool)
            assert (probe in ours) == (probe in model.ids)
            assert len(ours) == len(model.ids)


def test_recent_ids_forget_the_generations_older_than_keep_from() -> None:
    keep: list[int | None] = [None]
    r = RecentIds(100, generation=2, keep_from=lambda: keep[0])
    assert r.add("a", 10) and r.add("b", 20)  # sealed, newest 20: kept while keep_from is None
    assert r.add("c", 30) and r.add("d", 15)  # sealed, newest 30
    keep[0] = 25
    assert r.add("e", 5) and not r.add("c", 30)  # the open generation is never forgotten
    assert len(r) == 5
    assert r.add("f", 40)  # sealed: (a, b) are older than 25, (c, d) are not
    assert "a" not in r and "b" not in r and all(x in r for x in "cdef")
    assert r.add("a", 10)  # forgotten: a backfill could not have brought it back
    keep[0] = 45
    assert all(x in r for x in "cdefa")  # keep_from is asked only when a generation is sealed
    assert r.add("g", 50)  # sealed (a, g), newest 50: (c, d) and (e, f) are older than 45
    assert {x for x in "abcdefg" if x in r} == {"a", "g"} and len(r) == 2


def test_recent_ids_without_a_time_are_forgotten_only_past_capacity() -> None:
    r = RecentIds(4, generation=1, keep_from=lambda: T0)
    assert r.add("replayed")  # a replayed backfill row: no exchange time given
    assert r.add("old", T0 - 1)  # sealed alone, older than keep_from, but after "replayed"
    assert "replayed" in r and "old" in r
    for i in range(3):
        r.add(f"new{i}", T0 + i)
    # the capacity still bounds them; with "replayed" gone, "old" is no longer held back
    assert {x for x in ("replayed", "old", "new0", "new1", "new2") if x in r} == {
        "new0", "new1", "new2"}  # fmt: skip


def test_the_dispatcher_dedupes_within_what_keep_from_keeps() -> None:
    keep = [T0]
    d = FrameDispatcher(want_books=set(), dedupe_keep_from=lambda: keep[0], dedupe_generation=1)
    take(d, subscribed("trade", 1))
    assert [type(e) for e in take(d, trade(1, "a"))[0]] == [Trade]  # at T0: kept
    assert take(d, trade(2, "a")) == ([], [])
    keep[0] = T0 + 1_000
    row = Trade("b", BOOK, 5600, 200, Side.YES, T0 + 1_000, T0 + 2_000)
    assert d.dedupe([row, row]) == [row]  # sealing b forgets a, at T0, by its exchange time
    assert "a" not in d.seen and "b" in d.seen
