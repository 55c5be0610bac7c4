"""The simulated market: books, trades and lifecycle for a seeded catalogue (pure, no I/O).

Given the same seed and the same sequence of ``step`` calls the model produces the same trades,
book changes and lifecycle events; wall-clock time only stamps them.
"""

from __future__ import annotations

import bisect
import itertools
import random
import uuid
from collections.abc import Iterator
from typing import NamedTuple, Protocol

from models import MarketInfo
from sim.catalogue import SERIES_BY_TICKER, EventDef, Market, MarketDef, generate_events
from sim.history import KEEP_TRADES, TradeHistory

MAX_LEVELS = 24
LIFECYCLE_EVERY = 1_500  # on average one lifecycle step per this many trades, at least


class TradeEv(NamedTuple):
    row: int  # into the history


class DeltaEv(NamedTuple):
    market: int
    yes_side: bool
    price: int  # centicents, on the side's own leg
    delta: int  # hundredths
    ts_ms: int


class TickerEv(NamedTuple):
    market: int
    last_size: int
    ts_ms: int


class LifeEv(NamedTuple):
    market: int
    event_type: str
    ts_ms: int


SimEvent = TradeEv | DeltaEv | TickerEv | LifeEv


class ManagedMarkets(Protocol):
    """Markets priced and settled by their own layer (the NBA night) inside this model."""

    def advance(self, now_ms: int, out: list[SimEvent]) -> None:
        """Bring prices and lifecycle up to ``now_ms`` (called once per step, even with n=0)."""
        ...

    def take(self, n: int) -> int:
        """How many of ``n`` trades this step go to the managed markets."""
        ...

    def trade(self, k: int, now_ms: int, out: list[SimEvent]) -> None: ...


