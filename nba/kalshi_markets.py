"""Kalshi's NBA markets of the followed games: found over REST, matched to the games, their books
followed, their last price and lifecycle (status, result) kept."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kalshi.orderbook import OrderBook
from models import (
    Event,
    EventInfo,
    GameState,
    LifecycleEvent,
    LifecycleKind,
    MarketInfo,
    Trade,
)
from nba.match import (
    SERIES_KIND,
    MatchReport,
    NbaMarket,
    TickerError,
    match_event_infos,
    parse_market,
    parse_nba_ticker,
)
from nba.store import NbaStore
from nba.views import market_json

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
LIFECYCLE_STATUS = {
    LifecycleKind.DETERMINED: "determined",
    LifecycleKind.SETTLED: "settled",
    LifecycleKind.ACTIVATED: "active",
    LifecycleKind.DEACTIVATED: "inactive",
}
FINISHED = ("determined", "settled", "finalized")


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
    def __init__(self, kalshi: KalshiSide, store: NbaStore) -> None:
        self._kalshi = kalshi
        self._store = store
        self.by_game: dict[int, list[NbaMarket]] = {}
        self._game_of: dict[str, int] = {}
        self._status: dict[str, tuple[str, str | None]] = {}
        self._last_trade: dict[str, int] = {}
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
        self.by_game, self._game_of = {}, {}
        for e in events:
            gid = report.matched.get(e.event_ticker)
            self._store.set_match(e.event_ticker, e.series_ticker, gid, reasons.get(e.event_ticker))
            if gid is None:
                continue
            infos = list(e.markets) or await rest.markets(event_ticker=e.event_ticker)
            for info in infos:
                self._add(gid, info)
        self.report = report
        await self._follow_books()
        log.info(
            "NBA matching: %d events matched to %d games, %d unmatched",
            len(report.matched),
            len(set(report.matched.values())),
            len(report.unmatched),
        )

    def _add(self, gid: int, info: MarketInfo) -> None:
        try:
            m = parse_market(info)
        except TickerError as exc:
            log.warning("skipping Kalshi NBA market %s: %s", info.ticker, exc)
            return
        self._kalshi.on_market(info)
        self.by_game.setdefault(gid, []).append(m)
        self._game_of[m.ticker] = gid
        old = self._status.get(m.ticker)
        # REST may still list a market as open after its lifecycle said it was settled
        if old is None or old[0] not in FINISHED or info.result:
            self._status[m.ticker] = (info.status, info.result or None)

    async def _follow_books(self) -> None:
        wanted = set(self._game_of)
        gone, new = self._following - wanted, wanted - self._following
        if gone:
            await self._kalshi.unfollow(sorted(gone))
        if new:
            await self._kalshi.follow(sorted(new))
        self._following = wanted

    def on_event(self, event: Event) -> None:
        """Pipeline listener: trades and lifecycle of the matched markets."""
        if type(event) is Trade:
            if event.ticker in self._game_of:
                self._last_trade[event.ticker] = event.yes_price
        elif isinstance(event, LifecycleEvent) and event.ticker in self._game_of:
            status = LIFECYCLE_STATUS.get(event.kind)
            if status is not None:
                _, result = self._status.get(event.ticker, ("", None))
                self._status[event.ticker] = (status, event.result or result)

    def last_cc(self, ticker: str) -> int | None:
        price = self._kalshi.last_price(ticker)
        return price if price is not None else self._last_trade.get(ticker)

    def home_win_ppm(self, g: GameState) -> int | None:
        """The last price of the home team's KXNBAGAME market, as ppm."""
        for m in self.by_game.get(g.game_id, ()):
            if m.kind == "game" and m.yes_team == g.home:
                cc = self.last_cc(m.ticker)
                return None if cc is None else cc * 100
        return None

    def state_key(self, game_id: int) -> tuple[object, ...]:
        return tuple(self._status.get(m.ticker) for m in self.by_game.get(game_id, ()))

    def markets_json(self, game_id: int) -> list[dict[str, Any]]:
        markets = self.by_game.get(game_id, [])
        books = self._kalshi.books() if markets else {}
        return [
            market_json(m, books.get(m.ticker), self.last_cc(m.ticker),
                        *self._status.get(m.ticker, ("unknown", None)))
            for m in markets
        ]  # fmt: skip

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
