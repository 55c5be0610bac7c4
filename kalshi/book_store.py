"""The order books of the followed markets, as of the last event the pipeline handled.

The pipeline feeds every book event to one ``BookStore`` in queue order, so whoever reads a book
while handling an event sees it exactly as of that event: never ahead of it. A snapshot makes a
book whole; a delta moves one level; a book gap (or a reconnect) makes books stale until their
next snapshot, and deltas on a stale book are ignored (the snapshot supersedes them). A delta
that would break the book marks it stale too and asks for a snapshot through ``repair``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kalshi.orderbook import BookError, OrderBook
from models import (
    BookDelta,
    BookSnapshot,
    BookUnfollowed,
    Event,
    FeedGap,
    FeedState,
    FeedStatus,
    GapKind,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BookStats:
    snapshots: int = 0
    deltas: int = 0
    deltas_skipped: int = 0  # on a stale book, superseded by the snapshot to come
    broken: int = 0  # deltas that would have broken a book: stale until repaired
    stale_marks: int = 0


class BookStore:
    def __init__(self, repair: Callable[[str], None] | None = None) -> None:
        self._books: dict[str, OrderBook] = {}
        self._repair = repair
        self.stats = BookStats()

    def book(self, ticker: str) -> OrderBook | None:
        return self._books.get(ticker)

    def all_books(self) -> Mapping[str, OrderBook]:
        """Every book seen, by ticker (read them; the store alone changes them)."""
        return self._books

    def forget(self, event: BookUnfollowed) -> None:
        self._books.pop(event.ticker, None)

    def apply(self, event: Event) -> None:
        """Any event, for consumers that hold a store of their own (the pipeline calls the
        handlers below directly, on its own dispatch)."""
        if type(event) is BookDelta:
            self.on_delta(event)
        elif type(event) is BookSnapshot:
            self.on_snapshot(event)
        elif isinstance(event, FeedGap):
            self.on_gap(event)
        elif isinstance(event, BookUnfollowed):
            self.forget(event)
        elif isinstance(event, FeedStatus) and event.state is not FeedState.CONNECTED:
            self.mark_all_stale()

    def on_snapshot(self, snap: BookSnapshot) -> None:
        book = self._books.get(snap.ticker)
        if book is None:
            book = self._books[snap.ticker] = OrderBook(snap.ticker)
        book.apply_snapshot(snap)
        self.stats.snapshots += 1

    def on_delta(self, delta: BookDelta) -> None:
        book = self._books.get(delta.ticker)
        if book is None or book.stale:
            self.stats.deltas_skipped += 1
            return
        try:
            book.apply_delta(delta)
        except BookError as exc:
            self.stats.broken += 1
            book.mark_stale()
            log.warning("book broken, stale until a snapshot: %s", exc)
            if self._repair is not None:
                self._repair(delta.ticker)
            return
        self.stats.deltas += 1

    def on_gap(self, gap: FeedGap) -> None:
        """A book gap makes its book stale (all books when it names none); so does a reconnect,
        which loses whatever was in flight on every subscription."""
        if gap.kind is GapKind.TRADE:
            return
        if gap.kind is GapKind.BOOK and gap.ticker is not None:
            book = self._books.get(gap.ticker)
            if book is not None:
                self._mark(book)
        else:
            self.mark_all_stale()

    def mark_all_stale(self) -> None:
        """The connection was lost: no book can be trusted until its next snapshot."""
        for book in self._books.values():
            self._mark(book)

    def _mark(self, book: OrderBook) -> None:
        if not book.stale:
            book.mark_stale()
            self.stats.stale_marks += 1
