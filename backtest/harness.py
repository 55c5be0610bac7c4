"""Strategies on the pipeline, each beside its two controls, all on one paper desk.

``Harness`` is a pipeline listener added after the desk's (``DeskRunner.on_event``, as the app
adds it): a strategy sees each event of its ``kinds`` once the books, windows, NBA state and the
desk have applied it, through a read-only ``AccountView`` of its own account, and its intents go
to the desk through the runner's ``place`` (latency, the risk gate, the fill model), as a paper
order of its account; each one also goes, transformed, to the strategy's reverse control and
random baseline accounts (``backtest.controls``). One strategy's exception is logged and
counted, and after ``MAX_FAILURES`` the strategy is switched off; the others go on.

What the desk emits is kept (``KeptRecords``, a paper store that holds instead of writing): the
report is drawn from it. ``ClosingLines`` notes, for each game, the consensus the moment it
tips off (its markets' fair YES probabilities then), for closing-line value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aggregator import Aggregator, MarketWindow
from backtest.controls import RANDOM, REVERSE, RandomEntries, control_account, reverse
from kalshi.book_store import BookStore
from kalshi.orderbook import OrderBook
from models import Event, GameState, GameStatus, LifecycleEvent, MarketInfo, NbaMarketsMatched
from nba.state import NbaState
from paper import Order, OrderRequest
from paper.fees import fee_micros
from paper.records import Record
from paper.settlement import yes_value
from storage.market_meta import MarketDirectory
from storage.paper_store import PaperStore
from strategies.base import Cancel, Decision, Intent, Strategy
from trading.runner import DeskRunner

log = logging.getLogger(__name__)

MAX_FAILURES = 10
CONTROLS = (REVERSE, RANDOM)


class KeptRecords(PaperStore):
    """The desk's records held in memory, in order; nothing written (a backtest never
    restarts from its file)."""

    def __init__(self) -> None:  # no database: nothing is stored
        self.records: list[Record] = []

    def add(self, records: Iterable[Record]) -> None:
        self.records.extend(records)

    def save_state(self, ts_ms: int, snapshot: dict[str, Any]) -> None:
        pass


@dataclass(slots=True)
class ClosingLines:
    """Each game's fair YES ppm per market as of its tip-off, and each market's result: a
    listener placed before the NBA state's, so that it reads the state as it stood before the
    game went live. A game market's closing line is the sportsbooks' no-vig moneyline
    consensus; a spread's or total's, the model's fair value on the consensus line then."""

    nba: NbaState
    start_ms: dict[int, int] = field(default_factory=dict)
    closing: dict[str, int] = field(default_factory=dict)  # ticker -> YES ppm at tip-off
    game_of: dict[str, int] = field(default_factory=dict)
    results: dict[str, int] = field(default_factory=dict)  # ticker -> centicents YES paid

    KINDS: ClassVar[tuple[type, ...]] = (GameState, NbaMarketsMatched, LifecycleEvent)

    def on_event(self, event: Event) -> None:
        if type(event) is LifecycleEvent:
            value = yes_value(event)
            if value is not None and event.ticker not in self.results:
                self.results[event.ticker] = value  # the first settles it, as on the desk
            return
        if type(event) is NbaMarketsMatched:
            for m in event.markets:
                self.game_of[m.ticker] = m.game_id
            return
        if type(event) is not GameState or event.status is GameStatus.SCHEDULED:
            return
        gid = event.game_id
        if gid in self.start_ms:
            return
        self.start_ms[gid] = event.recv_ms
        before = self.nba.games.get(gid)
        if before is None or before.status is not GameStatus.SCHEDULED:
            return  # first seen live: no line from before the start
        home = self.nba.consensus_home_ppm(gid)
        for market in self.nba.markets.get(gid, ()):
            if market.kind == "game" and home is not None:
                ppm: int | None = home if market.yes_team == before.home else 1_000_000 - home
            else:
                ppm = self.nba.fair_ppm(market.ticker)
            if ppm is not None:
                self.closing[market.ticker] = ppm


class AccountView:
    """``strategies.base.Context`` for one account, over the pipeline's world and the desk."""

    def __init__(self, harness: Harness, account: str) -> None:
        self._h = harness
        self.account = account

    @property
    def now_ms(self) -> int:
        return self._h.runner.desk.now_ms

    @property
    def nba(self) -> NbaState | None:
        return self._h.nba

    def book(self, ticker: str) -> OrderBook | None:
        return self._h.books.book(ticker)

    def window(self, ticker: str, window: str) -> MarketWindow | None:
        return self._h.aggregator.market(ticker, window)

    def market(self, ticker: str) -> MarketInfo | None:
        return self._h.meta.info(ticker)

    def taker_fee(self, ticker: str, count: int, price: int) -> int:
        schedule = self._h.runner.desk.markets.fee_schedule(ticker)
        return fee_micros(((price, count),), schedule, maker=False)

    def position(self, ticker: str) -> int:
        pos = self._h.runner.desk.ledger.accounts[self.account].positions.get(ticker)
        return pos.net if pos is not None else 0

    def open_orders(self) -> Sequence[Order]:
        return self._h.runner.desk.open_orders(self.account)


