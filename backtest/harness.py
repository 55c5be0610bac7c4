"""Strategies on the pipeline, each beside its two controls, all on one paper desk.

The strategies run as in the app: ``trading.strategies.StrategyRunner``, a pipeline listener
after the desk's (``DeskRunner.on_event``), so a strategy sees each event through the very
``Context`` it has live. ``Controls`` are the runner's ``place``/``cancel`` hooks: a strategy's
order goes to the desk (latency, the risk gate, the fill model) for its account and, accepted,
goes transformed to its reverse control's and random baseline's accounts
(``backtest.controls``); a cancel takes the controls' orders with it.

What the desk emits is kept (``KeptRecords``, a paper store that holds instead of writing): the
report is drawn from it. ``ClosingLines`` notes, for each game, the consensus the moment it
tips off (its markets' fair YES probabilities then), for closing-line value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from backtest.controls import RANDOM, REVERSE, RandomEntries, control_account, reverse
from kalshi.book_store import BookStore
from models import Event, GameState, GameStatus, LifecycleEvent, NbaMarketsMatched
from nba.state import NbaState
from paper import Desk, OrderRequest, PlaceResult
from paper.records import Record
from paper.settlement import yes_value
from storage.paper_store import PaperStore
from strategies.base import Intent
from trading.runner import DeskRunner

log = logging.getLogger(__name__)

MAX_FAILURES = 10  # a strategy's exceptions before the runner switches it off
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


@dataclass(slots=True)
class Placed:
    """A strategy's order and its controls' order ids (kind -> id)."""

    controls: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Seat:
    """One strategy's controls: its random draws and the control orders not placed."""

    random: RandomEntries
    skipped: dict[str, int] = field(default_factory=dict)  # control kind -> orders not placed


class Controls:
    """The ``place``/``cancel`` hooks of ``trading.strategies.StrategyRunner`` for a backtest:
    each strategy order goes to the desk (``DeskRunner.place``) for the strategy's account and,
    once accepted, its reverse and its random baseline go for the control accounts; a cancel of a
    strategy's order cancels its controls' too. ``signals`` holds every placed order's signal
    (controls too), for the report."""

    def __init__(
        self,
        *,
        runner: DeskRunner,
        books: BookStore,
        nba: NbaState | None,
        names: Iterable[str],
        seeds: dict[str, int],
    ) -> None:
        self.runner = runner
        self.books = books
        self.nba = nba
        self.seats = {n: Seat(RandomEntries.seeded(seeds[n])) for n in sorted(names)}
        self.placed: dict[int, Placed] = {}  # strategy order id -> its controls
        self.signals: dict[int, str] = {}  # every order placed (controls too) -> its signal

    @staticmethod
    def accounts(names: Iterable[str]) -> list[str]:
        """Every account a backtest of ``names`` needs: each strategy's and its controls'."""
        return [a for n in sorted(names) for a in (n, *(control_account(n, k) for k in CONTROLS))]

    def place(self, req: OrderRequest) -> PlaceResult:
        seat = self.seats[req.account]
        own_book = self.books.book(req.ticker)
        result = self.runner.place(req)
        if result.order_id is None:
            return result  # rejected: counted by the desk; the controls follow accepted orders
        placed = Placed()
        self.placed[result.order_id] = placed
        self.signals[result.order_id] = req.signal
        intent = Intent(req.ticker, req.side, req.action, req.count, req.price, req.tif,
                        req.probability_ppm, req.signal, req.expiry_ms)  # fmt: skip
        self._control(seat, req.account, placed, REVERSE, reverse(own_book, intent))
        ran = seat.random.order(intent, self._candidates, self.books.book, own_book)
        self._control(seat, req.account, placed, RANDOM, ran)
        return result

    def cancel(self, order_id: int) -> bool:
        done = self.runner.cancel(order_id)
        placed = self.placed.get(order_id)
        if placed is not None:
            for oid in placed.controls.values():
                self.runner.cancel(oid)
        return done

    def _control(
        self, seat: Seat, name: str, placed: Placed, kind: str, intent: Intent | None
    ) -> None:
        if intent is None:
            seat.skipped[kind] = seat.skipped.get(kind, 0) + 1
            return
        result = self.runner.place(_request(control_account(name, kind), intent))
        if result.order_id is not None:
            placed.controls[kind] = result.order_id
            self.signals[result.order_id] = intent.signal
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


def game_clusters(desk: Desk) -> Callable[[Event], None]:
    """A listener (``NbaMarketsMatched``) that makes each matched market's game the desk's
    cluster for it, whatever its event ticker."""

    def on_event(event: Event) -> None:
        if type(event) is NbaMarketsMatched:
            for m in event.markets:
                desk.markets.map_game(m.ticker, f"game {m.game_id}")

    return on_event


def _request(account: str, intent: Intent) -> OrderRequest:
    return OrderRequest(
        account, intent.ticker, intent.side, intent.action, intent.price, intent.count,
        intent.tif, intent.expiry_ms, intent.probability_ppm, signal=intent.signal,
    )  # fmt: skip
