"""/metrics in Prometheus text format, read from the live counters at scrape time.

A collector per app (its own registry, no module-level state); nothing is incremented on the
hot path: the pipeline, hub, writer and feed already count, and a scrape reads those counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from database import Database
from trade_processor import Pipeline
from web.board import Board
from websocket_handler import Hub

Sample = tuple[str, str, str, Callable[[], float | int | None]]  # kind, name, help, read


class _Collector(Collector):
    def __init__(self, samples: list[Sample]) -> None:
        self._samples = samples

    def collect(self) -> Iterator[Any]:
        for kind, name, help_text, read in self._samples:
            value = read()
            if value is None:
                continue
            family = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                name, help_text, value=value
            )
            yield family


class Metrics:
    def __init__(self, samples: list[Sample]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(samples))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def app_samples(
    pipeline: Pipeline,
    hub: Hub,
    db: Database,
    board: Board,
    feed_stats: Callable[[], Any],
    queue_depth: Callable[[], int],
) -> list[Sample]:
    """The app's counters and gauges, each read from the part that keeps it."""
    p, h, w = pipeline.stats, hub.stats, db.stats

    def feed(name: str) -> Callable[[], Any]:
        return lambda: getattr(feed_stats(), name, None)

    return [
        ("counter", "flowboard_trades", "Trades received", lambda: p.trades),
        ("counter", "flowboard_feed_gaps", "Feed gaps detected", lambda: p.gaps),
        ("counter", "flowboard_gaps_recovered", "Feed gaps repaired", lambda: p.gaps_recovered),
        ("counter", "flowboard_trades_recovered", "Trades backfilled", lambda: p.trades_recovered),
        ("counter", "flowboard_feed_reconnects", "Feed reconnects", feed("reconnects")),
        ("counter", "flowboard_feed_bad_frames", "Bad frames skipped", feed("bad_frames")),
        ("counter", "flowboard_feed_bad_rest_rows", "REST rows skipped", feed("bad_rest_rows")),
        ("counter", "flowboard_db_rows_written", "Rows written", lambda: w.rows_written),
        ("counter", "flowboard_db_flushes", "Write transactions", lambda: w.flushes),
        ("gauge", "flowboard_db_pending", "Rows waiting to be written", lambda: w.pending),
        ("gauge", "flowboard_ws_clients", "Stream clients", lambda: hub.clients),
        ("counter", "flowboard_ws_dropped", "Slow clients dropped", lambda: h.dropped_slow),
        ("gauge", "flowboard_event_queue", "Events queued", queue_depth),
        ("gauge", "flowboard_feed_lag_ms", "Receive minus exchange ms", lambda: p.last_lag_ms),
        ("gauge", "flowboard_tick_ms", "Last 1 s tick, ms", lambda: board.last_tick_ms),
    ]