class MarketModel:
    def __init__(
        self,
        *,
        seed: int,
        n_markets: int,
        start_ms: int,
        random_nba: bool = True,
        id_salt: int = 0,
        history_keep: int = KEEP_TRADES,
        lifecycle_every: int = LIFECYCLE_EVERY,
    ) -> None:
        """``lifecycle_every``: the mean number of trades between two lifecycle steps (a market
        closed, determined or settled, an event listed)."""
        self.rng = random.Random(seed)
        self._life_every = max(1, lifecycle_every)
        self.history = TradeHistory(seed, id_salt, keep=history_keep)
        self.markets: list[Market] = []
        self.by_ticker: dict[str, Market] = {}
        self.events: dict[str, EventDef] = {}
        self.event_markets: dict[str, list[Market]] = {}
        self._gen = generate_events(random.Random(seed * 7919 + 1), start_ms, nba=random_nba)
        self._start_ms = start_ms
        self._weights: list[float] = []
        self._active: list[Market] = []
        self._added: list[Market] = []  # markets made since the last rebuild of the weights
        self._target_active = n_markets  # turnover closes markets to keep about this many
        self._cum: list[float] = []
        self._pending: list[Market] = []  # closed/determined markets awaiting their next step
        self._managed: set[int] = set()  # market indices owned by ``self._layer``
        self._layer: ManagedMarkets | None = None
        self._since_life = 0
        self._next_life = self._draw_life_gap()
        while len(self.markets) < n_markets:
            self._add_event(start_ms, announce=None)
        self._rebuild_weights()

    # -- catalogue -------------------------------------------------------------------------

    def _add_event(self, now_ms: int, announce: list[SimEvent] | None) -> None:
        ev, defs = next(self._gen)
        self.events[ev.event_ticker] = ev
        members = self.event_markets.setdefault(ev.event_ticker, [])
        for d in defs:
            m = self._new_market(ev, d, now_ms)
            members.append(m)
            if announce is not None:
                announce.append(LifeEv(m.index, "created", now_ms))
                announce.append(LifeEv(m.index, "activated", now_ms))
                for side, book in ((True, m.book_yes), (False, m.book_no)):
                    announce.extend(
                        DeltaEv(m.index, side, p, q, now_ms) for p, q in sorted(book.items())
                    )

    def _new_market(self, ev: EventDef, d: MarketDef, now_ms: int) -> Market:
        rng = self.rng
        index = len(self.markets)
        m = Market(
            index=index,
            ticker=d.ticker,
            event_ticker=ev.event_ticker,
            series_ticker=ev.series_ticker,
            title=d.title,
            yes_sub_title=d.yes_sub_title,
            no_sub_title=d.no_sub_title,
            floor_strike=d.floor_strike,
            strike_type=d.strike_type,
            tick=d.tick,
            market_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            open_ms=now_ms - rng.randint(1, 72) * 3_600_000,
            close_ms=now_ms + rng.randint(2, 24 * 14) * 3_600_000,
        )
        t = d.tick
        for k in range(1, rng.randint(4, 12)):
            p = d.mid - t * k
            if p >= t:
                m.book_yes[p] = self._level_qty()
            q = 10_000 - d.mid - t * k
            if q >= t:
                m.book_no[q] = self._level_qty()
        m.last_price = d.mid
        self.markets.append(m)
        self._added.append(m)
        self.by_ticker[m.ticker] = m
        self._weights.append(rng.paretovariate(1.0))  # Zipf-like activity
        return m

    def add_managed_event(self, ev: EventDef, defs: list[MarketDef], now_ms: int) -> list[Market]:
        """Markets the random trades and lifecycle never touch; their layer drives them."""
        self.events[ev.event_ticker] = ev
        members = self.event_markets.setdefault(ev.event_ticker, [])
        for d in defs:
            m = self._new_market(ev, d, now_ms)
            members.append(m)
            self._managed.add(m.index)
        self._rebuild_weights()
        return members

    def attach(self, layer: ManagedMarkets) -> None:
        self._layer = layer

    def _rebuild_weights(self) -> None:
        """The markets random trades pick from: those active before and those made since (a
        market never comes back once closed), so the cost follows the live markets, not all
        the markets ever made."""
        managed = self._managed
        candidates = itertools.chain(self._active, self._added)
        self._active = [m for m in candidates if m.status == "active" and m.index not in managed]
        self._added = []
        self._cum = list(itertools.accumulate(self._weights[m.index] for m in self._active))

    def info(self, m: Market) -> MarketInfo:
        return MarketInfo(
            ticker=m.ticker,
            event_ticker=m.event_ticker,
            series_ticker=m.series_ticker,
            title=m.title,
            subtitle=m.subtitle,
            status=m.status,
            open_ts_ms=m.open_ms,
            close_ts_ms=m.close_ms,
            floor_strike=m.floor_strike,
            result=m.result or None,
            yes_sub_title=m.yes_sub_title,
            no_sub_title=m.no_sub_title,
        )

    def series_of(self, ticker: str) -> object:
        return SERIES_BY_TICKER.get(ticker)

    # -- sizes -----------------------------------------------------------------------------

    def _level_qty(self) -> int:
        rng = self.rng
        whole = min(int(rng.paretovariate(1.1) * 40), 50_000)
        frac = rng.randrange(100) if rng.random() < 0.2 else 0
        return max(1, whole * 100 + frac)

    def _trade_qty(self) -> int:
        rng = self.rng
        if rng.random() < 0.15:
            return rng.randint(1, 99)  # fractional contracts: "0.24"
        whole = min(int(rng.paretovariate(1.25)), 20_000)
        return whole * 100 + (rng.randrange(100) if rng.random() < 0.1 else 0)

    # -- the step --------------------------------------------------------------------------

    def step(self, n: int, now_ms: int) -> list[SimEvent]:
        """Produce ``n`` trades at ``now_ms`` with the book changes and lifecycle they cause."""
        out: list[SimEvent] = []
        layer = self._layer
        k = 0
        if layer is not None:
            layer.advance(now_ms, out)
            k = layer.take(n)
            n -= k
        one_trade = self._one_trade
        for _ in range(n):
            self._since_life += 1
            if self._since_life >= self._next_life:
                self._since_life = 0
                self._next_life = self._draw_life_gap()
                self._lifecycle(now_ms, out)
            one_trade(now_ms, out)
        if layer is not None and k:
            layer.trade(k, now_ms, out)
        return out

    def _draw_life_gap(self) -> int:
        return 1 + int(self.rng.expovariate(1.0 / self._life_every))

    def _pick(self) -> Market:
        cum = self._cum
        return self._active[bisect.bisect_right(cum, self.rng.random() * cum[-1])]

    def _one_trade(self, now_ms: int, out: list[SimEvent]) -> None:
        m = self._pick()
        taker_yes = self.rng.random() < 0.5
        size = self.fill(m, taker_yes, now_ms, out)
        self._makers(m, not taker_yes, now_ms, out)
        out.append(TickerEv(m.index, size, now_ms))

    def fill(self, m: Market, taker_yes: bool, now_ms: int, out: list[SimEvent]) -> int:
        """One taker trade at the touch of ``m``'s book (refilled first if empty); its size."""
        rng = self.rng
        # A YES taker lifts the best NO bid (the YES ask); a NO taker hits the best YES bid.
        book = m.book_no if taker_yes else m.book_yes
        if not book:
            self._refill(m, not taker_yes, now_ms, out)
        level = max(book)
        yes_price = 10_000 - level if taker_yes else level
        size = min(self._trade_qty(), book[level])
        index = self.history.append(m.index, yes_price, size, taker_yes, now_ms)
        out.append(TradeEv(index))
        book[level] -= size
        if not book[level]:
            del book[level]
        out.append(DeltaEv(m.index, not taker_yes, level, -size, now_ms))
        m.last_price = yes_price
        m.volume += size
        m.open_interest += size if rng.random() < 0.6 else -min(size, m.open_interest)
        return size

    def _add(
        self, m: Market, yes_side: bool, price: int, qty: int, now_ms: int, out: list[SimEvent]
    ) -> None:
        book = m.book_yes if yes_side else m.book_no
        book[price] = book.get(price, 0) + qty
        out.append(DeltaEv(m.index, yes_side, price, qty, now_ms))

    def _refill(self, m: Market, yes_side: bool, now_ms: int, out: list[SimEvent]) -> None:
        """Put a level on an empty side just behind the other side's best bid."""
        other = m.book_no if yes_side else m.book_yes
        top = 10_000 - (max(other) if other else m.last_price) - m.tick
        price = max(m.tick, min(top, 10_000 - m.tick * 2))
        price -= price % m.tick
        self._add(m, yes_side, max(price, m.tick), self._level_qty(), now_ms, out)

    def add_level(
        self, m: Market, yes_side: bool, price: int, now_ms: int, out: list[SimEvent]
    ) -> None:
        self._add(m, yes_side, price, self._level_qty(), now_ms, out)

    def cancel_level(
        self, m: Market, yes_side: bool, price: int, now_ms: int, out: list[SimEvent]
    ) -> None:
        qty = (m.book_yes if yes_side else m.book_no).pop(price)
        out.append(DeltaEv(m.index, yes_side, price, -qty, now_ms))

    def trim_book(self, m: Market, now_ms: int, out: list[SimEvent]) -> None:
        for side, book in ((True, m.book_yes), (False, m.book_no)):
            while len(book) > MAX_LEVELS:
                self.cancel_level(m, side, min(book), now_ms, out)

    def _makers(self, m: Market, hit_yes: bool, now_ms: int, out: list[SimEvent]) -> None:
        """Makers replenish: refill the hit side (often one tick worse), sometimes improve the
        other side, cancel a deep level now and then; the book never crosses."""
        rng = self.rng
        t = m.tick
        hit = m.book_yes if hit_yes else m.book_no
        other = m.book_no if hit_yes else m.book_yes
        if not hit:
            self._refill(m, hit_yes, now_ms, out)
        elif rng.random() < 0.35:
            best_other = max(other) if other else 0
            worse = rng.random() < 0.55
            p = max(hit) - t if worse else max(hit)
            if t <= p and p + best_other < 10_000:
                self._add(m, hit_yes, p, self._level_qty(), now_ms, out)
        if rng.random() < 0.25:
            best_hit = max(hit) if hit else 0
            p = (max(other) if other else t) + t
            if p + best_hit < 10_000 and p <= 10_000 - t:
                self._add(m, not hit_yes, p, self._level_qty(), now_ms, out)
        for side, book in ((True, m.book_yes), (False, m.book_no)):
            if len(book) > MAX_LEVELS or (len(book) > 3 and rng.random() < 0.05):
                worst = min(book)
                qty = book.pop(worst)
                out.append(DeltaEv(m.index, side, worst, -qty, now_ms))

    # -- lifecycle -------------------------------------------------------------------------

    def _lifecycle(self, now_ms: int, out: list[SimEvent]) -> None:
        rng = self.rng
        if self._pending and rng.random() < 0.6:
            m = self._pending.pop(0)
            if m.status == "closed":
                p_yes = m.last_price / 10_000
                self.determine_market(m, "yes" if rng.random() < p_yes else "no", now_ms, out)
                self._pending.append(m)
            else:
                self.settle_market(m, now_ms, out)
            return
        # Close one, and more while there are more than the catalogue started with: each
        # event adds several markets, and a run of days must not pile them up.
        while len(self._active) > 8:
            m = self._active.pop(rng.randrange(len(self._active)))
            self.close_market(m, now_ms, out)
            self._pending.append(m)
            if len(self._active) <= self._target_active:
                break
        self._add_event(now_ms, announce=out)
        self._rebuild_weights()

    @staticmethod
    def close_market(m: Market, now_ms: int, out: list[SimEvent]) -> None:
        """Stop trading: status closed, its book pulled (as deltas)."""
        m.status = "closed"
        m.close_ms = now_ms
        out.append(LifeEv(m.index, "close_date_updated", now_ms))
        out.append(LifeEv(m.index, "deactivated", now_ms))
        for side, book in ((True, m.book_yes), (False, m.book_no)):
            for price, qty in sorted(book.items()):
                out.append(DeltaEv(m.index, side, price, -qty, now_ms))
            book.clear()

    @staticmethod
    def determine_market(m: Market, result: str, now_ms: int, out: list[SimEvent]) -> None:
        m.result = result
        m.settlement_value = 10_000 if result == "yes" else 0
        m.status = "determined"
        m.determined_ms = now_ms
        out.append(LifeEv(m.index, "determined", now_ms))

    @staticmethod
    def settle_market(m: Market, now_ms: int, out: list[SimEvent]) -> None:
        m.status = "finalized"
        m.settled_ms = now_ms
        out.append(LifeEv(m.index, "settled", now_ms))

    def iter_open(self) -> Iterator[Market]:
        return (m for m in self.markets if m.status == "active")
