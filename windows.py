"""Fixed slot rings for per-market sliding windows, stored in flat integer arrays.

Every market owns one row in each array (``row * stride``): no Python object per bucket. A slot
holds one bucket (a minute or an hour) and is keyed by its bucket number (``ts // bucket_ms``);
a slot whose key differs from the bucket asked for is empty for that bucket.

First and last trades are kept packed as ``ts_ms * PACK + price`` so that one integer compares
by time first and, for equal times, by price: the result does not depend on arrival order.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models import PRICE_SCALE, Side, Trade

PACK = 1 << 14  # prices are at most 10_000 centicents < 2**14
NO_FIRST = (1 << 62) - 1
NO_LAST = -1

# slot fields
KEY, VOL, NOTIONAL, TRADES, YES_VOL, YES_NOTIONAL, PV, FIRST, LAST = range(9)
SLOT = 9
# additive fields, in slot order; window sums keep these
SUM_FIELDS = (VOL, NOTIONAL, TRADES, YES_VOL, YES_NOTIONAL, PV)
NSUM = len(SUM_FIELDS)


MINUTE_MS = 60_000
BATCH_MIN = 64  # trades: a shorter batch goes one by one, cheaper then than the array steps
_EMPTY_SLOT = (0, 0, 0, 0, 0, 0, 0, NO_FIRST, NO_LAST)  # a claimed slot, before its key


@dataclass(frozen=True, slots=True)
class TradeColumns:
    """A batch of trades as int64 columns, in trade order, read once for the windows and the
    analytics (their ``add_trades``). ``keys`` are the batch's tickers, each once, in the order
    of their first trades; ``market`` is each trade's index in ``keys``. ``notional`` is what
    the taker paid; ``sums()`` gives, per trade, what it adds to a slot's SUM_FIELDS (volume,
    notional, 1, YES volume, YES notional, price x volume)."""

    keys: list[str]
    market: np.ndarray
    ts: np.ndarray
    price: np.ndarray
    count: np.ndarray
    yes: np.ndarray  # bool
    notional: np.ndarray

    @classmethod
    def of(cls, trades: Sequence[Trade]) -> TradeColumns:
        i8 = np.int64
        at: dict[str, int] = {}
        market = [at.setdefault(t.ticker, len(at)) for t in trades]
        price = np.array([t.yes_price for t in trades], dtype=i8)
        count = np.array([t.count for t in trades], dtype=i8)
        taker_yes = Side.YES  # once, not once a trade: the enum's lookup is slow
        yes = np.array([t.taker_side is taker_yes for t in trades], dtype=bool)
        return cls(
            list(at),
            np.array(market, dtype=i8),
            np.array([t.ts_ms for t in trades], dtype=i8),
            price,
            count,
            yes,
            np.where(yes, price, PRICE_SCALE - price) * count,
        )

    @classmethod
    def concat(cls, parts: list[TradeColumns]) -> TradeColumns:
        """The trades of ``parts``, one after the other."""
        if len(parts) == 1:
            return parts[0]
        at: dict[str, int] = {}
        markets = []
        for p in parts:
            remap = np.array([at.setdefault(k, len(at)) for k in p.keys], dtype=np.int64)
            markets.append(remap[p.market])
        return cls(list(at), np.concatenate(markets),
                   *(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("ts", "price", "count", "yes", "notional")))  # fmt: skip

    def __len__(self) -> int:
        return len(self.market)

    def take(self, picked: np.ndarray) -> TradeColumns:
        """The trades at the (ascending) positions ``picked`` (``keys`` stay as they are)."""
        return TradeColumns(self.keys, self.market[picked], self.ts[picked], self.price[picked],
                            self.count[picked], self.yes[picked],
                            self.notional[picked])  # fmt: skip

    def first_seen(self, picked: np.ndarray | None = None) -> list[int]:
        """The ``keys`` (indices) that have trades here (those where ``picked`` is true, if
        given), in the order of their first trades."""
        market = self.market if picked is None else self.market[picked]
        present, first = np.unique(market, return_index=True)
        seen: list[int] = present[np.argsort(first)].tolist()
        return seen

    def sums(self) -> np.ndarray:
        out = np.empty((len(self.market), NSUM), dtype=np.int64)
        out[:, 0] = self.count
        out[:, 1] = self.notional
        out[:, 2] = 1
        out[:, 3] = self.count * self.yes
        out[:, 4] = self.notional * self.yes
        out[:, 5] = self.price * self.count
        return out


def minute_parts(ts: np.ndarray, now_ms: int) -> list[tuple[int, int, int, int]]:
    """Trades stamped ``ts``, each moving time to its stamp (never back) from ``now_ms``, in
    parts ``(start, end, first, last)`` over which the current minute stays the same:
    ``first`` and ``last`` are the times after the part's first and last trades."""
    now = np.maximum(np.maximum.accumulate(ts), now_ms)
    minutes = now // MINUTE_MS
    cuts = [0, *(np.flatnonzero(minutes[1:] != minutes[:-1]) + 1).tolist(), len(ts)]
    return [(a, b, int(now[a]), int(now[b - 1])) for a, b in itertools.pairwise(cuts)]


def stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` of non-negative keys, as a radix sort when they fit
    in 16 bits (a few times faster than the merge sort of wider ones)."""
    if int(keys.max()) < 1 << 16:
        keys = keys.astype(np.uint16)
    order: np.ndarray = np.argsort(keys, kind="stable")
    return order


def runs(*keys: np.ndarray) -> np.ndarray:
    """Where each run of consecutive entries equal in every one of ``keys`` starts."""
    first = keys[0]
    change = first[1:] != first[:-1]
    for k in keys[1:]:
        change |= k[1:] != k[:-1]
    return np.flatnonzero(np.concatenate(([True], change)))


def pack(ts_ms: int, price: int) -> int:
    return ts_ms * PACK + price


def unpack_price(packed: int) -> int:
    return packed % PACK


def unpack_ts(packed: int) -> int:
    return packed // PACK


class _RowTable:
    """Rows of ``stride`` int64 fields in one array('q'), grown and cleared a row at a time."""

    __slots__ = ("data", "rows", "stride")

    def __init__(self, stride: int) -> None:
        self.stride = stride
        self.data = array("q")
        self.rows = 0

    def grow(self, rows: int) -> None:
        if rows > self.rows:
            self.data.frombytes(bytes((rows - self.rows) * self.stride * 8))
            self.rows = rows

    def clear_row(self, row: int) -> None:
        base = row * self.stride
        self.data[base : base + self.stride] = array("q", bytes(self.stride * 8))


class SlotTable(_RowTable):
    """``rows`` markets x ``slots`` ring slots x SLOT fields, in one array('q')."""

    __slots__ = ("slots",)

    def __init__(self, slots: int) -> None:
        super().__init__(slots * SLOT)
        self.slots = slots

    def find(self, row: int, bucket: int) -> int:
        """Offset of ``bucket``'s slot if it holds that bucket with trades, else -1."""
        off = row * self.stride + (bucket % self.slots) * SLOT
        d = self.data
        return off if d[off + KEY] == bucket and d[off + TRADES] else -1

    def claim(self, row: int, bucket: int) -> tuple[int, bool]:
        """The slot for ``bucket``, reset if it held another bucket; (offset, fresh)."""
        off = row * self.stride + (bucket % self.slots) * SLOT
        d = self.data
        if d[off + KEY] == bucket and d[off + TRADES]:
            return off, False
        d[off : off + SLOT] = array("q", (bucket, 0, 0, 0, 0, 0, 0, NO_FIRST, NO_LAST))
        return off, True

    def add(self, off: int, count: int, notional: int, yes: bool, pv: int, packed: int) -> None:
        d = self.data
        d[off + VOL] += count
        d[off + NOTIONAL] += notional
        d[off + TRADES] += 1
        if yes:
            d[off + YES_VOL] += count
            d[off + YES_NOTIONAL] += notional
        d[off + PV] += pv
        if packed < d[off + FIRST]:
            d[off + FIRST] = packed
        if packed > d[off + LAST]:
            d[off + LAST] = packed

    def add_cells(self, cells: np.ndarray, keys: np.ndarray, sums: np.ndarray,
                  first: np.ndarray, last: np.ndarray) -> None:  # fmt: skip
        """``claim`` then ``add`` for many trades, summed by slot beforehand: slot ``cells[i]``
        (row * slots + bucket % slots, each once) of bucket ``keys[i]`` gets ``sums[i]``
        (SUM_FIELDS) and the packed ``first[i]`` and ``last[i]`` of its trades."""
        table = np.frombuffer(self.data, dtype=np.int64).reshape(-1, SLOT)
        held = table[cells]
        fresh = (held[:, KEY] != keys) | (held[:, TRADES] == 0)
        if fresh.any():
            held[fresh] = _EMPTY_SLOT
            held[fresh, KEY] = keys[fresh]
        held[:, VOL : VOL + NSUM] += sums
        np.minimum(held[:, FIRST], first, out=held[:, FIRST])
        np.maximum(held[:, LAST], last, out=held[:, LAST])
        table[cells] = held


class SumTable(_RowTable):
    """``rows`` markets x ``bands`` x NSUM running sums, in one array('q')."""

    __slots__ = ("bands",)

    def __init__(self, bands: int) -> None:
        super().__init__(bands * NSUM)
        self.bands = bands

    def add_cells(self, cells: np.ndarray, sums: np.ndarray) -> None:
        """Add ``sums[i]`` to band ``cells[i]`` (row * bands + band, each once) for each i."""
        table = np.frombuffer(self.data, dtype=np.int64).reshape(-1, NSUM)
        table[cells] += sums
