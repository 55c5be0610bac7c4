"""What the board shows: JSON views of the windows, analytics and feed status, and the 1 s tick.

The tick advances the windows to the clock, computes hot markets for every window and both
analytics modes once, publishes them to the hub and keeps them for the next snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aggregator import WINDOWS, Aggregator, MarketWindow
from analytics import Analytics, AnalyticsView
from clock import Clock
from database import Database
from ingest.warm import WarmProgress
from models import Event
from storage.market_meta import MarketDirectory
from stream.messages import trade_json
from trade_processor import Pipeline
from websocket_handler import Hub

log = logging.getLogger(__name__)

MODES = ("hour", "day")


def view_json(view: AnalyticsView) -> dict[str, Any]:
    return {
        "mode": view.mode,
        "bucket_ms": view.bucket_ms,
        "buckets": [
            {
                "start_ms": b.start_ms,
                "volume": b.volume,
                "notional": b.notional,
                "trades": b.trades,
                "yes_volume": b.yes_volume,
                "no_volume": b.no_volume,
                "yes_notional": b.yes_notional,
                "no_notional": b.no_notional,
                "markets": b.markets,
            }
            for b in view.buckets
        ],
        "total_volume": view.total_volume,
        "total_notional": view.total_notional,
        "total_trades": view.total_trades,
        "peak_volume": view.peak_volume,
        "peak_start_ms": view.peak_start_ms,
        "avg_volume_per_bucket": view.avg_volume_per_bucket,
        "yes_share_bp": view.yes_share_bp,
        "active_markets": view.active_markets,
    }


class Board:
    def __init__(
        self,
        *,
        source: str,
        clock: Clock,
        aggregator: Aggregator,
        analytics: Analytics,
        pipeline: Pipeline,
        hub: Hub,
        meta: MarketDirectory,
        feed_stats: Callable[[], Any] = lambda: None,
        db: Database,
        games: Callable[[], list[dict[str, Any]]] = lambda: [],
        hot_limit: int = 30,
        warm: Callable[[], WarmProgress] = lambda: WarmProgress(False, 0, 0),
    ) -> None:
        self.source = source
        self._clock = clock
        self._agg = aggregator
        self._analytics = analytics
        self._pipeline = pipeline
        self._hub = hub
        self._meta = meta
        self._feed_stats = feed_stats
        self._db = db
        self._games = games
        self._warm = warm
        self.hot_limit = hot_limit
        self._hot: dict[str, list[dict[str, Any]]] = {w: [] for w in WINDOWS}
        self._views: dict[str, dict[str, Any]] = {}
        self._published: dict[str, dict[int, dict[str, Any]]] = {}  # mode -> buckets by start
        Spark = tuple[tuple[int, int], list[int]]
        self._sparks: dict[str, Spark] = {}
        self._sparks_next: dict[str, Spark] = {}
        self.last_tick_ms = 0.0  # how long the last tick took, for /api/stats
        self.ticks = 0

    # ---- views -------------------------------------------------------------------------------

    def card(self, m: MarketWindow, spark: bool = True) -> dict[str, Any]:
        return {
            "ticker": m.ticker,
            "title": self._meta.shown(m.ticker),
            "series": self._meta.series_of(m.ticker),
            "window": m.window,
            "volume": m.volume,
            "notional": m.notional,
            "trades": m.trades,
            "yes_volume": m.yes_volume,
            "no_volume": m.no_volume,
            "yes_notional": m.yes_notional,
            "no_notional": m.no_notional,
            "net_flow": m.net_flow,
            "vwap": m.vwap,
            "last_price": m.last_price,
            "first_price": m.first_price,
            "spark": self._spark(m.ticker) if spark else [],
        }

    def _spark(self, ticker: str) -> list[int]:
        """The sparkline, reused while the market has had no trade and the minute is the same."""
        key = (self._agg.changed_at(ticker), self._agg.now_ms // 60_000)
        hit = self._sparks.get(ticker)
        spark = hit[1] if hit is not None and hit[0] == key else self._agg.sparkline(ticker)
        self._sparks_next[ticker] = (key, spark)
        return spark

    def hot(self, window: str, limit: int, by: str = "volume") -> list[dict[str, Any]]:
        return [self.card(m) for m in self._agg.hot(window, limit, by)]

    def status(self) -> dict[str, Any]:
        now = self._clock.now_ms()
        p = self._pipeline.stats
        feed = self._feed_stats()
        return {
            "source": self.source,
            "state": p.state.value,
            "detail": p.state_detail,
            "trades_per_s": self._pipeline.trades_per_s(now),
            "lag_ms": p.last_lag_ms,
            "gaps": p.gaps,
            "gaps_recovered": p.gaps_recovered,
            "trades_recovered": p.trades_recovered,
            "reconnects": getattr(feed, "reconnects", 0),
            "bad_frames": getattr(feed, "bad_frames", 0),
            "future_stamped": p.future_stamped,
            "clients": self._hub.clients,
            "trades_stored": self._db.trades_stored,
            "trades_seen": p.trades,
            "server_ms": now,
            **self._warm().json(),  # warming: the windows are not whole yet
        }

    def snapshot(self) -> dict[str, Any]:
        if not self._views:
            self._compute(self._clock.now_ms())
        return {
            "type": "snapshot",
            "server_ms": self._clock.now_ms(),
            "source": self.source,
            "status": self.status(),
            "hot": self._hot,
            "trades": [trade_json(*p) for p in reversed(self._pipeline.recent)],
            "analytics": self._views,
            "large_trade_tiers": list(self._pipeline.tiers),
            "games": self._games(),
        }

    # ---- the 1-second tick -------------------------------------------------------------------

    def _compute(self, now_ms: int) -> None:
        self._agg.advance(now_ms)
        self._analytics.advance(now_ms)
        self._sparks_next = {}
        self._hot = {w: self.hot(w, self.hot_limit) for w in WINDOWS}
        self._sparks, self._sparks_next = self._sparks_next, {}  # keep what is on the board
        self._views = {mode: view_json(self._analytics.view(mode, now_ms)) for mode in MODES}

    def _changed_views(self) -> dict[str, dict[str, Any]]:
        """Each mode's view with only the buckets that changed since the last one published
        (``partial``): the current bucket, and a new one when a bucket rolls over. A client
        merges them by ``start_ms`` into the full view it got in the snapshot."""
        out = {}
        for mode, view in self._views.items():
            seen = self._published.get(mode, {})
            changed = [b for b in view["buckets"] if seen.get(b["start_ms"]) != b]
            out[mode] = {**view, "buckets": changed, "partial": True}
            self._published[mode] = {b["start_ms"]: b for b in view["buckets"]}
        return out

    def on_status(self, event: Event) -> None:
        """A pipeline listener for feed status changes: the status goes out at once."""
        self._hub.publish({"type": "status", "status": self.status()})

    def tick(self) -> None:
        started = time.perf_counter()
        now = self._clock.now_ms()
        self._compute(now)
        self._hub.publish({"type": "analytics", **self._changed_views()})
        self._hub.publish_hot(self._hot)
        self._hub.publish({"type": "status", "status": self.status()})
        self.ticks += 1
        self.last_tick_ms = (time.perf_counter() - started) * 1000

    async def run(self, interval_ms: int = 1000) -> None:
        while True:
            now = self._clock.now_ms()
            await asyncio.sleep((interval_ms - now % interval_ms) / 1000)
            self.tick()
