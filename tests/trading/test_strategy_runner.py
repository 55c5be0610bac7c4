"""StrategyRunner without the app: a real desk, books and NBA state fed events in pipeline order
(world, desk, strategies); intents become the strategy's orders with its version and signal; a
failing strategy is counted and disabled after N while the others go on; versions."""

from __future__ import annotations

import pytest

from kalshi.book_store import BookStore
from models import Action, Event, NbaMarketsMatched, Side
from nba.state import NbaState
from paper import Desk, DeskConfig, OrderRequest, OrderStatus
from paper.records import Fill
from strategies import REGISTRY
from strategies.base import Cancel, Context, Decision
from strategies.common import FieldError
from tests.strategies.world import BOOKS, HOME, MARKETS, T0, game, moneyline, snapshot
from trading.strategies import StrategyRunner, VersionRecord

BALANCE = 10_000 * 1_000_000


class Pipeline:
    """The pipeline's order for one event: books and NBA state, the desk, then strategies."""

    def __init__(self, **runner: object) -> None:
        self.books, self.nba = BookStore(), NbaState()
        self.desk = Desk(DeskConfig(accounts=dict.fromkeys(REGISTRY, BALANCE), latency_ms=0))
        self.versions: list[VersionRecord] = []
        self.runner = StrategyRunner(desk=self.desk, books=self.books, nba=self.nba,
                                     on_version=self.versions.append, now_ms=T0,
                                     **runner)  # type: ignore[arg-type]  # fmt: skip

    def handle(self, event: Event) -> None:
        self.books.apply(event)
        self.nba.on_event(event)
        self.desk.on_event(event)
        self.runner.on_event(event)

    def sharp_setup(self) -> None:
        self.handle(NbaMarketsMatched(MARKETS, T0, T0))
        self.handle(game(T0))
        for i, vendor in enumerate(BOOKS):
            self.handle(moneyline(vendor, 600_000, T0 + i))


def test_an_intent_becomes_the_strategys_order_with_version_and_signal() -> None:
    p = Pipeline(enabled=["sharp_line"])
    assert [(v.name, v.version, v.note) for v in p.versions] == [
        (name, 1, "defaults") for name in REGISTRY
    ]
    p.sharp_setup()
    p.handle(snapshot(HOME, 5_000, 5_200, T0 + 1_000))
    orders = list(p.desk.orders.values())
    assert len(orders) == 1
    o = orders[0]
    assert (o.account, o.ticker, o.side, o.price, o.count) == ("sharp_line", HOME, Side.YES,
                                                                5_200, 500)  # fmt: skip
    assert o.version == 1 and o.client_order_id == "sharp_line:v1:1"
    assert "consensus" in o.signal and o.probability_ppm is not None
    assert o.status is OrderStatus.EXECUTED  # no latency here: it met the book at once
    fills = [r for r in p.desk.drain() if isinstance(r, Fill)]
    assert [(f.account, f.version) for f in fills] == [("sharp_line", 1)]
    assert p.desk.ledger.accounts["sharp_line"].positions[HOME].net == 500
    assert p.runner.describe("sharp_line")["accepted"] == 1
    # a strategy not enabled sees nothing
    assert p.runner.slots["ev_multi"].strategy.status == "waiting for data"


def test_a_failing_strategy_is_counted_then_disabled_while_the_others_go_on() -> None:
    p = Pipeline(enabled=["sharp_line", "momentum"], max_failures=3)

    def boom(event: Event, ctx: Context) -> list[Decision]:
        raise RuntimeError("bad strategy")

    p.runner.slots["momentum"].strategy.on_event = boom  # type: ignore[method-assign]
    p.sharp_setup()
    for k in range(4):  # momentum reacts to books too: it fails on each
        p.handle(snapshot(HOME, 5_000, 5_200, T0 + 1_000 + k, seq=k + 1))
    m = p.runner.describe("momentum")
    assert m["failures"] == 3 and m["enabled"] is False and "bad strategy" in m["last_error"]
    assert "disabled after 3 failures" in m["status"]
    assert p.versions[-1].name == "momentum" and p.versions[-1].enabled is False
    assert m["version"] == 2
    assert p.runner.errors == 3
    # sharp_line went on: it bought on the first book
    assert [o.account for o in p.desk.orders.values()] == ["sharp_line"]
    # enabled again: the count starts over, as a new version
    p.runner.configure("momentum", enabled=True, now_ms=T0 + 10_000)
    m = p.runner.describe("momentum")
    assert (m["enabled"], m["failures"], m["version"]) == (True, 0, 3)


def test_a_strategy_may_cancel_only_its_own_orders() -> None:
    p = Pipeline(enabled=["momentum"], max_failures=10)

    def cancel_someone(event: Event, ctx: Context) -> list[Decision]:
        return [Cancel(1, "not mine")]

    p.runner.slots["momentum"].strategy.on_event = cancel_someone  # type: ignore[method-assign]
    assert p.desk.place(OrderRequest("manual", HOME, Side.YES, Action.BUY, 4_000, 100)).accepted
    p.handle(snapshot(HOME, 5_000, 5_200, T0))
    assert p.runner.describe("momentum")["failures"] == 1
    assert "not momentum's" in p.runner.describe("momentum")["last_error"]
    assert p.desk.orders[1].is_open


def test_configure_makes_versions_and_refuses_bad_values_whole() -> None:
    p = Pipeline()
    before = len(p.versions)
    slot = p.runner.configure("sharp_line", changes={"min_edge_cc": 500}, now_ms=T0 + 5)
    assert slot.version == 2 and slot.strategy.config.min_edge_cc == 500  # type: ignore[attr-defined]
    assert p.versions[-1] == VersionRecord("sharp_line", 2, False, p.versions[-1].config,
                                           "changed", T0 + 5)  # fmt: skip
    assert p.versions[-1].config["min_edge_cc"] == 500
    with pytest.raises(FieldError) as err:
        p.runner.configure("sharp_line", enabled=True, changes={"min_edge_cc": -1}, now_ms=T0)
    assert err.value.field == "min_edge_cc"
    assert p.runner.slots["sharp_line"].enabled is False  # nothing changed
    p.runner.configure("sharp_line", changes={"min_edge_cc": 500}, now_ms=T0 + 6)  # a no-op
    assert len(p.versions) == before + 1
    with pytest.raises(ValueError, match="unknown strategies: nope"):
        StrategyRunner(desk=p.desk, books=p.books, enabled=["nope"])
