"""What the desk knows of each market: its event and series (fees, games), its price grid,
whether it trades fractions, and whether it has finished.

Market details come from ``MarketsFetched`` events; a market not described yet gets its event
and series from its ticker (``SERIES-EVENT...-MARKET``: the event is the ticker without its last
part, the series its first part), the default cent grid and whole contracts only. A game is the
event ticker unless the caller maps the market to a game of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from models import MarketInfo, PriceRange
from paper.fees import FeeSchedule, FeeTable
from paper.grid import grid_of


def event_of_ticker(ticker: str) -> str:
    head, sep, _ = ticker.rpartition("-")
    return head if sep else ticker


def series_of_ticker(ticker: str) -> str:
    return ticker.partition("-")[0]


class Markets:
    def __init__(self, games: Mapping[str, str] | None = None) -> None:
        self._info: dict[str, MarketInfo] = {}
        self._games = dict(games or {})
        self.fees = FeeTable()
        self.finished: set[str] = set()  # determined or settled: no more orders

    def put(self, info: MarketInfo) -> None:
        self._info[info.ticker] = info

    def info(self, ticker: str) -> MarketInfo | None:
        return self._info.get(ticker)

    def event(self, ticker: str) -> str:
        info = self._info.get(ticker)
        if info is not None and info.event_ticker:
            return info.event_ticker
        return event_of_ticker(ticker)

    def series(self, ticker: str) -> str:
        info = self._info.get(ticker)
        if info is not None and info.series_ticker:
            return info.series_ticker
        return series_of_ticker(ticker)

    def game(self, ticker: str) -> str:
        return self._games.get(ticker) or self.event(ticker)

    def map_game(self, ticker: str, game: str) -> None:
        self._games[ticker] = game

    def grid(self, ticker: str) -> tuple[PriceRange, ...]:
        info = self._info.get(ticker)
        return grid_of(info.price_ranges if info is not None else ())

    def fractional(self, ticker: str) -> bool:
        info = self._info.get(ticker)
        return info is not None and info.fractional_trading_enabled

    def fee_schedule(self, ticker: str) -> FeeSchedule:
        return self.fees.schedule(self.series(ticker), self.event(ticker))

    def to_state(self) -> dict[str, Any]:
        return {
            "info": [asdict(i) for i in self._info.values()],
            "games": dict(self._games),
            "fees": self.fees.to_state(),
            "finished": sorted(self.finished),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._games = dict(state["games"])
        for raw in state["info"]:
            ranges = tuple(PriceRange(**r) for r in raw["price_ranges"])
            self.put(MarketInfo(**{**raw, "price_ranges": ranges}))
        self.fees.restore(state["fees"])
        self.finished = set(state["finished"])
