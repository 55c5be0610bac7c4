"""The pipeline's book store: snapshots, deltas, stale on gaps until repaired."""

from __future__ import annotations

from kalshi.book_store import BookStore
from models import BookDelta, BookSnapshot, FeedGap, GapKind, Side

T = "KXNBAGAME-26JAN07LALSAS-SAS"


def snap(seq: int, yes: tuple[tuple[int, int], ...] = ((4000, 500),),
         no: tuple[tuple[int, int], ...] = ((5800, 300),)) -> BookSnapshot:  # fmt: skip
    return BookSnapshot(T, yes, no, 1, seq, 1_000 + seq, 1_000 + seq)


def delta(seq: int, price: int, change: int, side: Side = Side.YES) -> BookDelta:
    return BookDelta(T, side, price, change, 1, seq, 1_000 + seq, 1_000 + seq)


def gap(kind: GapKind, ticker: str | None) -> FeedGap:
    return FeedGap(kind, "orderbook_delta", 1, 3, 5, ticker, 1_000, 1_005, 1_005)


def test_a_snapshot_then_deltas_make_the_book() -> None:
    store = BookStore()
    assert store.book(T) is None
    store.on_snapshot(snap(1))
    store.on_delta(delta(2, 4000, -200))
    store.on_delta(delta(3, 4100, 100))
    book = store.book(T)
    assert book is not None and not book.stale
    assert book.levels(Side.YES) == [(4100, 100), (4000, 300)]
    assert book.best_yes_ask() == (4200, 300)


def test_a_book_gap_makes_the_book_stale_and_its_deltas_wait_for_the_snapshot() -> None:
    store = BookStore()
    store.on_snapshot(snap(1))
    store.on_gap(gap(GapKind.BOOK, T))
    book = store.book(T)
    assert book is not None and book.stale
    store.on_delta(delta(5, 4000, -500))  # after the hole: meaningless until the snapshot
    assert book.levels(Side.YES) == [(4000, 500)] and store.stats.deltas_skipped == 1
    store.on_snapshot(snap(6, yes=((3900, 50),)))
    assert not book.stale and book.levels(Side.YES) == [(3900, 50)]


def test_a_reconnect_or_a_gap_naming_no_market_makes_every_book_stale() -> None:
    store = BookStore()
    store.on_snapshot(snap(1))
    store.on_gap(gap(GapKind.TRADE, None))
    assert not store.all_books()[T].stale
    store.on_gap(gap(GapKind.RECONNECT, None))
    assert store.all_books()[T].stale


def test_a_delta_that_would_break_the_book_makes_it_stale_and_asks_for_a_snapshot() -> None:
    asked: list[str] = []
    store = BookStore(repair=asked.append)
    store.on_snapshot(snap(1))
    store.on_delta(delta(2, 4000, -600))  # 500 there: it cannot go to -100
    book = store.book(T)
    assert book is not None and book.stale and asked == [T] and store.stats.broken == 1
    assert book.levels(Side.YES) == [(4000, 500)]
