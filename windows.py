"""Fixed slot rings for per-market sliding windows, stored in flat integer arrays.

Every market owns one row in each array (``row * stride``): no Python object per bucket. A slot
holds one bucket (a minute or an hour) and is keyed by its bucket number (``ts // bucket_ms``);
a slot whose key differs from the bucket asked for is empty for that bucket.

First and last trades are kept packed as ``ts_ms * PACK + price`` so that one integer compares
by time first and, for equal times, by price: the result does not depend on arrival order.
"""

from __future__ import annotations

from array import array

PACK = 1 << 14  # prices are at most 10_000 centicents < 2**14
NO_FIRST = (1 << 62) - 1
NO_LAST = -1

# slot fields
KEY, VOL, NOTIONAL, TRADES, YES_VOL, YES_NOTIONAL, PV, FIRST, LAST = range(9)
SLOT = 9
# additive fields, in slot order; window sums keep these
SUM_FIELDS = (VOL, NOTIONAL, TRADES, YES_VOL, YES_NOTIONAL, PV)
NSUM = len(SUM_FIELDS)


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


class SumTable(_RowTable):
    """``rows`` markets x ``bands`` x NSUM running sums, in one array('q')."""

    __slots__ = ("bands",)

    def __init__(self, bands: int) -> None:
        super().__init__(bands * NSUM)
        self.bands = bands
