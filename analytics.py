"""Global flow over time: the last 60 minute buckets and the last 24 hour buckets.

Pure and synchronous; time comes from the trades and from ``advance(now_ms)``.

Distinct markets are exact: markets get small integer ids (recycled once a market has left every
day bucket); each live bucket keeps a bitmap of the ids that traded in it (dropped when the bucket
leaves its window) and each mode a count per id of the live buckets it appears in, which gives
the distinct markets over a whole mode in O(1). Memory: 84 bitmaps of one bit per market id.
Trades older than their mode's window are ignored by it.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models import PRICE_SCALE, Side, Trade
from windows import BATCH_MIN, TradeColumns, minute_parts

log = logging.getLogger(__name__)

MODES = {"hour": (60_000, 60), "day": (3_600_000, 24)}  # mode -> (bucket_ms, buckets)
_YES = Side.YES  # once a trade: looking it up on the enum costs ten times the compare
NSUMS = 7  # volume, notional, trades, yes_volume, no_volume, yes_notional, no_notional


@dataclass(frozen=True, slots=True)
class Bucket:
    start_ms: int
    volume: int
    notional: int
    trades: int
    yes_volume: int
    no_volume: int
    yes_notional: int
    no_notional: int
    markets: int


@dataclass(frozen=True, slots=True)
class AnalyticsView:
    """``buckets`` oldest first, always the full span (empty buckets zero-filled), ending with
    the bucket that contains ``now``. ``avg_volume_per_bucket`` is floored; ``yes_share_bp`` is
    the YES taker share of volume in basis points, rounded half up (0 with no volume)."""

    mode: str
    bucket_ms: int
    buckets: tuple[Bucket, ...]
    total_volume: int
    total_notional: int
    total_trades: int
    peak_volume: int
    peak_start_ms: int
    avg_volume_per_bucket: int
    yes_share_bp: int
    active_markets: int


class _Ring:
    """One mode's buckets: sums and a bitmap of market ids per slot, keyed by bucket number."""

    __slots__ = ("active", "bucket_ms", "current", "distinct", "keys", "maps", "refs", "size",
                 "sums", "zeroed")  # fmt: skip

    def __init__(self, bucket_ms: int, size: int) -> None:
        self.bucket_ms = bucket_ms
        self.size = size
        self.keys = [-1] * size
        self.sums = [[0] * NSUMS for _ in range(size)]
        self.maps = [bytearray() for _ in range(size)]
        self.distinct = [0] * size
        self.refs = array("I")  # per market id: live buckets it traded in
        self.active = 0  # market ids with refs > 0
        self.zeroed: list[int] = []  # ids whose refs fell to 0, for the owner to recycle
        self.current = -1  # bucket number of the newest bucket in the window

    def advance(self, bucket: int) -> None:
        if bucket <= self.current:
            return
        oldest_kept = bucket - self.size + 1
        for b in range(max(self.current - self.size + 1, oldest_kept - self.size), oldest_kept):
            self._drop(b % self.size, b)
        self.current = bucket

    def _drop(self, slot: int, bucket: int) -> None:
        if self.keys[slot] != bucket:
            return
        bitmap = self.maps[slot]
        if bitmap:
            # every id in the bitmap loses one live bucket; those left with none are zeroed
            bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
            refs = np.frombuffer(self.refs, dtype=np.uint32)
            n = min(len(bits), len(refs))
            members = bits[:n].astype(bool)
            refs[:n] -= members
            gone = np.flatnonzero(members & (refs[:n] == 0)).tolist()
            del refs
            self.active -= len(gone)
            self.zeroed.extend(gone)
        self.maps[slot] = bytearray()
        self.sums[slot] = [0] * NSUMS
        self.distinct[slot] = 0
        self.keys[slot] = -1

    def add(self, bucket: int, market: int, count: int, notional: int, yes: bool) -> None:
        slot = bucket % self.size
        if self.keys[slot] != bucket:
            self._drop(slot, self.keys[slot])
            self.keys[slot] = bucket
        s = self.sums[slot]
        s[0] += count
        s[1] += notional
        s[2] += 1
        if yes:
            s[3] += count
            s[5] += notional
        else:
            s[4] += count
            s[6] += notional
        bitmap = self.maps[slot]
        byte, mask = market >> 3, 1 << (market & 7)
        if byte >= len(bitmap):
            bitmap.extend(bytes(byte + 1 - len(bitmap)))
        if not bitmap[byte] & mask:
            bitmap[byte] |= mask
            self.distinct[slot] += 1
            refs = self.refs
            if market >= len(refs):
                refs.frombytes(bytes((market + 1 - len(refs)) * refs.itemsize))
            if not refs[market]:
                self.active += 1
            refs[market] += 1

    def add_many(self, bucket: int, ids: np.ndarray, count: np.ndarray, notional: np.ndarray,
                 yes: np.ndarray) -> None:  # fmt: skip
        """``add`` for each of many trades of one live ``bucket``; ``ids``: the market ids that
        traded, each once."""
        slot = bucket % self.size
        if self.keys[slot] != bucket:
            self._drop(slot, self.keys[slot])
            self.keys[slot] = bucket
        s = self.sums[slot]
        volume, paid = int(count.sum()), int(notional.sum())
        yes_volume, yes_paid = int(count.sum(where=yes)), int(notional.sum(where=yes))
        s[0] += volume
        s[1] += paid
        s[2] += len(count)
        s[3] += yes_volume
        s[4] += volume - yes_volume
        s[5] += yes_paid
        s[6] += paid - yes_paid
        top = int(ids.max())
        bitmap = self.maps[slot]
        if top >> 3 >= len(bitmap):
            bitmap.extend(bytes((top >> 3) + 1 - len(bitmap)))
        bits = np.frombuffer(bitmap, dtype=np.uint8)
        new = ids[(bits[ids >> 3] >> (ids & 7)) & 1 == 0]
        if len(new):
            np.bitwise_or.at(bits, new >> 3, (1 << (new & 7)).astype(np.uint8))
            self.distinct[slot] += len(new)
            refs = self.refs
            if top >= len(refs):
                refs.frombytes(bytes((top + 1 - len(refs)) * refs.itemsize))
            counts = np.frombuffer(refs, dtype=np.uint32)
            self.active += int((counts[new] == 0).sum())
            counts[new] += 1
            del counts
        del bits


