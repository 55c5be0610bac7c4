"""The simulator's recent trades, stored column-wise in arrays (~27 bytes a trade).

Kalshi serves every trade it ever made; the simulator serves the newest ``keep`` (by default
200,000: ~5-7 MB, 100 s at 2,000 trades/s, over an hour at the default 50/s), which is what a
backfill reaches back to after any outage the simulator causes (its faults last seconds). Kept
whole, the history of a long run at a high rate would be most of the app's memory (~190 MB an
hour at 2,000/s).
Indices stay those of production order over the whole run, so trade ids and cursors do not
change when older trades are forgotten.
"""

from __future__ import annotations

import base64
import bisect
from array import array
from dataclasses import dataclass

_MASK = (1 << 128) - 1


@dataclass(frozen=True, slots=True)
class TradeRow:
    index: int
    trade_id: str
    market: int
    yes_price: int  # centicents
    count: int  # hundredths
    taker_yes: bool
    ts_ms: int


class CursorError(ValueError):
    """A cursor this history did not issue."""


KEEP_TRADES = 200_000


class TradeHistory:
    """Append-only; index order is production order and ``ts_ms`` never decreases. Rows from
    ``first`` to ``len(self)`` are held; ``trim`` forgets the oldest past ``keep``."""

    def __init__(self, seed: int, id_salt: int = 0, keep: int = KEEP_TRADES) -> None:
        """Trade ids are a bijection of the index keyed by ``seed`` and ``id_salt``: a new salt
        gives a fresh id space for the same market behaviour (a restarted exchange)."""
        if keep < 1:
            raise ValueError(f"keep must be at least 1 trade, not {keep}")
        self.keep = keep
        self.first = 0  # the index of ts_ms[0]: older trades were forgotten
        key = seed ^ (id_salt * 0xD1B54A32D192ED03)
        mix = (key * 0x9E3779B97F4A7C15F39CC0605CEDC834 + 0x632BE59BD9B4E019) & _MASK
        self._mul = mix | 1  # odd -> the id map is a bijection on 128 bits
        self._add = (mix >> 7) ^ 0x2545F4914F6CDD1D
        self.ts_ms = array("q")
        self.market = array("I")
        self.price = array("H")
        self.count = array("q")
        self.taker_yes = array("b")
        self._by_market: dict[int, array[int]] = {}

    def __len__(self) -> int:
        """Trades produced so far (held or forgotten): the next index."""
        return self.first + len(self.ts_ms)

    def trade_id(self, index: int) -> str:
        h = f"{(index * self._mul + self._add) & _MASK:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def append(self, market: int, yes_price: int, count: int, taker_yes: bool, ts_ms: int) -> int:
        index = len(self)
        if self.ts_ms and ts_ms < self.ts_ms[-1]:
            ts_ms = self.ts_ms[-1]
        self.ts_ms.append(ts_ms)
        self.market.append(market)
        self.price.append(yes_price)
        self.count.append(count)
        self.taker_yes.append(1 if taker_yes else 0)
        per = self._by_market.get(market)
        if per is None:
            per = self._by_market[market] = array("I")
        per.append(index)
        return index

    def trim(self) -> int:
        """Forget the oldest trades past ``keep``, a quarter of ``keep`` at a time (so that the
        arrays move seldom); returns how many. The caller trims when no row it still reads
        (a step's trades, until they are sent) can be among them."""
        excess = len(self.ts_ms) - self.keep
        if excess <= 0 or excess < self.keep // 4:
            return 0
        for column in (self.ts_ms, self.market, self.price, self.count, self.taker_yes):
            del column[:excess]
        self.first += excess
        first = self.first
        for market, per in list(self._by_market.items()):
            cut = bisect.bisect_left(per, first)
            if cut == len(per):
                del self._by_market[market]
            elif cut:
                del per[:cut]
        return excess

    def row(self, index: int) -> TradeRow:
        """Raises IndexError for an index not held (forgotten, or not produced yet)."""
        i = index - self.first
        if i < 0:
            raise IndexError(f"trade {index} was forgotten (held from {self.first})")
        return TradeRow(
            index,
            self.trade_id(index),
            self.market[i],
            self.price[i],
            self.count[i],
            bool(self.taker_yes[i]),
            self.ts_ms[i],
        )

    def query(
        self,
        *,
        market: int | None,
        min_ts_ms: int | None,
        max_ts_ms: int | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[int], str]:
        """Trade indices newest first within [min_ts_ms, max_ts_ms], and the next cursor ('' at
        the end). The cursor names the index to continue below, so pages stay stable while
        new trades arrive (and end where the trades held end)."""
        ts, first = self.ts_ms, self.first
        if market is None:
            idx: array[int] | range = range(first, len(self))
        else:
            idx = self._by_market.get(market, array("I"))

        def ts_of(index: int) -> int:
            return ts[index - first]

        hi = len(idx)
        if max_ts_ms is not None:
            hi = bisect.bisect_right(idx, max_ts_ms, key=ts_of)
        lo = 0
        if min_ts_ms is not None:
            lo = bisect.bisect_left(idx, min_ts_ms, hi=hi, key=ts_of)
        if cursor:
            below = decode_cursor(cursor)
            hi = min(hi, bisect.bisect_left(idx, below))
        start = max(lo, hi - limit)
        out = [idx[i] for i in range(hi - 1, start - 1, -1)]
        next_cursor = encode_cursor(idx[start]) if start > lo else ""
        return out, next_cursor


def encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"trades:{index}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, num = raw.partition(":")
        if tag != "trades" or not num.isdigit():
            raise CursorError(cursor)
        return int(num)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CursorError(cursor) from exc
