"""Every trade the simulator ever produced, stored column-wise in arrays (a few bytes a trade)."""

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


class TradeHistory:
    """Append-only; index order is production order and ``ts_ms`` never decreases."""

    def __init__(self, seed: int, id_salt: int = 0) -> None:
        """Trade ids are a bijection of the index keyed by ``seed`` and ``id_salt``: a new salt
        gives a fresh id space for the same market behaviour (a restarted exchange)."""
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
        return len(self.ts_ms)

    def trade_id(self, index: int) -> str:
        h = f"{(index * self._mul + self._add) & _MASK:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def append(self, market: int, yes_price: int, count: int, taker_yes: bool, ts_ms: int) -> int:
        index = len(self.ts_ms)
        if index and ts_ms < self.ts_ms[-1]:
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

    def row(self, index: int) -> TradeRow:
        return TradeRow(
            index,
            self.trade_id(index),
            self.market[index],
            self.price[index],
            self.count[index],
            bool(self.taker_yes[index]),
            self.ts_ms[index],
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
        new trades arrive."""
        ts = self.ts_ms
        if market is None:
            idx: array[int] | range = range(len(ts))
        else:
            idx = self._by_market.get(market, array("I"))
        hi = len(idx)
        if max_ts_ms is not None:
            hi = bisect.bisect_right(idx, max_ts_ms, key=ts.__getitem__)
        lo = 0
        if min_ts_ms is not None:
            lo = bisect.bisect_left(idx, min_ts_ms, hi=hi, key=ts.__getitem__)
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
