"""The strategies on the pipeline: each event to every enabled strategy whose ``kinds`` match,
with a read-only ``Context`` over the world as of that event, and each decision to the desk for
the strategy's own account (account name = strategy name).

``StrategyRunner`` is synchronous: no awaits on the per-event path, so a backtest drives it the
way the pipeline does (``runner.on_event(event)`` after its desk has had the event). Only
``open_runner`` (the app's way of building one, reading stored versions) awaits.

What it guarantees:

- an ``Intent`` becomes an ``OrderRequest`` for the strategy's account carrying the intent's
  probability and signal, the strategy's config ``version`` and a client order id
  ``name:vN:seq``; a ``Cancel`` cancels only the strategy's own open orders;
- a strategy that raises (or returns something that is not a decision) is logged with the
  event, counted and, after ``max_failures`` in all, disabled; the others go on;
- every change of a strategy (its config or whether it runs, and a disable after failures) is a
  new version, told to ``on_version`` (the app stores it); a new config builds a new instance,
  so the strategy's rolling windows start empty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aggregator import Aggregator, MarketWindow
from kalshi.book_store import BookStore
from kalshi.orderbook import OrderBook
from models import Event, MarketInfo
from nba.state import NbaState
from paper import Desk, Order, OrderRequest, PlaceResult
from paper.fees import fee_micros
from storage.paper_store import PaperStore
from strategies import REGISTRY
from strategies.base import Cancel, Intent, Strategy, StrategyConfig
from strategies.common import config_json, replaced

log = logging.getLogger(__name__)

MAX_FAILURES = 5
ERROR_CHARS = 200  # of the last exception's text, kept for the status


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One version of a strategy: its config, whether it runs, and what made it."""

    name: str
    version: int
    enabled: bool
    config: dict[str, Any]
    note: str
    ts_ms: int


@dataclass(slots=True)
class Slot:
    """One strategy as the runner holds it."""

    strategy: Strategy
    version: int
    enabled: bool
    failures: int = 0
    last_error: str = ""
    intents: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seq: int = 0

    @property
    def name(self) -> str:
        return self.strategy.name


class DeskContext:
    """A strategy's ``Context``: the pipeline's books, windows and NBA state, and the desk's
    positions, open orders, market details and fees for one account. Read-only."""

    __slots__ = ("_agg", "_books", "_desk", "_info", "_nba", "account", "now")

    def __init__(
        self,
        desk: Desk,
        books: BookStore,
        nba: NbaState | None,
        aggregator: Aggregator | None,
        info: Callable[[str], MarketInfo | None] | None,
    ) -> None:
        self._desk, self._books, self._nba, self._agg, self._info = (
            desk, books, nba, aggregator, info,
        )  # fmt: skip
        self.account = ""
        self.now = 0

    @property
    def now_ms(self) -> int:
        return self.now

    @property
    def nba(self) -> NbaState | None:
        return self._nba

    def book(self, ticker: str) -> OrderBook | None:
        return self._books.book(ticker)

    def window(self, ticker: str, window: str) -> MarketWindow | None:
        return self._agg.market(ticker, window) if self._agg is not None else None

    def market(self, ticker: str) -> MarketInfo | None:
        found = self._desk.markets.info(ticker)
        if found is None and self._info is not None:
            found = self._info(ticker)
        return found

    def taker_fee(self, ticker: str, count: int, price: int) -> int:
        schedule = self._desk.markets.fee_schedule(ticker)
        return fee_micros(((price, count),), schedule, maker=False)

    def position(self, ticker: str) -> int:
        acct = self._desk.ledger.accounts.get(self.account)
        pos = acct.positions.get(ticker) if acct is not None else None
        return pos.net if pos is not None else 0

    def open_orders(self) -> Sequence[Order]:
        orders = self._desk.open.get(self.account)  # the desk's own, as ``Desk.open_orders``
        return list(orders.values()) if orders else []


