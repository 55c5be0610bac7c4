"""Kalshi's trading fees, exactly (DESIGN.md "Exact numbers"; OpenAPI ``Series.fee_type``,
``fee_multiplier``; ``GetEventFeeChanges`` for event overrides).

Per fill: ``ceil(rate x C x P x (1 - P) x multiplier)`` rounded up to $0.0001, where the taker
rate is 0.07 and the maker rate 0.0175, the latter only on series whose fee type is
``quadratic_with_maker_fees`` (elsewhere resting orders trade free). A fill that walks several
levels sums ``C x P x (1 - P)`` over its levels and rounds once. Placing, cancelling and
settling cost nothing.

Assumptions, stated: a series not seen yet is ``quadratic`` with multiplier 1; ``flat`` (the
"Specific Trading Fees Table", not in the spec) is charged as ``quadratic``, multiplier
included, until its table is known. An event override replaces each field it sets; clearing it
(both fields None) falls back to the series.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from models import PRICE_SCALE, EventFeeUpdate, SeriesInfo

QUADRATIC = "quadratic"
QUADRATIC_WITH_MAKER = "quadratic_with_maker_fees"
FLAT = "flat"
PPM = 1_000_000
TAKER_RATE_PPM = 70_000  # 0.07
MAKER_RATE_PPM = 17_500  # 0.0175
FEE_TICK_MICROS = 100  # fees round up to $0.0001
# rate_ppm x count (1/100) x P (1/10^4) x (1-P) (1/10^4) x multiplier_ppm, in micro-dollars:
# / (10^6 x 10^2 x 10^4 x 10^4 x 10^6) x 10^6 = / 10^16; then in fee ticks of 100 micros.
_DENOM = 10**16 * FEE_TICK_MICROS


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    fee_type: str = QUADRATIC
    multiplier_ppm: int = PPM

    def rate_ppm(self, maker: bool) -> int:
        if not maker:
            return TAKER_RATE_PPM
        return MAKER_RATE_PPM if self.fee_type == QUADRATIC_WITH_MAKER else 0


DEFAULT_SCHEDULE = FeeSchedule()


def fee_micros(legs: Iterable[tuple[int, int]], schedule: FeeSchedule, maker: bool) -> int:
    """The fee of one fill of ``legs`` (price centicents, count hundredths), micro-dollars."""
    rate = schedule.rate_ppm(maker)
    if rate == 0:
        return 0
    weight = sum(count * price * (PRICE_SCALE - price) for price, count in legs)
    numer = weight * rate * schedule.multiplier_ppm
    return -(-numer // _DENOM) * FEE_TICK_MICROS


def taker_fee_cap(count: int, schedule: FeeSchedule) -> int:
    """The most a taker fill of ``count`` could pay, at the worst price ($0.50)."""
    return fee_micros(((PRICE_SCALE // 2, count),), schedule, maker=False)


class FeeTable:
    """Series fee structures and event overrides, as the pipeline's events report them."""

    def __init__(self) -> None:
        self._series: dict[str, FeeSchedule] = {}
        self._events: dict[str, tuple[str | None, int | None]] = {}

    def on_series(self, info: SeriesInfo) -> None:
        self._series[info.ticker] = FeeSchedule(info.fee_type, info.fee_multiplier_ppm)

    def on_event_fee(self, update: EventFeeUpdate) -> None:
        if update.fee_type is None and update.fee_multiplier_ppm is None:
            self._events.pop(update.event_ticker, None)
        else:
            self._events[update.event_ticker] = (update.fee_type, update.fee_multiplier_ppm)

    def schedule(self, series_ticker: str, event_ticker: str) -> FeeSchedule:
        base = self._series.get(series_ticker, DEFAULT_SCHEDULE)
        override = self._events.get(event_ticker)
        if override is None:
            return base
        fee_type, mult = override
        return FeeSchedule(
            base.fee_type if fee_type is None else fee_type,
            base.multiplier_ppm if mult is None else mult,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "series": {k: [v.fee_type, v.multiplier_ppm] for k, v in self._series.items()},
            "events": {k: list(v) for k, v in self._events.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        for k, (fee_type, mult) in state["series"].items():
            self._series[k] = FeeSchedule(fee_type, mult)
        for k, (fee_type, mult) in state["events"].items():
            self._events[k] = (fee_type, mult)
