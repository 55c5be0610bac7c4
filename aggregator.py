"""Per-market sliding windows: volume, notional, taker flow, VWAP, prices, hot markets.

Pure and synchronous. Time comes only from the trades and from ``advance(now_ms)``.

Windows: 1m, 5m, 15m and 1h are the current minute plus the previous N-1 minute buckets; 24h is
the current hour plus the previous 23 hour buckets. The windows nest, so each market keeps running
sums per band, the part of a window outside the one before it (1m, 5m-1m, 15m-5m, 1h-15m,
24h-1h): a trade lands in one band, and a window is the sum of its band and those inside it. Each
market also has a ring of 60 minute slots and 24 hour slots (``windows.SlotTable``). The rings and
sums of all markets are one int64 table each, so at a minute or hour boundary the buckets that
crossed into the next band (or left the 24h window) are moved for every market in a few array
operations (``_roll``), not market by market. A heap of ``(expires_ms, row)`` orders
the evictions of markets: a market whose newest hour bucket leaves the 24h window is dropped and
its row reused. Trades older than the 24h window are counted and ignored.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models import PRICE_SCALE, Side, Trade
from windows import (
    BATCH_MIN,
    FIRST,
    KEY,
    LAST,
    NO_LAST,
    NSUM,
    PACK,
    SLOT,
    TRADES,
    VOL,
    SlotTable,
    SumTable,
    TradeColumns,
    minute_parts,
    pack,
    runs,
    stable_order,
    unpack_price,
    unpack_ts,
)

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
WINDOWS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "24h": 86_400_000}
WINDOW_INDEX = {name: i for i, name in enumerate(WINDOWS)}
MINUTE_WINDOWS = (1, 5, 15, 60)  # lengths in minutes of windows 0..3
DAY_WINDOW = 4
DAY_HOURS = 24
MINUTES_PER_HOUR = HOUR_MS // MINUTE_MS
AGE_SPAN = (DAY_HOURS + 1) * MINUTES_PER_HOUR  # more minutes than a trade kept can be old
BAND_EDGES = np.array(MINUTE_WINDOWS)  # a minute aged a is in band searchsorted(edges, a, right)
_YES = Side.YES  # once a trade: looking it up on the enum costs ten times the compare
RANK_FIELDS = {"volume": 0, "notional": 1, "trades": 2}
SPARK_MINUTES = 60

# per-row bookkeeping in one array('q')
LAST_TRADE, EXPIRES, LAST_ADD = range(3)
META = 3


@dataclass(frozen=True, slots=True)
class MarketWindow:
    """One market's figures over one window. Volumes in hundredths of a contract, notionals in
    micro-dollars, prices in centicents; ``vwap`` is the volume-weighted YES price rounded half
    up; ``first_price``/``last_price`` are the first and last YES prices in the window."""

    ticker: str
    window: str
    volume: int
    notional: int
    trades: int
    yes_volume: int
    no_volume: int
    yes_notional: int
    no_notional: int
    net_flow: int
    vwap: int | None
    last_price: int | None
    first_price: int | None
    last_ts_ms: int


class Aggregator:
    def __init__(
        self,
        *,
        large_trade_min_notional: int = 1_000_000_000,
        large_trades_kept: int = 200,
        spark_points: int = 60,
    ) -> None:
        self.large_trade_min_notional = large_trade_min_notional
        self.large_trades_kept = large_trades_kept
        self.spark_points = min(spark_points, SPARK_MINUTES)
        self.ignored_old = 0
        self._now = 0
        self._index: dict[str, int] = {}
        self._names: list[str] = []
        self._free: list[int] = []
        self._min = SlotTable(SPARK_MINUTES)
        self._hour = SlotTable(DAY_HOURS)
        self._sums = SumTable(len(WINDOWS))
        self._meta = array("q")
        self._heap: list[tuple[int, int]] = []
        self._adds = 0  # trades added so far: stamps when a market last changed
        self._large: list[tuple[int, str, Trade]] = []

    # ---- input ---------------------------------------------------------------------------

    def add_trade(self, t: Trade) -> None:
        ts = t.ts_ms
        if ts > self._now:
            self.advance(ts)
        now = self._now
        minute = ts // MINUTE_MS
        hour = ts // HOUR_MS
        cur_min = now // MINUTE_MS
        cur_hour = now // HOUR_MS
        if hour <= cur_hour - DAY_HOURS:
            self.ignored_old += 1
            return
        row = self._index.get(t.ticker)
        if row is None:
            row = self._allocate(t.ticker)
        count = t.count
        price = t.yes_price
        yes = t.taker_side is _YES
        notional = (price if yes else PRICE_SCALE - price) * count
        pv = price * count
        packed = pack(ts, price)
        age = cur_min - minute  # minutes: 0 = the current one
        if age < SPARK_MINUTES:
            off, _ = self._min.claim(row, minute)
            self._min.add(off, count, notional, yes, pv, packed)
        off, _ = self._hour.claim(row, hour)
        self._hour.add(off, count, notional, yes, pv, packed)
        # the band of the first window holding the minute (see the module's docstring)
        band = 0 if age < 1 else 1 if age < 5 else 2 if age < 15 else 3 if age < 60 else 4
        d = self._sums.data
        o = row * self._sums.stride + band * NSUM
        d[o] += count
        d[o + 1] += notional
        d[o + 2] += 1
        if yes:
            d[o + 3] += count
            d[o + 4] += notional
        d[o + 5] += pv
        meta = self._meta
        m = row * META
        if packed > meta[m + LAST_TRADE]:
            meta[m + LAST_TRADE] = packed
        self._adds += 1
        meta[m + LAST_ADD] = self._adds
        # the market leaves the board when its newest hour bucket leaves the 24h window
        # one heap entry per market: a later expiry is recorded here and re-pushed when the
        # earlier entry comes due
        expires = (hour + DAY_HOURS) * HOUR_MS
        known = meta[m + EXPIRES]
        if expires > known:
            meta[m + EXPIRES] = expires
            if not known:
                heapq.heappush(self._heap, (expires, row))
        if notional >= self.large_trade_min_notional:
            self._add_large(t)

    def add_trades(self, trades: Sequence[Trade], cols: TradeColumns | None = None) -> None:
        """``add_trade`` on each of ``trades`` in turn (``cols``: their columns, if read
        already), in array steps for a long batch: split where the current minute changes
        (only there does ``advance`` roll buckets or drop markets, as expiries fall on hour
        boundaries), each part is added at once, as its trades see the same current minute."""
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
        """``add_trade`` for trades that all see the current minute and hour of ``_now``.

        The trades are sorted by market and age and summed into cells (a market's minute),
        the cells summed again into the market's hours, bands and whole; each of those then
        goes to its slot or sum at once, as the trades one by one would have added up."""
        cur_min = self._now // MINUTE_MS
        minute = cols.ts // MINUTE_MS
        kept = cols.ts // HOUR_MS > self._now // HOUR_MS - DAY_HOURS
        if not kept.all():
            self.ignored_old += int(len(kept) - kept.sum())
            picked = np.flatnonzero(kept)
            if not len(picked):
                return
            trades = [trades[i] for i in picked.tolist()]
            cols, minute = cols.take(picked), minute[picked]
        rows = self._rows(cols)
        age = cur_min - minute  # minutes: 0 = the current one
        order = stable_order(rows if age.min() == age.max() else rows * AGE_SPAN + age)
        by_row, by_age = rows[order], age[order]
        starts = runs(by_row, by_age)  # the cells: one market's trades of one minute
        sums = np.add.reduceat(cols.sums()[order], starts, axis=0)
        packed = (cols.ts * PACK + cols.price)[order]
        first = np.minimum.reduceat(packed, starts)
        last = np.maximum.reduceat(packed, starts)
        row, cell_age = by_row[starts], by_age[starts]
        cell_min = cur_min - cell_age
        recent = cell_age < SPARK_MINUTES
        if recent.all():
            self._min.add_cells(row * SPARK_MINUTES + cell_min % SPARK_MINUTES, cell_min, sums,
                                first, last)  # fmt: skip
        else:
            r, m = row[recent], cell_min[recent]
            self._min.add_cells(r * SPARK_MINUTES + m % SPARK_MINUTES, m, sums[recent],
                                first[recent], last[recent])  # fmt: skip
        # a market's cells run from its newest minute back, so its hours and bands are runs
        cell_hour = cell_min // MINUTES_PER_HOUR
        hs = runs(row, cell_hour)
        h = cell_hour[hs]
        h_first, h_last = np.minimum.reduceat(first, hs), np.maximum.reduceat(last, hs)
        self._hour.add_cells(row[hs] * DAY_HOURS + h % DAY_HOURS, h, np.add.reduceat(sums, hs),
                             h_first, h_last)  # fmt: skip
        band = np.searchsorted(BAND_EDGES, cell_age, side="right")
        bs = runs(row, band)
        self._sums.add_cells(row[bs] * len(WINDOWS) + band[bs], np.add.reduceat(sums, bs))
        # per market: its newest trade, the stamp of its last one, its expiry (see add_trade)
        ms = runs(row)
        cells, trade_runs = row[ms], starts[ms]
        lasts = np.maximum.reduceat(order, trade_runs)  # its last trade, first: its first
        meta = np.frombuffer(self._meta, dtype=np.int64).reshape(-1, META)
        meta[cells, LAST_TRADE] = np.maximum(meta[cells, LAST_TRADE], np.maximum.reduceat(last, ms))
        meta[cells, LAST_ADD] = self._adds + 1 + lasts
        self._adds += len(rows)
        known = meta[cells, EXPIRES]
        newest = (np.maximum.reduceat(cell_hour, ms) + DAY_HOURS) * HOUR_MS
        meta[cells, EXPIRES] = np.maximum(known, newest)
        del meta
        new = known == 0
        if new.any():  # first traded here: onto the heap at their first trade, in that order
            firsts = np.sort(np.minimum.reduceat(order, trade_runs)[new])
            for i, row_i in zip(firsts.tolist(), rows[firsts].tolist(), strict=True):
                heapq.heappush(
                    self._heap, ((int(cols.ts[i]) // HOUR_MS + DAY_HOURS) * HOUR_MS, row_i)
                )
        for i in np.flatnonzero(cols.notional >= self.large_trade_min_notional).tolist():
            self._add_large(trades[i])

    def _rows(self, cols: TradeColumns) -> np.ndarray:
        """Each trade's row; a new market gets its row at its first trade, as one by one."""
        index = self._index
        of_key = [index.get(ticker, -1) for ticker in cols.keys]
        if -1 in of_key:
            for k in cols.first_seen():
                if of_key[k] < 0:
                    of_key[k] = self._allocate(cols.keys[k])
        rows: np.ndarray = np.array(of_key, dtype=np.int64)[cols.market]
        return rows

    def advance(self, now_ms: int) -> None:
        """Move time to ``now_ms`` (never back): subtract the buckets that left their windows,
        then drop the markets whose 24h window is empty, in expiry order."""
        prev = self._now
        if now_ms <= prev:
            return
        self._now = now_ms
        rows = len(self._names)
        if rows:
            self._roll(prev // MINUTE_MS, now_ms // MINUTE_MS, prev // HOUR_MS, now_ms // HOUR_MS)
        heap = self._heap
        meta = self._meta
        while heap and heap[0][0] <= now_ms:
            expires, row = heapq.heappop(heap)
            later = meta[row * META + EXPIRES]
            if later > expires:
                heapq.heappush(heap, (later, row))
            else:
                self._release(row)

    def _roll(self, old_min: int, new_min: int, old_hour: int, new_hour: int) -> None:
        """Move, for every market at once, each bucket that left a window between the two times
        from that window's band to the next one (out of the 24h window: dropped). A bucket
        leaves a window of n buckets when the current one is n buckets later."""
        if new_min == old_min:
            return
        rows = len(self._names)
        bands = np.frombuffer(self._sums.data, dtype=np.int64).reshape(rows, len(WINDOWS), NSUM)
        hours = np.frombuffer(self._hour.data, dtype=np.int64).reshape(rows, DAY_HOURS, SLOT)
        if new_min - old_min >= SPARK_MINUTES:
            # every minute band emptied: what is left of the day is in its hour buckets
            bands[:] = 0
            keys = hours[:, :, KEY]
            live = (keys > new_hour - DAY_HOURS) & (keys <= new_hour) & (hours[:, :, TRADES] > 0)
            bands[:, DAY_WINDOW, :] = (hours[:, :, VOL : VOL + NSUM] * live[:, :, None]).sum(1)
            return
        mins = np.frombuffer(self._min.data, dtype=np.int64).reshape(rows, SPARK_MINUTES, SLOT)
        for k, span in enumerate(MINUTE_WINDOWS):
            for bucket in range(old_min - span + 1, new_min - span + 1):
                moved = _held(mins, bucket)
                bands[:, k, :] -= moved
                bands[:, k + 1, :] += moved
        for hour in range(old_hour - DAY_HOURS + 1, new_hour - DAY_HOURS + 1):
            bands[:, DAY_WINDOW, :] -= _held(hours, hour)

    # ---- queries -------------------------------------------------------------------------

    def hot(self, window: str, limit: int = 50, by: str = "volume") -> list[MarketWindow]:
        """Top ``limit`` markets with trades in ``window`` by ``by``, descending; ties by ticker."""
        k = _window_index(window)
        if by not in RANK_FIELDS:
            raise ValueError(f"unknown ranking {by!r}; expected one of {sorted(RANK_FIELDS)}")
        if limit <= 0 or not self._names:
            return []
        rows_n = len(self._names)
        bands = np.frombuffer(self._sums.data, dtype=np.int64).reshape(rows_n, len(WINDOWS), NSUM)
        field, count = RANK_FIELDS[by], RANK_FIELDS["trades"]
        values = bands[:, 0, field].copy()
        trades = bands[:, 0, count].copy()
        for band in range(1, k + 1):
            values += bands[:, band, field]
            trades += bands[:, band, count]
        traded = trades > 0  # freed rows are all zero
        if limit < rows_n:
            floor = int(values[np.argpartition(values, rows_n - limit)[rows_n - limit]])
            picked = traded & (values >= floor) if floor > 0 else traded
        else:
            picked = traded
        rows = np.flatnonzero(picked).tolist()
        keys = values[rows].tolist()
        names = self._names
        ranked = sorted([(-v, names[r], r) for v, r in zip(keys, rows, strict=True)])
        return [self._window(r, name, window, k) for _, name, r in ranked[:limit]]

    def market(self, ticker: str, window: str) -> MarketWindow | None:
        k = _window_index(window)
        row = self._index.get(ticker)
        return None if row is None else self._window(row, ticker, window, k)

    def sparkline(self, ticker: str) -> list[int]:
        """Last YES price (cc) of each of the last ``spark_points`` minutes, the current one
        included; a minute without trades carries the previous price forward. Minutes before
        the first trade in the span take the last price of an earlier hour bucket, or the first
        price in the span when none is known."""
        row = self._index.get(ticker)
        if row is None:
            return []
        table = self._min
        base = row * table.stride
        ring = table.data[base : base + table.stride]
        keys = ring[KEY::SLOT]
        lasts = ring[LAST::SLOT]
        counts = ring[TRADES::SLOT]
        cur = self._now // MINUTE_MS
        start = cur - self.spark_points + 1
        s0 = start % table.slots  # rotate the ring so that it starts at minute ``start``
        keys, lasts, counts = (
            keys[s0:] + keys[:s0],
            lasts[s0:] + lasts[:s0],
            counts[s0:] + counts[:s0],
        )
        out: list[int | None] = []
        carry: int | None = None
        for minute, key, last, n in zip(range(start, cur + 1), keys, lasts, counts, strict=False):
            if key == minute and n:
                carry = last % PACK
            out.append(carry)
        lead = next((i for i, p in enumerate(out) if p is not None), len(out))
        if lead:
            before = self._price_before(row, start * MINUTE_MS)
            if before is None:
                first = out[lead] if lead < len(out) else None
                meta_last = self._meta[row * META + LAST_TRADE]
                before = first if first is not None else unpack_price(meta_last)
            out[:lead] = [before] * lead
        return [p for p in out if p is not None]

    def changed_at(self, ticker: str) -> int:
        """A stamp that differs whenever a trade was added to ``ticker`` (-1: not held): with
        the current minute it says whether a sparkline computed earlier still holds."""
        row = self._index.get(ticker)
        return -1 if row is None else self._meta[row * META + LAST_ADD]

    def large_trades(self, limit: int = 50) -> list[Trade]:
        """Trades of at least ``large_trade_min_notional``, newest (by exchange time) first."""
        return [t for _, _, t in reversed(self._large[-limit:])] if limit > 0 else []

    def market_count(self) -> int:
        return len(self._index)

    @property
    def now_ms(self) -> int:
        return self._now

    # ---- internals -----------------------------------------------------------------------

    def _allocate(self, ticker: str) -> int:
        if self._free:
            row = self._free.pop()
            self._names[row] = ticker
            self._min.clear_row(row)
            self._hour.clear_row(row)
            self._sums.clear_row(row)
        else:
            row = len(self._names)
            self._names.append(ticker)
            self._min.grow(row + 1)
            self._hour.grow(row + 1)
            self._sums.grow(row + 1)
            self._meta.frombytes(bytes(META * 8))
        m = row * META
        self._meta[m : m + META] = array("q", (NO_LAST, 0, 0))
        self._index[ticker] = row
        return row

    def _release(self, row: int) -> None:
        del self._index[self._names[row]]
        self._names[row] = ""
        self._meta[row * META + EXPIRES] = 0
        self._sums.clear_row(row)
        self._free.append(row)

    def _window(self, row: int, ticker: str, window: str, k: int) -> MarketWindow:
        s = self._sums.data
        base = row * self._sums.stride
        vol, notional, trades, yes_vol, yes_notional, pv = s[base : base + NSUM]
        for off in range(base + NSUM, base + (k + 1) * NSUM, NSUM):
            vol += s[off]
            notional += s[off + 1]
            trades += s[off + 2]
            yes_vol += s[off + 3]
            yes_notional += s[off + 4]
            pv += s[off + 5]
        first, last = self._bounds(row, k) if trades else (-1, -1)
        no_notional = notional - yes_notional
        return MarketWindow(
            ticker,
            window,
            vol,
            notional,
            trades,
            yes_vol,
            vol - yes_vol,
            yes_notional,
            no_notional,
            yes_notional - no_notional,
            (2 * pv + vol) // (2 * vol) if vol > 0 else None,
            last % PACK if last >= 0 else None,
            first % PACK if first >= 0 else None,
            self._meta[row * META + LAST_TRADE] // PACK,
        )

    def _bounds(self, row: int, k: int) -> tuple[int, int]:
        """Packed first and last trade of window ``k`` (-1 when the window is empty)."""
        if k == DAY_WINDOW:
            table, cur, n = self._hour, self._now // HOUR_MS, DAY_HOURS
        else:
            table, cur, n = self._min, self._now // MINUTE_MS, MINUTE_WINDOWS[k]
        d = table.data
        base = row * table.stride
        size = table.slots
        first = last = -1
        for bucket in range(cur - n + 1, cur + 1):
            off = base + (bucket % size) * SLOT
            if d[off] == bucket and d[off + TRADES]:
                first = d[off + FIRST]
                break
        if first < 0:
            return -1, -1
        for bucket in range(cur, cur - n, -1):
            off = base + (bucket % size) * SLOT
            if d[off] == bucket and d[off + TRADES]:
                last = d[off + LAST]
                break
        return first, last

    def _price_before(self, row: int, ts_ms: int) -> int | None:
        table = self._hour
        d = table.data
        hour = ts_ms // HOUR_MS
        for h in range(hour, self._now // HOUR_MS - DAY_HOURS, -1):
            off = table.find(row, h)
            if off >= 0 and unpack_ts(d[off + LAST]) < ts_ms:
                return unpack_price(d[off + LAST])
        return None

    def _add_large(self, t: Trade) -> None:
        bisect.insort(self._large, (t.ts_ms, t.trade_id, t), key=lambda e: (e[0], e[1]))
        if len(self._large) > self.large_trades_kept:
            del self._large[0]


def _held(slots: np.ndarray, bucket: int) -> np.ndarray:
    """The additive fields (rows x NSUM) of ``bucket`` in every market's ring ``slots`` (rows x
    ring x SLOT), zero where the slot holds another bucket."""
    slot = slots[:, bucket % slots.shape[1], :]
    held: np.ndarray = slot[:, VOL : VOL + NSUM] * (slot[:, KEY] == bucket)[:, None]
    return held


def _window_index(window: str) -> int:
    k = WINDOW_INDEX.get(window)
    if k is None:
        raise ValueError(f"unknown window {window!r}; expected one of {list(WINDOWS)}")
    return k