class StrategyRunner:
    def __init__(
        self,
        *,
        desk: Desk,
        books: BookStore,
        nba: NbaState | None = None,
        aggregator: Aggregator | None = None,
        place: Callable[[OrderRequest], PlaceResult] | None = None,
        cancel: Callable[[int], bool] | None = None,
        market_info: Callable[[str], MarketInfo | None] | None = None,
        names: Iterable[str] | None = None,
        enabled: Iterable[str] = (),
        configs: Mapping[str, StrategyConfig] | None = None,
        versions: Mapping[str, int] | None = None,
        max_failures: int = MAX_FAILURES,
        on_version: Callable[[VersionRecord], None] | None = None,
        now_ms: int = 0,
    ) -> None:
        """``desk``: the desk the strategies' accounts live on (one account per strategy, named
        for it: ``DeskConfig(accounts=...)`` must have them); ``books``, ``nba``, ``aggregator``:
        the world the events build (the pipeline's; a backtest's own). ``place``/``cancel``:
        where decisions go (default ``desk.place``/``desk.cancel``; the app passes its
        ``DeskRunner``'s, which also store the records). ``market_info``: market details the
        desk has not seen. ``names``: the strategies held (default every registered one);
        ``enabled``: those that run from the start; ``configs``/``versions``: a config and
        version to start from per name (default: the defaults, version 1). ``on_version``
        hears every new version (the initial ones included, with ``now_ms``)."""
        wanted = list(REGISTRY) if names is None else list(names)
        on = set(enabled)
        unknown = sorted((set(wanted) | on) - set(REGISTRY))
        if unknown:
            raise ValueError(f"unknown strategies: {', '.join(unknown)} (known: {known()})")
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.desk = desk
        self._place = place or desk.place
        self._cancel = cancel or desk.cancel
        self.max_failures = max_failures
        self._on_version = on_version
        self.ctx = DeskContext(desk, books, nba, aggregator, market_info)
        self.slots: dict[str, Slot] = {}
        self.errors = 0
        # event type -> the enabled slots whose kinds take it, in order; cleared on any change
        self._routes: dict[type, tuple[Slot, ...]] = {}
        for name in wanted:
            cls = REGISTRY[name]
            config = (configs or {}).get(name) or cls.Config()
            version = (versions or {}).get(name)
            slot = Slot(cls(config), version or 1, name in on)
            self.slots[name] = slot
            if version is None:
                self._record(slot, "defaults", now_ms)

    # ---- the per-event path: synchronous ------------------------------------------------------

    @property
    def kinds(self) -> tuple[type, ...]:
        """Every event type a held strategy reacts to (the runner's listener ``kinds``)."""
        return tuple(dict.fromkeys(k for s in self.slots.values() for k in s.strategy.kinds))

    def on_event(self, event: Event) -> None:
        cls = type(event)
        route = self._routes.get(cls)
        if route is None:
            route = self._routes[cls] = tuple(
                s for s in self.slots.values() if s.enabled and issubclass(cls, s.strategy.kinds)
            )
        for slot in route:
            if slot.enabled:  # one may be switched off by an earlier call for this event
                self._call(slot, event)

    def _call(self, slot: Slot, event: Event) -> None:
        ctx = self.ctx
        ctx.account = slot.name
        ctx.now = event.recv_ms
        try:
            decisions = slot.strategy.on_event(event, ctx)
            for d in decisions:
                if isinstance(d, Intent):
                    self._send(slot, d)
                elif isinstance(d, Cancel):
                    self._cancel_own(slot, d)
                else:
                    raise TypeError(f"not a decision: {d!r}")
        except Exception as exc:
            self.errors += 1
            slot.failures += 1
            slot.last_error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
            log.exception("strategy %s failed on %r", slot.name, event)
            if slot.failures >= self.max_failures:
                slot.enabled = False
                self._routes.clear()
                slot.version += 1
                slot.strategy.status = f"disabled after {slot.failures} failures: {slot.last_error}"
                log.error("strategy %s disabled after %d failures", slot.name, slot.failures)
                self._record(slot, f"disabled after {slot.failures} failures", event.recv_ms)

    def _send(self, slot: Slot, intent: Intent) -> None:
        slot.seq += 1
        slot.intents += 1
        req = OrderRequest(
            slot.name, intent.ticker, intent.side, intent.action, intent.price, intent.count,
            intent.tif, intent.expiry_ms, intent.probability_ppm,
            f"{slot.name}:v{slot.version}:{slot.seq}", intent.signal, slot.version,
        )  # fmt: skip
        result = self._place(req)
        if result.accepted:
            slot.accepted += 1
        else:
            reason = str(result.reason)
            slot.rejected[reason] = slot.rejected.get(reason, 0) + 1

    def _cancel_own(self, slot: Slot, cancel: Cancel) -> None:
        order = self.desk.orders.get(cancel.order_id)
        if order is None or order.account != slot.name:
            raise ValueError(f"order {cancel.order_id} is not {slot.name}'s to cancel")
        self._cancel(cancel.order_id)

    # ---- control ------------------------------------------------------------------------------

    def configure(
        self,
        name: str,
        *,
        enabled: bool | None = None,
        changes: Mapping[str, object] | None = None,
        now_ms: int,
    ) -> Slot:
        """Turn a strategy on or off and/or change its config (``strategies.common.replaced``:
        a bad key or value raises ``FieldError`` naming it, and nothing changes). What changes
        is a new version; enabling again clears the failure count."""
        slot = self.slots[name]  # KeyError: no such strategy
        config = slot.strategy.config
        new = replaced(config, changes) if changes else config
        changed = new != config or (enabled is not None and enabled != slot.enabled)
        if not changed:
            return slot
        if new != config:
            slot.strategy = REGISTRY[name](new)
        if enabled is not None:
            if enabled and not slot.enabled:
                slot.failures = 0
                slot.last_error = ""
            slot.enabled = enabled
        slot.version += 1
        self._routes.clear()
        self._record(slot, "changed", now_ms)
        return slot

    def _record(self, slot: Slot, note: str, ts_ms: int) -> None:
        if self._on_version is not None:
            config = config_json(slot.strategy.config)
            self._on_version(
                VersionRecord(slot.name, slot.version, slot.enabled, config, note, ts_ms)
            )

    # ---- reading ------------------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any]:
        slot = self.slots[name]
        s = slot.strategy
        return {
            "name": name,
            "enabled": slot.enabled,
            "version": slot.version,
            "config": config_json(s.config),
            "status": s.status,
            "failures": slot.failures,
            "last_error": slot.last_error,
            "account": name,
            "kinds": [k.__name__ for k in s.kinds],
            "intents": slot.intents,
            "accepted": slot.accepted,
            "rejected": dict(slot.rejected),
        }

    def describe_all(self) -> list[dict[str, Any]]:
        return [self.describe(name) for name in self.slots]


