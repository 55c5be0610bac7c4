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
