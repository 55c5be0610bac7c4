"""A client's trade filter on /ws/stream: parsed from its `filter` message, checked per trade."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models import Side, Trade


class FilterError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TradeFilter:
    """What a client wants to see in its `trades` messages."""

    min_count: int | None = None  # hundredths of a contract
    min_notional: int | None = None  # micro-dollars
    side: Side | None = None
    search: str | None = None  # upper-cased ticker/series prefix or title words

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> TradeFilter:
        def nonneg_int(name: str) -> int | None:
            value = msg.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FilterError(f"{name} must be a non-negative integer or null")
            return value

        side = msg.get("side")
        if side not in (None, "yes", "no"):
            raise FilterError("side must be 'yes', 'no' or null")
        search = msg.get("search")
        if search is not None and (not isinstance(search, str) or len(search) > 100):
            raise FilterError("search must be a string of at most 100 characters or null")
        return cls(
            min_count=nonneg_int("min_count"),
            min_notional=nonneg_int("min_notional"),
            side=Side(side) if side else None,
            search=search.strip().upper() or None if search else None,
        )

    @property
    def is_empty(self) -> bool:
        return self == NO_FILTER

    def matches(self, trade: Trade, title: str) -> bool:
        if self.min_count is not None and trade.count < self.min_count:
            return False
        if self.min_notional is not None and trade.notional < self.min_notional:
            return False
        if self.side is not None and trade.taker_side is not self.side:
            return False
        if self.search is not None:
            return trade.ticker.startswith(self.search) or self.search in title.upper()
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "min_count": self.min_count,
            "min_notional": self.min_notional,
            "side": self.side.value if self.side else None,
            "search": self.search,
        }


NO_FILTER = TradeFilter()
