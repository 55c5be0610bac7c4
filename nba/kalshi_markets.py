"""Kalshi's NBA markets of the followed games: found over REST, matched to the games, their books
followed; what they are matched to goes out as ``MatchedMarket``s (``on_matched``: the service
puts them on the pipeline as an ``NbaMarketsMatched`` event) to ``NbaState``, which keeps their
status and prices."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kalshi.orderbook import OrderBook
from models import EventInfo, GameState, MarketInfo, MatchedMarket
from nba.match import (
    SERIES_KIND,
    MatchReport,
    NbaMarket,
    TickerError,
    match_event_infos,
    parse_market,
    parse_nba_ticker,
)
from nba.state import NbaState
from nba.store import NbaStore
from nba.views import market_json

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


class KalshiEvents(Protocol):
    """What discovery needs of Kalshi's REST API (``KalshiRest`` has it)."""

    async def events(
        self, *, limit: int = ..., with_nested_markets: bool = ..., **filters: Any
    ) -> list[EventInfo]: ...

    async def markets(self, *, limit: int = ..., **filters: Any) -> list[MarketInfo]: ...


async def _no_books(tickers: list[str]) -> None:
    return None


@dataclass
class KalshiSide:
    """The app's Kalshi parts the NBA side uses: REST for discovery, books, last prices, and
    ``on_market`` to hand market details to the app's market directory."""

    rest: KalshiEvents | None = None
    books: Callable[[], Mapping[str, OrderBook]] = dict
    follow: Callable[[list[str]], Awaitable[None]] = _no_books
    unfollow: Callable[[list[str]], Awaitable[None]] = _no_books
    last_price: Callable[[str], int | None] = lambda ticker: None
    on_market: Callable[[MarketInfo], None] = lambda info: None


class NbaMarkets:
    def __init__(
        self,
        kalshi: KalshiSide,
        store: NbaStore,
        state: NbaState,
        on_matched: Callable[[tuple[MatchedMarket, ...]], None],
    ) -> None:
        self._kalshi = kalshi
        self._on_matched = on_matched
        self._store = store
        self._state = state
        self._following: set[str] = set()
        self.report = MatchReport({}, (), ())

    async def discover(self, dates: set[str], games: Iterable[GameState], now_ms: int) -> None:
        """Find the NBA events of ``dates``, match them to ``games``, follow their books."""
        rest = self._kalshi.rest
        if rest is None:
            return
        min_close_s = (now_ms - 2 * DAY_MS) // 1000
        events: list[EventInfo] = []
        for series in SERIES_KIND:
            found = await rest.events(
                series_ticker=series, with_nested_markets=True, min_close_ts=min_close_s
            )
            for e in found:
                try:
                    if parse_nba_ticker(e.event_ticker).date not in dates:
                        continue
                except TickerError:
                    pass  # reported as unmatched by the matcher
                events.append(e)
        report = match_event_infos(events, games)
        reasons = {u.event_ticker: u.reason for u in report.unmatched}
        matched: list[MatchedMarket] = []
        wanted: set[str] = set()
        for e in events:
            gid = report.matched.get(e.event_ticker)
            self._store.set_match(e.event_ticker, e.series_ticker, gid, reasons.get(e.event_ticker))
            if gid is None:
                continue
            infos = list(e.markets) or await rest.markets(event_ticker=e.event_ticker)
            for info in infos:
                m = self._parse(info)
                if m is not None:
                    matched.append(
                        MatchedMarket(
                            m.ticker,
                            m.event_ticker,
                            gid,
                            m.kind,
                            m.date,
                            m.away,
                            m.home,
                            m.yes_team,
                            m.strike_tenths,
                            info.status,
                            info.result or None,
                        )
                    )
                    wanted.add(m.ticker)
        self._on_matched(tuple(matched))
        self.report = report
        await self._follow_books(wanted)
        log.info(
            "NBA matching: %d events matched to %d games, %d unmatched",
            len(report.matched),
            len(set(report.matched.values())),
            len(report.unmatched),
        )

    def _parse(self, info: MarketInfo) -> NbaMarket | None:
        try:
            m = parse_market(info)
        except TickerError as exc:
            log.warning("skipping Kalshi NBA market %s: %s", info.ticker, exc)
            return None
        self._kalshi.on_market(info)
        return m

    async def _follow_books(self, wanted: set[str]) -> None:
        gone, new = self._following - wanted, wanted - self._following
        if gone:
            await self._kalshi.unfollow(sorted(gone))
        if new:
            await self._kalshi.follow(sorted(new))
        self._following = wanted

    def last_cc(self, ticker: str) -> int | None:
        """The market's last price: the windows' (they hold the last day, restarts too), else the
        last trade the state saw."""
        price = self._kalshi.last_price(ticker)
        return price if price is not None else self._state.last_trade_cc.get(ticker)

    def home_win_ppm(self, game_id: int) -> int | None:
        """The last price of the home team's KXNBAGAME market, as ppm."""
        m = self._state.home_market(game_id)
        if m is None:
            return None
        cc = self.last_cc(m.ticker)
        return None if cc is None else cc * 100

    def markets_json(self, game_id: int) -> list[dict[str, Any]]:
        markets = self._state.markets.get(game_id, [])
        books = self._kalshi.books() if markets else {}
        out = []
        for m in markets:
            st = self._state.status_of(m.ticker)
            out.append(market_json(m, books.get(m.ticker), self.last_cc(m.ticker), st.status,
                                   st.result, self._state.fair_ppm(m.ticker)))  # fmt: skip
        return out

    def unmatched_for(self, game_id: int, date: str | None) -> dict[str, Any]:
        """Unmatched events on the game's date, and the series with no event for the game."""
        events = []
        for u in self.report.unmatched:
            try:
                if parse_nba_ticker(u.event_ticker).date != date:
                    continue
            except TickerError:
                pass
            events.append({"event_ticker": u.event_ticker, "reason": u.reason})
        have = {e.split("-", 1)[0] for e, g in self.report.matched.items() if g == game_id}
        return {"events": events, "missing_series": [s for s in SERIES_KIND if s not in have]}
