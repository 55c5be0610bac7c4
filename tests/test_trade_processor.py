"""The pipeline on real storage: a trade stamped in the future is stored as the exchange sent it
but windowed at its receipt, so it cannot push the windows ahead and empty the board."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aggregator import Aggregator
from analytics import Analytics
from clock import ManualClock
from database import Database
from models import Side, Trade
from storage.market_meta import MarketDirectory
from trade_processor import FUTURE_TOLERANCE_MS, Pipeline
from websocket_handler import Hub

T0 = 1_780_000_000_000


async def test_future_stamped_trade_is_stored_as_sent_and_windowed_at_receipt(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    db = await Database.open(str(tmp_path / "t.db"), clock=clock, flush_interval_ms=10)
    try:
        agg, an = Aggregator(), Analytics()
        hub = Hub(clock=clock)
        pipe = Pipeline(
            events=asyncio.Queue(),
            db=db,
            aggregator=agg,
            analytics=an,
            hub=hub,
            meta=MarketDirectory(db=db, fetch=None),
            clock=clock,
        )
        pipe.handle(Trade("a", "KXA-1", 4_000, 100, Side.YES, T0 - 1_000, T0))
        near = T0 + FUTURE_TOLERANCE_MS  # within tolerance: believed
        pipe.handle(Trade("b", "KXA-1", 4_100, 100, Side.YES, near, T0))
        far = T0 + 3 * 3_600_000  # three hours ahead of its receipt
        pipe.handle(Trade("c", "KXB-1", 6_000, 200, Side.NO, far, T0))

        assert pipe.stats.future_stamped == 1
        assert agg.now_ms == near  # the far stamp did not move the windows
        a = agg.market("KXA-1", "1m")
        b = agg.market("KXB-1", "1m")
        assert a is not None and a.trades == 2
        assert b is not None and b.trades == 1 and b.last_ts_ms == T0
        assert an.view("hour", near).total_trades == 3

        await db.flush()
        stored = {t.trade_id: t for t in await db.recent_trades(limit=10)}
        assert stored["c"].ts_ms == far
    finally:
        await db.close()
