"""The paper desk on the pipeline: every event in (a listener, in queue order), orders in from
the API, records out to SQLite, follow requests out to the feed, and ``paper`` messages out to
the stream.

The desk is pure and knows only event time. Between events, time still passes for it: orders on
their way (latency), expiries and equity samples fall due, so ``tick`` advances it to the clock's
time (live: a task every ``TICK_MS``; replay: a timer on the recording's time). After anything
that may have changed the desk, its outbox is drained at once: records join the database's write
batch; at the next tick (at most ``TICK_MS`` later) a snapshot of the whole desk joins them (the
newest replaces an older one still waiting), and one more at shutdown, so a restart resumes from
the state its records lead to, resting orders included. The stream gets at most one ``paper``
message per account per ``PUBLISH_MS``: the account's cash, equity, positions, open orders and
the fills since the last.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from clock import Clock
from config import Settings
from models import COUNT_SCALE, MICROS_PER_DOLLAR, Event
from paper import MANUAL, Desk, DeskConfig, OrderRequest, PlaceResult, RiskLimits
from paper.records import Fill, FollowRequest, Record, to_dict
from storage.paper_store import PaperStore
from strategies import REGISTRY
from trading.views import account_json
from websocket_handler import Hub

log = logging.getLogger(__name__)

TICK_MS = 50
PUBLISH_MS = 250
FILLS_KEPT = 200  # recent fills per account held for the stream


class DeskRunner:
    def __init__(
        self,
        desk: Desk,
        *,
        store: PaperStore,
        hub: Hub,
        clock: Clock,
        follow: Callable[[list[str]], Awaitable[None]] | None = None,
        snapshots: bool = True,
        stream: bool = True,
    ) -> None:
        """``snapshots``: keep the desk's state for a restart; ``stream``: publish ``paper``
        messages (a backtest, which never restarts and has no browsers, saves the cost of
        drawing both up at every tick)."""
        self.desk = desk
        self._snapshots = snapshots
        self._stream = stream
        self._store = store
        self._hub = hub
        self._clock = clock
        self._follow = follow
        self._dirty: set[str] = set()
        self._state_dirty = False
        self._to_follow: list[str] = []  # asked for by the desk; the run loop follows them
        self._new_fills: dict[str, list[dict[str, Any]]] = {}
        self._last_publish_ms = 0
        self.followed: set[str] = set()
        self.records = 0

    @classmethod
    async def open(
        cls,
        config: DeskConfig,
        *,
        store: PaperStore,
        hub: Hub,
        clock: Clock,
        follow: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> DeskRunner:
        """The desk as the file last held it (resting orders included), or a fresh one."""
        state = await store.load_state()
        if state is None:
            desk = Desk(config)
        else:
            desk = Desk.restore(config, state)
            log.info("paper desk restored: %d orders open", sum(len(o) for o in desk.open.values()))
        runner = cls(desk, store=store, hub=hub, clock=clock, follow=follow)
        runner._refollow()
        return runner

    # ---- in ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        self.desk.on_event(event)
        if self.desk.outbox:
            self._drain()

    def place(self, req: OrderRequest) -> PlaceResult:
        self.desk.advance(self._clock.now_ms())
        result = self.desk.place(req)
        self._drain()
        return result

    def cancel(self, order_id: int) -> bool:
        self.desk.advance(self._clock.now_ms())
        done = self.desk.cancel(order_id)
        self._drain()
        return done

    def kill(self, account: str | None = None) -> None:
        self.desk.advance(self._clock.now_ms())
        self.desk.kill(account)
        self._drain()

    def revive(self, account: str | None = None) -> None:
        self.desk.advance(self._clock.now_ms())
        self.desk.revive(account)
        self._drain()

    def flatten(self, account: str | None = None) -> list[int]:
        self.desk.advance(self._clock.now_ms())
        ids = self.desk.flatten(account)
        self._drain()
        return ids

    def tick(self) -> None:
        """Time passes for the desk; its state joins the write batch if it changed; what changed
        goes out to the stream (throttled)."""
        now = self._clock.now_ms()
        self.desk.advance(now)
        if self.desk.outbox:
            self._drain()
        if self._state_dirty:
            self._save()
        if self._stream and self._dirty and now - self._last_publish_ms >= PUBLISH_MS:
            self.publish(now)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK_MS / 1000)
            self.tick()
            if self._to_follow and self._follow is not None:
                tickers, self._to_follow = self._to_follow, []
                await self._follow(tickers)

    def close(self) -> None:
        """The last state, queued for the final flush."""
        self.desk.advance(self._clock.now_ms())
        self._drain()
        self._save()

    def _save(self) -> None:
        if not self._snapshots:
            self._state_dirty = False
            return
        self._store.save_state(self.desk.now_ms, self.desk.snapshot())
        self._state_dirty = False

    # ---- out -----------------------------------------------------------------------------

    def _drain(self) -> None:
        records: list[Record] = self.desk.drain()
        if not records:
            return
        self.records += len(records)
        self._state_dirty = True
        follow: list[str] = []
        for r in records:
            if type(r) is FollowRequest:
                if r.ticker not in self.followed:
                    self.followed.add(r.ticker)
                    follow.append(r.ticker)
                continue
            account = getattr(r, "account", "")
            if account:
                self._dirty.add(account)
            if type(r) is Fill:
                kept = self._new_fills.setdefault(r.account, [])
                kept.append(to_dict(r))
                del kept[:-FILLS_KEPT]
        self._store.add(records)
        self._to_follow += follow

    def _refollow(self) -> None:
        """After a restart: the books the open orders need."""
        tickers = sorted({o.ticker for orders in self.desk.open.values() for o in orders.values()})
        self.followed.update(tickers)
        self._to_follow += tickers

    def publish(self, now_ms: int) -> None:
        self._last_publish_ms = now_ms
        for account in sorted(self._dirty):
            if account not in self.desk.ledger.accounts:
                continue
            msg = {"type": "paper", **account_json(self.desk, account)}
            msg["fills"] = self._new_fills.pop(account, [])
            self._hub.publish(msg)
        self._dirty.clear()

    def accounts(self) -> list[str]:
        names = list(self.desk.ledger.accounts)
        return [MANUAL, *sorted(n for n in names if n != MANUAL)]


def desk_config(settings: Settings) -> DeskConfig:
    """The desk as the settings describe it: ``manual`` and one account per strategy, balances,
    latency and the risk limits, which apply to every account alike (whole dollars and
    contracts in the settings)."""
    s = settings

    def micros(dollars: int | None) -> int | None:
        return None if dollars is None else dollars * MICROS_PER_DOLLAR

    limits = RiskLimits(
        max_contracts_per_market=None
        if s.paper_max_contracts is None
        else s.paper_max_contracts * COUNT_SCALE,
        max_game_risk=micros(s.paper_max_game_risk),
        max_total_risk=micros(s.paper_max_total_risk),
        max_orders_per_minute=s.paper_max_orders_per_minute,
        max_daily_loss=micros(s.paper_max_daily_loss),
    )
    balance = s.paper_balance * MICROS_PER_DOLLAR
    # one account per registered strategy (named for it), whether it runs now or later
    accounts = dict.fromkeys(REGISTRY, balance)
    return DeskConfig(accounts=accounts, default_balance=balance, latency_ms=s.paper_latency_ms,
                      default_limits=limits)  # fmt: skip