@dataclass(slots=True)
class Placed:
    """An order a strategy asked for: its intent (signal, probability) and its controls'."""

    intent: Intent
    controls: dict[str, int] = field(default_factory=dict)  # kind -> the control's order id


@dataclass(slots=True)
class Seat:
    strategy: Strategy
    view: AccountView
    random: RandomEntries
    failures: int = 0
    enabled: bool = True
    skipped: dict[str, int] = field(default_factory=dict)  # control kind -> orders not placed


class Harness:
    def __init__(
        self,
        *,
        runner: DeskRunner,
        books: BookStore,
        aggregator: Aggregator,
        meta: MarketDirectory,
        nba: NbaState | None,
        strategies: Sequence[Strategy],
        seeds: dict[str, int],
    ) -> None:
        self.runner = runner
        self.books = books
        self.aggregator = aggregator
        self.meta = meta
        self.nba = nba
        self.seats = {
            s.name: Seat(s, AccountView(self, s.name), RandomEntries.seeded(seeds[s.name]))
            for s in sorted(strategies, key=lambda s: s.name)
        }
        self.placed: dict[int, Placed] = {}  # strategy order id -> what it was
        self.intents: dict[int, Intent] = {}  # every order placed (controls too) -> its intent
        self.errors: dict[str, int] = {}
        # the strategies' kinds, and the matches (games are the desk's clusters)
        self.kinds: tuple[type, ...] = tuple(
            dict.fromkeys([NbaMarketsMatched, *(k for s in strategies for k in s.kinds)])
        )

    @staticmethod
    def accounts(names: Iterable[str]) -> list[str]:
        """Every account a backtest of ``names`` needs: each strategy's and its controls'."""
        return [a for n in sorted(names) for a in (n, *(control_account(n, k) for k in CONTROLS))]

    def on_event(self, event: Event) -> None:
        if type(event) is NbaMarketsMatched:
            desk = self.runner.desk
            for m in event.markets:  # clusters are games, whatever the event tickers
                desk.markets.map_game(m.ticker, f"game {m.game_id}")
        for seat in self.seats.values():
            if not seat.enabled or not isinstance(event, seat.strategy.kinds):
                continue
            try:
                decisions = seat.strategy.on_event(event, seat.view)
            except Exception:
                self._failed(seat, event)
                continue
            if decisions:
                self._act(seat, decisions)

    def _failed(self, seat: Seat, event: Event) -> None:
        name = seat.strategy.name
        seat.failures += 1
        self.errors[name] = self.errors.get(name, 0) + 1
        log.exception("strategy %s failed on %r", name, event)
        if seat.failures >= MAX_FAILURES:
            seat.enabled = False
            log.error("strategy %s switched off after %d errors", name, seat.failures)

    def _act(self, seat: Seat, decisions: Sequence[Decision]) -> None:
        name = seat.strategy.name
        for d in decisions:
            if isinstance(d, Cancel):
                placed = self.placed.get(d.order_id)
                if placed is None:  # not one of its own: ignored
                    continue
                self.runner.cancel(d.order_id)
                for oid in placed.controls.values():
                    self.runner.cancel(oid)
                continue
            own_book = self.books.book(d.ticker)
            result = self.runner.place(_request(name, d))
            if result.order_id is None:
                continue  # rejected: counted by the desk; the controls follow accepted orders
            placed = Placed(d)
            self.placed[result.order_id] = placed
            self.intents[result.order_id] = d
            rev = reverse(own_book, d)
            self._control(seat, placed, REVERSE, rev)
            ran = seat.random.order(d, self._candidates, self.books.book, own_book)
            self._control(seat, placed, RANDOM, ran)

    def _control(self, seat: Seat, placed: Placed, kind: str, intent: Intent | None) -> None:
        if intent is None:
            seat.skipped[kind] = seat.skipped.get(kind, 0) + 1
            return
        account = control_account(seat.strategy.name, kind)
        result = self.runner.place(_request(account, intent))
        if result.order_id is not None:
            placed.controls[kind] = result.order_id
            self.intents[result.order_id] = intent
        else:
            seat.skipped[kind] = seat.skipped.get(kind, 0) + 1

    def _candidates(self) -> list[str]:
        """Markets the random baseline may draw: matched NBA markets (every followed market
        without the NBA side) whose books are usable and that have not finished, sorted."""
        finished = self.runner.desk.markets.finished
        if self.nba is not None and self.nba.markets:
            tickers: Iterable[str] = (m.ticker for ms in self.nba.markets.values() for m in ms)
        else:
            tickers = self.books.all_books()
        out = []
        for t in sorted(set(tickers)):
            book = self.books.book(t)
            if book is not None and not book.stale and book.yes and book.no and t not in finished:
                out.append(t)
        return out


def _request(account: str, intent: Intent) -> OrderRequest:
    return OrderRequest(
        account, intent.ticker, intent.side, intent.action, intent.price, intent.count,
        intent.tif, intent.expiry_ms, intent.probability_ppm, signal=intent.signal,
    )  # fmt: skip