def known() -> str:
    return ", ".join(sorted(REGISTRY))


async def open_runner(
    store: PaperStore,
    *,
    desk: Desk,
    books: BookStore,
    nba: NbaState | None,
    aggregator: Aggregator | None,
    place: Callable[[OrderRequest], PlaceResult],
    cancel: Callable[[int], bool],
    market_info: Callable[[str], MarketInfo | None] | None,
    enabled: Iterable[str],
    max_failures: int,
    now_ms: int,
) -> StrategyRunner:
    """The app's runner: each strategy from its newest stored version (a stored config that no
    longer validates, or a strategy never stored, starts from the defaults as a new version);
    which ones run is ``enabled`` (the settings), not what was stored."""
    stored = await store.latest_versions()
    configs: dict[str, StrategyConfig] = {}
    refused: list[str] = []
    for name, row in stored.items():
        cls = REGISTRY.get(name)
        if cls is None:
            continue
        try:
            configs[name] = replaced(cls.Config(), row["config"])
        except (ValueError, TypeError) as exc:
            log.warning("strategy %s: stored config v%d refused (%s); defaults", name,
                        row["version"], exc)  # fmt: skip
            refused.append(name)

    def record(v: VersionRecord) -> None:
        store.add_version(v.name, v.version, v.enabled, v.config, v.note, v.ts_ms)

    runner = StrategyRunner(
        desk=desk, books=books, nba=nba, aggregator=aggregator, place=place, cancel=cancel,
        market_info=market_info, enabled=enabled, configs=configs,
        versions={n: row["version"] for n, row in stored.items() if n in REGISTRY},
        max_failures=max_failures, on_version=record, now_ms=now_ms,
    )  # fmt: skip
    for name in refused:  # the defaults, as the next version
        slot = runner.slots[name]
        slot.version += 1
        runner._record(slot, "defaults (stored config refused)", now_ms)
    return runner