class Analytics:
    def __init__(self) -> None:
        self._now = 0
        self._rings = {mode: _Ring(ms, n) for mode, (ms, n) in MODES.items()}
        self._day = self._rings["day"]
        self._ids: dict[str, int] = {}
        self._names: list[str] = []
        self._free: list[int] = []
        self.ignored_old = 0

    def add_trade(self, t: Trade) -> None:
        ts = t.ts_ms
        if ts > self._now:
            self.advance(ts)
        yes = t.taker_side is _YES
        count = t.count
        notional = (t.yes_price if yes else PRICE_SCALE - t.yes_price) * count
        if ts // self._day.bucket_ms <= self._day.current - self._day.size:
            self.ignored_old += 1
            return
        market = self._ids.get(t.ticker)
        if market is None:
            market = self._new_id(t.ticker)
        for ring in self._rings.values():
            bucket = ts // ring.bucket_ms
            if bucket > ring.current - ring.size:
                ring.add(bucket, market, count, notional, yes)

    def add_trades(self, trades: Sequence[Trade], cols: TradeColumns | None = None) -> None:
        """``add_trade`` on each of ``trades`` in turn (``cols``: their columns, if read
        already), in array steps for a long batch: split where the current minute changes
        (only there does ``advance`` drop buckets), each part goes to each ring a bucket at a
        time."""
        if len(trades) < BATCH_MIN:
            for t in trades:
                self.add_trade(t)
            return
        cols = cols if cols is not None else TradeColumns.of(trades)
        for a, b, first, last in minute_parts(cols.ts, self._now):
            self.advance(first)  # as the part's first trade would
            whole = a == 0 and b == len(trades)
            self._add_minute(trades if whole else trades[a:b],
                             cols if whole else cols.take(np.arange(a, b)))  # fmt: skip
            self.advance(last)  # within the minute: the time only, as the trades would

    def _add_minute(self, trades: Sequence[Trade], cols: TradeColumns) -> None:
        """``add_trade`` for trades that all see the current minute and hour of ``_now`` (the
        hour mode's buckets are minutes).

        Each ring takes its buckets one at a time, in any order: a slot holds its bucket or
        one that is gone, and dropping a gone bucket when its slot is claimed is nothing to the
        others while its bitmap is empty. A long silence can leave a gone bucket with markets
        in it (``_Ring.advance`` drops only the last ring's length of buckets); dropping that
        one takes refs from its markets, which must come in its place among the adds, so such
        a part goes one by one."""
        plan = []
        for ring in self._rings.values():
            bucket = cols.ts // ring.bucket_ms
            lo, hi = int(bucket.min()), int(bucket.max())
            if lo == hi and hi > ring.current - ring.size:  # the usual: all in one live bucket
                live, buckets = None, [hi]
            else:
                live = bucket > ring.current - ring.size
                buckets = np.unique(bucket[live]).tolist()
            if any(ring.keys[b % ring.size] != b and ring.maps[b % ring.size] for b in buckets):
                for t in trades:
                    self.add_trade(t)
                return
            plan.append((ring, bucket, live, buckets))
        day = self._day
        kept = cols.ts // day.bucket_ms > day.current - day.size  # the rest: too old for any
        old = len(kept) - int(np.count_nonzero(kept))
        if old:
            self.ignored_old += old
            if old == len(kept):
                return
        ids = self._ids
        of_key = [ids.get(ticker, -1) for ticker in cols.keys]
        if -1 in of_key:  # ids given at a market's first trade, as one by one
            for k in cols.first_seen(kept if old else None):
                if of_key[k] < 0:
                    of_key[k] = self._new_id(cols.keys[k])
        key_ids = np.array(of_key, dtype=np.int64)
        for ring, bucket, live, buckets in plan:
            for b in buckets:
                if live is None:
                    market, count, notional, yes = cols.market, cols.count, cols.notional, cols.yes
                else:
                    one = live if len(buckets) == 1 else live & (bucket == b)
                    market, count, notional = cols.market[one], cols.count[one], cols.notional[one]
                    yes = cols.yes[one]
                held = np.bincount(market, minlength=len(key_ids)) > 0
                ring.add_many(b, key_ids[held], count, notional, yes)

    def _new_id(self, ticker: str) -> int:
        market = self._free.pop() if self._free else len(self._names)
        if market == len(self._names):
            self._names.append(ticker)
        else:
            self._names[market] = ticker
        self._ids[ticker] = market
        return market

    def advance(self, now_ms: int) -> None:
        if now_ms <= self._now:
            return
        self._now = now_ms
        for ring in self._rings.values():
            ring.advance(now_ms // ring.bucket_ms)
            if ring is not self._day:
                ring.zeroed.clear()
        # a market in no day bucket is in no minute bucket either: its id can be reused
        for market in self._day.zeroed:
            del self._ids[self._names[market]]
            self._names[market] = ""
            self._free.append(market)
        self._day.zeroed.clear()

    def view(self, mode: str, now_ms: int) -> AnalyticsView:
        """The ``mode`` ("hour" or "day") view ending at the bucket holding ``now_ms`` (or the
        latest time seen, if later)."""
        ring = self._rings.get(mode)
        if ring is None:
            raise ValueError(f"unknown mode {mode!r}; expected one of {list(MODES)}")
        self.advance(now_ms)
        cur = self._now // ring.bucket_ms
        buckets: list[Bucket] = []
        tot = [0] * NSUMS
        peak_volume, peak_start = 0, (cur - ring.size + 1) * ring.bucket_ms
        for b in range(cur - ring.size + 1, cur + 1):
            slot = b % ring.size
            start = b * ring.bucket_ms
            if ring.keys[slot] == b:
                s = ring.sums[slot]
                buckets.append(
                    Bucket(start, s[0], s[1], s[2], s[3], s[4], s[5], s[6], ring.distinct[slot])
                )
                for i in range(NSUMS):
                    tot[i] += s[i]
                if s[0] > peak_volume:
                    peak_volume, peak_start = s[0], start
            else:
                buckets.append(Bucket(start, 0, 0, 0, 0, 0, 0, 0, 0))
        volume = tot[0]
        return AnalyticsView(
            mode=mode,
            bucket_ms=ring.bucket_ms,
            buckets=tuple(buckets),
            total_volume=volume,
            total_notional=tot[1],
            total_trades=tot[2],
            peak_volume=peak_volume,
            peak_start_ms=peak_start,
            avg_volume_per_bucket=volume // ring.size,
            yes_share_bp=(tot[3] * 20_000 + volume) // (2 * volume) if volume else 0,
            active_markets=ring.active,
        )
