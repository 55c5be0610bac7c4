from __future__ import annotations

import pytest

from kalshi.orderbook import BookError, OrderBook, SeqTracker
from models import BookDelta, BookSnapshot, Side


def snap(yes: list[tuple[int, int]], no: list[tuple[int, int]], seq: int = 1) -> BookSnapshot:
    return BookSnapshot("T", tuple(yes), tuple(no), 1, seq, 1_000, 1_001)


def delta(side: Side, price: int, qty: int, seq: int) -> BookDelta:
    return BookDelta("T", side, price, qty, 1, seq, 2_000, 2_001)


def test_snapshot_then_deltas_best_prices() -> None:
    book = OrderBook("T")
    assert book.stale
    book.apply_snapshot(snap([(4700, 300), (4500, 1000)], [(5200, 100), (5000, 50)]))
    assert not book.stale
    assert book.best_yes_bid() == (4700, 300)
    assert book.best_no_bid() == (5200, 100)
    # a NO bid at 0.52 is a YES ask at 0.48
    assert book.best_yes_ask() == (4800, 100)
    assert book.best_no_ask() == (5300, 300)
    assert book.spread() == 100
    book.apply_delta(delta(Side.NO, 5200, -100, 2))
    assert book.best_yes_ask() == (5000, 50)
    book.apply_delta(delta(Side.YES, 4900, 25, 3))
    assert book.levels(Side.YES) == [(4900, 25), (4700, 300), (4500, 1000)]
    assert book.last_seq == 3
    assert book.as_maps() == ({4900: 25, 4700: 300, 4500: 1000}, {5000: 50})


def test_negative_level_is_rejected_and_book_unchanged() -> None:
    book = OrderBook("T")
    book.apply_snapshot(snap([(4700, 300)], []))
    with pytest.raises(BookError):
        book.apply_delta(delta(Side.YES, 4700, -301, 2))
    with pytest.raises(BookError):
        book.apply_delta(delta(Side.NO, 3000, -1, 2))
    assert book.as_maps() == ({4700: 300}, {})


def test_empty_sides() -> None:
    book = OrderBook("T")
    book.apply_snapshot(snap([], []))
    assert book.best_yes_bid() is None and book.best_yes_ask() is None and book.spread() is None


def test_snapshot_replaces_everything() -> None:
    book = OrderBook("T")
    book.apply_snapshot(snap([(100, 1)], [(200, 2)]))
    book.mark_stale()
    book.apply_snapshot(snap([(300, 3)], [], seq=9))
    assert book.as_maps() == ({300: 3}, {}) and not book.stale and book.last_seq == 9


def test_seq_tracker() -> None:
    s = SeqTracker()
    assert s.check(1, 5).ok  # first seq on a sid starts the count
    assert s.check(1, 6).ok
    assert s.check(2, 1).ok
    bad = s.check(1, 8)
    assert not bad.ok and bad.expected == 7 and bad.got == 8
    assert s.check(1, 9).ok
    dup = s.check(1, 9)
    assert not dup.ok and dup.expected == 10
    s.reset(1)
    assert s.check(1, 1).ok and s.last(1) == 1 and s.last(2) == 1
