"""Per-market sliding windows: volume, notional, taker flow, VWAP, prices, hot markets.

Pure and synchronous. Time comes only from the trades and from ``advance(now_ms)``.

Windows: 1m, 5m, 15m and 1h are the current minute plus the previous N-1 minute buckets; 24h is
the current hour plus the previous 23 hour buckets. Each market has a ring of 60 minute slots and
24 hour slots (``windows.SlotTable``) and running sums per window, updated when a trade lands and
when a bucket leaves a window. A heap of ``(due_ms, row)`` orders the markets by the next time a
bucket of theirs leaves a window; ``advance`` pops only the markets that are due. A market with
no trade in its 24h window is dropped. Trades older than the 24h window are counted and ignored.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from array import array
from dataclasses import dataclass
from itertools import compress

from models import PRICE_SCALE, Side, Trade
from windows import (
    FIRST,
    KEY,
    LAST,
    NO_LAST,
    NOTIONAL,
    NSUM,
    PACK,
    PV,
    SLOT,
    TRADES,
    VOL,
    YES_NOTIONAL,
    YES_VOL,
    SlotTable,
    SumTable,
    pack,
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
RANK_FIELDS = {"volume": 0, "notional": 1, "trades": 2}
SPARK_MINUTES = 60

# per-row bookkeeping in one array('q')
SYNC_MIN, SYNC_HOUR, LAST_TRADE, DUE = range(4)
META = 4


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
        meta = self._meta
        if row is None:
            row = self._allocate(t.ticker, cur_min, cur_hour)
        elif meta[row * META + SYNC_MIN] != cur_min or meta[row * META + SYNC_HOUR] != cur_hour:
            self._sync(row, cur_min, cur_hour)
        count = t.count
        price = t.yes_price
        yes = t.taker_side is Side.YES
        notional = (price if yes else PRICE_SCALE - price) * count
        pv = price * count
        packed = pack(ts, price)
        age = cur_min - minute  # minutes: 0 = the current one
        if age < SPARK_MINUTES:
            off, _ = self._min.claim(row, minute)
            self._min.add(off, count, notional, yes, pv, packed)
        off, _ = self._hour.claim(row, hour)
        self._hour.add(off, count, notional, yes, pv, packed)
        # windows nest (1m in 5m in 15m in 1h in 24h): add to the first one holding the minute
        # and every later one
        first = 0 if age < 1 else 1 if age < 5 else 2 if age < 15 else 3 if age < 60 else 4
        d = self._sums.data
        o = row * self._sums.stride + first * NSUM
        for _ in range(first, DAY_WINDOW + 1):
            d[o] += count
            d[o + 1] += notional
            d[o + 2] += 1
            if yes:
                d[o + 3] += count
                d[o + 4] += notional
            d[o + 5] += pv
            o += NSUM
        m = row * META
        if packed > meta[m + LAST_TRADE]:
            meta[m + LAST_TRADE] = packed
        # next change this trade causes: it leaves the smallest window holding it (or its hour
        # leaves the 24h window, checked at every hour boundary)
        due = (cur_hour + 1) * HOUR_MS
        if first < DAY_WINDOW:
            due = min(due, (minute + MINUTE_WINDOWS[first]) * MINUTE_MS)
        if meta[m + DUE] == 0 or due < meta[m + DUE]:
            meta[m + DUE] = due
            heapq.heappush(self._heap, (due, row))
        if notional >= self.large_trade_min_notional:
            self._add_large(t)

    def advance(self, now_ms: int) -> None:
        """Move time to ``now_ms`` (never back) and evict the buckets that left their windows."""
        if now_ms <= self._now:
            return
        self._now = now_ms
        heap = self._heap
        meta = self._meta
        while heap and heap[0][0] <= now_ms:
            due, row = heapq.heappop(heap)
            if meta[row * META + DUE] != due:
                continue  # superseded by an earlier due time
            meta[row * META + DUE] = 0
            self._wake(row, now_ms)

    # ---- queries -------------------------------------------------------------------------

    def hot(self, window: str, limit: int = 50, by: str = "volume") -> list[MarketWindow]:
        """Top ``limit`` markets with trades in ``window`` by ``by``, descending; ties by ticker."""
        k = _window_index(window)
        if by not in RANK_FIELDS:
            raise ValueError(f"unknown ranking {by!r}; expected one of {sorted(RANK_FIELDS)}")
        d = self._sums.data
        stride = self._sums.stride
        # strided C-level slices: one value per row, freed rows included (all zero)
        values = d[k * NSUM + RANK_FIELDS[by] :: stride]
        trades = d[k * NSUM + 2 :: stride]
        if limit <= 0:
            return []
        top = heapq.nlargest(limit, values)
        floor = top[-1] if len(top) == limit else 0
        if floor > 0:
            # every value >= floor > 0 belongs to a market with trades in the window
            rows = [r for r, v in enumerate(values) if v >= floor]
        else:
            rows = list(compress(range(len(values)), trades))
        names = self._names
        ranked = sorted([(-values[r], names[r], r) for r in rows])
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

    def large_trades(self, limit: int = 50) -> list[Trade]:
        """Trades of at least ``large_trade_min_notional``, newest (by exchange time) first."""
        return [t for _, _, t in reversed(self._large[-limit:])] if limit > 0 else []

    def market_count(self) -> int:
        return len(self._index)

    @property
    def now_ms(self) -> int:
        return self._now

    # ---- internals -----------------------------------------------------------------------

    def _allocate(self, ticker: str, cur_min: int, cur_hour: int) -> int:
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
        self._meta[m : m + META] = array("q", (cur_min, cur_hour, NO_LAST, 0))
        self._index[ticker] = row
        return row

    def _sync(self, row: int, cur_min: int, cur_hour: int) -> None:
        """Subtract the buckets that left each window since the row was last brought up to date."""
        meta = self._meta
        m = row * META
        sums = self._sums
        last_min = meta[m + SYNC_MIN]
        if cur_min > last_min:
            ring = self._min.data
            base = row * self._min.stride
            d = sums.data
            off = row * sums.stride
            for n in MINUTE_WINDOWS:
                if cur_min - last_min >= n:
                    sums.clear(off)
                else:
                    for minute in range(last_min - n + 1, cur_min - n + 1):
                        slot = base + (minute % SPARK_MINUTES) * SLOT
                        if ring[slot] == minute and ring[slot + TRADES]:
                            d[off] -= ring[slot + VOL]
                            d[off + 1] -= ring[slot + NOTIONAL]
                            d[off + 2] -= ring[slot + TRADES]
                            d[off + 3] -= ring[slot + YES_VOL]
                            d[off + 4] -= ring[slot + YES_NOTIONAL]
                            d[off + 5] -= ring[slot + PV]
                off += NSUM
            meta[m + SYNC_MIN] = cur_min
        last_hour = meta[m + SYNC_HOUR]
        if cur_hour > last_hour:
            off = sums.offset(row, DAY_WINDOW)
            if cur_hour - last_hour >= DAY_HOURS:
                sums.clear(off)
            else:
                for hour in range(last_hour - DAY_HOURS + 1, cur_hour - DAY_HOURS + 1):
                    slot = self._hour.find(row, hour)
                    if slot >= 0:
                        sums.subtract_slot(off, self._hour.data, slot)
            meta[m + SYNC_HOUR] = cur_hour

    def _wake(self, row: int, now_ms: int) -> None:
        cur_min = now_ms // MINUTE_MS
        cur_hour = now_ms // HOUR_MS
        self._sync(row, cur_min, cur_hour)
        d = self._sums.data
        base = row * self._sums.stride
        if not d[base + DAY_WINDOW * NSUM + 2]:
            self._release(row)
            return
        due = (cur_hour + 1) * HOUR_MS
        if d[base + 2]:  # the current minute has trades: 1m changes at the next minute
            due = (cur_min + 1) * MINUTE_MS
        elif d[base + 3 * NSUM + 2]:
            due = min(due, self._minute_due(row, cur_min))
        self._meta[row * META + DUE] = due
        heapq.heappush(self._heap, (due, row))

    def _minute_due(self, row: int, cur_min: int) -> int:
        """When the next minute bucket of this row leaves one of the minute windows."""
        table = self._min
        # the oldest minute of a window is non-empty: that window changes at the next minute
        for span in MINUTE_WINDOWS[1:]:
            if table.find(row, cur_min - span + 1) >= 0:
                return (cur_min + 1) * MINUTE_MS
        base = row * table.stride
        ring = table.data[base : base + table.stride]
        keys = ring[KEY::SLOT]
        counts = ring[TRADES::SLOT]
        due = (cur_min + SPARK_MINUTES + 1) * MINUTE_MS
        for minute in range(cur_min - SPARK_MINUTES + 1, cur_min + 1):
            i = minute % SPARK_MINUTES
            if keys[i] == minute and counts[i]:
                age = cur_min - minute
                span = 1 if age < 1 else 5 if age < 5 else 15 if age < 15 else 60
                due = min(due, (minute + span) * MINUTE_MS)
        return due

    def _release(self, row: int) -> None:
        del self._index[self._names[row]]
        self._names[row] = ""
        self._free.append(row)

    def _window(self, row: int, ticker: str, window: str, k: int) -> MarketWindow:
        s = self._sums.data
        off = row * self._sums.stride + k * NSUM
        vol, notional, trades, yes_vol, yes_notional, pv = s[off : off + NSUM]
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


def _window_index(window: str) -> int:
    k = WINDOW_INDEX.get(window)
    if k is None:
        raise ValueError(f"unknown window {window!r}; expected one of {list(WINDOWS)}")
    return k
