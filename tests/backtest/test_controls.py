"""The controls on a hand-built market: the reverse control takes the other side as the
strategy took its own, and on a market that settles its P&L before fees mirrors the strategy's
less the spread; the random baseline trades as many contracts at the same moments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest

from aggregator import Aggregator
from backtest.controls import RandomEntries, aggression, reverse, touch
from backtest.harness import Controls, KeptRecords
from clock import ManualClock
from kalshi.book_store import BookStore
from kalshi.orderbook import OrderBook
from models import Action, BookSnapshot, Event, LifecycleEvent, LifecycleKind, Side
from paper import Desk, DeskConfig, TimeInForce
from paper.records import Fill
from strategies.base import REGISTRY, Context, Decision, Intent, Strategy
from trading.runner import DeskRunner
from trading.strategies import StrategyRunner
from websocket_handler import Hub

T = "KXNBAGAME-26JAN07LALSAS-SAS"
T0 = 1_767_225_600_000
USD = 1_000_000


def book(yes: dict[int, int], no: dict[int, int]) -> OrderBook:
    b = OrderBook(T)
    b.apply_snapshot(BookSnapshot(T, tuple(yes.items()), tuple(no.items()), 1, 1, T0, T0))
    return b


def test_the_reverse_order_reaches_as_far_past_the_other_touch() -> None:
    b = book({4800: 5000}, {4900: 5000})  # YES 48 bid / 51 ask; NO 49 bid / 52 ask
    assert touch(b, Side.YES, Action.BUY) == 5100 and touch(b, Side.NO, Action.BUY) == 5200
    assert touch(b, Side.YES, Action.SELL) == 4800
    take = Intent(T, Side.YES, Action.BUY, 100, 5100)  # at the ask
    assert aggression(b, take) == 0
    assert reverse(b, take).side is Side.NO and reverse(b, take).price == 5200
    rest = Intent(T, Side.YES, Action.BUY, 100, 4900, TimeInForce.GTC)  # a tick above the bid
    assert aggression(b, rest) == -200
    assert reverse(b, rest).price == 5000  # a tick above the NO bid: NO 49 -> 50
    sell = Intent(T, Side.YES, Action.SELL, 100, 4700)  # a tick past the YES bid
    r = reverse(b, sell)
    assert (r.side, r.action, r.price) == (Side.NO, Action.SELL, 4800)  # a tick past NO's 49
    empty = OrderBook(T)
    assert reverse(empty, take).price == 4900  # no book: the same trade the other way round


class NoConfig:
    def validate(self) -> None:
        pass


class BuyYesOnce(Strategy):
    name: ClassVar[str] = "test_buy_yes_once"
    Config: ClassVar[type] = NoConfig
    kinds: ClassVar[tuple[type, ...]] = (BookSnapshot,)

    def on_event(self, event: Event, ctx: Context) -> list[Decision]:
        assert isinstance(event, BookSnapshot)
        if ctx.position(event.ticker) or ctx.open_orders():
            return []
        return [Intent(event.ticker, Side.YES, Action.BUY, 1_000, 5100, TimeInForce.IOC,
                       probability_ppm=700_000, signal="hand case")]  # fmt: skip


@pytest.fixture
def registered() -> Iterator[None]:
    """The test strategy in the registry for the runner, and out of it again after."""
    REGISTRY[BuyYesOnce.name] = BuyYesOnce
    try:
        yield
    finally:
        del REGISTRY[BuyYesOnce.name]


@pytest.mark.usefixtures("registered")
def test_the_reverse_mirrors_a_settled_markets_pnl_before_fees_less_the_spread() -> None:
    clock = ManualClock(T0)
    accounts = Controls.accounts(["test_buy_yes_once"])
    desk = Desk(DeskConfig(accounts=dict.fromkeys(accounts, 1_000 * USD), latency_ms=0))
    store = KeptRecords()
    runner = DeskRunner(desk, store=store, hub=Hub(clock=clock, batch_ms=50), clock=clock,
                        snapshots=False, stream=False)  # fmt: skip
    books = BookStore()
    name = BuyYesOnce.name
    controls = Controls(runner=runner, books=books, nba=None, names=[name], seeds={name: 5})
    strategies = StrategyRunner(desk=desk, books=books, aggregator=Aggregator(),
                                place=controls.place, cancel=controls.cancel, names=[name],
                                enabled=[name])  # fmt: skip

    def handle(event: Event) -> None:  # the pipeline's order: its books, the desk, strategies
        clock.set(max(clock.now_ms(), event.recv_ms))
        if isinstance(event, BookSnapshot):
            books.on_snapshot(event)
        runner.on_event(event)
        strategies.on_event(event)

    # YES bid 48 (10 contracts... plenty), NO bid 49: YES ask 51, NO ask 52
    handle(BookSnapshot(T, ((4800, 5_000),), ((4900, 5_000),), 1, 1, T0, T0))
    handle(LifecycleEvent(T, LifecycleKind.DETERMINED, T0 + 1_000, T0 + 1_000, result="yes"))

    gross = {}
    for account in accounts:
        m = desk.metrics(account)
        gross[account] = m.equity_mid - m.start + m.fees
    # 10 YES at $0.51 paid $1 each: +$4.90; the reverse bought 10 NO at $0.52: -$5.20
    assert gross["test_buy_yes_once"] == 4_900_000
    assert gross["test_buy_yes_once~reverse"] == -5_200_000
    spread = 10 * (5100 - 4800) * 100  # 10 contracts x 3 cents, micro-dollars
    assert gross["test_buy_yes_once~reverse"] == -gross["test_buy_yes_once"] - spread
    # the random baseline: as many contracts, at the same moment, on the one usable market
    fills = [r for r in store.records if isinstance(r, Fill)]
    by = {a: sum(f.count for f in fills if f.account == a) for a in accounts}
    assert by == dict.fromkeys(accounts, 1_000)
    assert len({f.ts_ms for f in fills}) == 1
    assert controls.placed and all(len(p.controls) == 2 for p in controls.placed.values())
    assert set(controls.signals.values()) == {"hand case", "reverse: hand case",
                                              f"random for {T}"}  # fmt: skip
    assert desk.metrics("test_buy_yes_once").brier == (0.7 - 1) ** 2
    assert desk.metrics("test_buy_yes_once~reverse").brier is None  # it states nothing


def test_the_random_baseline_pairs_each_market_once_from_its_seed() -> None:
    b = book({4800: 5000}, {4900: 5000})
    pool = ["A", "B", "C", "D"]
    take = Intent(T, Side.YES, Action.BUY, 100, 5100)

    def draws(seed: int) -> list[tuple[str, Side, int]]:
        r = RandomEntries.seeded(seed)
        out = []
        for _ in range(3):  # the same market again: the same pair
            got = r.order(take, lambda: pool, lambda t: b, b)
            assert got is not None
            out.append((got.ticker, got.side, got.price))
        return out

    first = draws(11)
    assert first == draws(11) and len(set(first)) == 1
    assert first[0][0] in pool and first[0][2] == touch(b, first[0][1], Action.BUY)
    assert RandomEntries.seeded(3).order(take, list, lambda t: b, b) is None  # nothing usable
