"""Warm start: the windows and analytics rebuilt from SQLite in the background, while the app
already serves and the pipeline already feeds them live trades.

Two sets of trades reach the windows, each once: the trades stored before the start (up to
``through_id``, the newest trade's id taken by ``Database.last_trade_id`` before the pipeline
handles anything) go through ``run``; every trade the pipeline handles goes in live as usual,
and once stored is left out of what ``run`` reads, even when its exchange time (which orders
the ids) is older than the cut-off's. The stored set comes in (ts_ms, arrival) order, after
the live trades that arrive meanwhile, and the result is
the same as a full replay in order because what the windows keep does not depend on arrival:

- the sums of buckets and bands add up (a late trade lands in the band its age says, and the
  roll moves it on from there, as the aggregator tests of late trades in every band check);
- first and last prices (windows, sparklines) are kept packed as ``ts_ms * PACK + price`` and
  compared as integers, so equal times break ties by price, not by arrival (``windows``);
- large trades are kept sorted by (ts_ms, trade_id); analytics keeps sums and exact sets of
  market ids per bucket (the ids given out may differ; no view shows them);
- a trade older than the window is ignored when it comes late, and would have rolled out of it
  by now when it came in order.

What does depend on order: ``Aggregator.changed_at`` stamps (a cache key, which only has to
change) and the ``ignored_old`` counts. The tape (``Pipeline.recent``) is not rebuilt here: the
app loads it before the pipeline starts, in one short query.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aggregator import Aggregator
from analytics import Analytics
from database import Database
from windows import TradeColumns

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
WARM_SPAN_MS = DAY_MS + HOUR_MS  # the 24h window plus the hour its oldest bucket may start in
WARM_BATCH = 2_000  # trades added between two turns of the loop (a few ms of work)


@dataclass(frozen=True, slots=True)
class WarmProgress:
    """``total`` is None until counted; ``warming`` is False once the windows are whole."""

    warming: bool
    rebuilt: int
    total: int | None

    def json(self) -> dict[str, bool | int | None]:
        return {"warming": self.warming, "warm_rebuilt": self.rebuilt, "warm_total": self.total}


class WarmStart:
    def __init__(
        self,
        *,
        db: Database,
        aggregator: Aggregator,
        analytics: Analytics,
        through_id: int,
        now_ms: int,
        batch: int = WARM_BATCH,
    ) -> None:
        """Rebuild from the trades stored before ``through_id`` was taken (0: nothing to
        rebuild) with ``now_ms - WARM_SPAN_MS <= ts_ms <= now_ms``."""
        self._db = db
        self._agg = aggregator
        self._analytics = analytics
        self.through_id = through_id
        self.from_ms = now_ms - WARM_SPAN_MS
        self.to_ms = now_ms + 1
        self.batch = batch
        self.warming = through_id > 0
        self.rebuilt = 0
        self.total: int | None = None if self.warming else 0
        self.done = asyncio.Event()
        if not self.warming:
            db.release_mark()
            self.done.set()
        # tests hold the task at its next turn to look at the app while it warms
        self._go = asyncio.Event()
        self._go.set()
        self.held = asyncio.Event()  # set while held

    def progress(self) -> WarmProgress:
        return WarmProgress(self.warming, self.rebuilt, self.total)

    def hold(self) -> None:
        """Stop at the next turn of the loop (``held`` is set once there) until ``release``."""
        self._go.clear()

    def release(self) -> None:
        self.held.clear()
        self._go.set()

    async def run(self) -> None:
        if not self.warming:
            return
        db = self._db
        self.total = await db.trade_count_between(self.from_ms, self.to_ms, self.through_id)
        await self._turn()
        add_window, add_flow = self._agg.add_trades, self._analytics.add_trades
        async for trades in db.trades_between(
            self.from_ms, self.to_ms, self.batch, through_id=self.through_id
        ):
            # in array steps, to the same state as one by one (the columns read once for both)
            cols = TradeColumns.of(trades)
            add_window(trades, cols)
            add_flow(trades, cols)
            self.rebuilt += len(trades)
            await self._turn()
        db.release_mark()
        self.warming = False
        self.done.set()
        log.info("warm start: %d trades of the last day rebuilt into the windows", self.rebuilt)

    async def _turn(self) -> None:
        await asyncio.sleep(0)  # the pipeline, the hub and the server get theirs
        if not self._go.is_set():
            self.held.set()
            await self._go.wait()
