"""Kalshi's fees, to the $0.0001, and which series and events change them."""

from __future__ import annotations

import pytest

from models import (
    Action,
    EventFeeUpdate,
    MarketInfo,
    MarketsFetched,
    SeriesFetched,
    SeriesInfo,
    Side,
)
from paper import Desk, DeskConfig, TimeInForce
from paper.fees import (
    QUADRATIC,
    QUADRATIC_WITH_MAKER,
    FeeSchedule,
    FeeTable,
    fee_micros,
)
from tests.paper.feed import T0, Feed, T, c, fills, n, order, usd

TAKER = FeeSchedule(QUADRATIC)
WITH_MAKER = FeeSchedule(QUADRATIC_WITH_MAKER)


def test_the_two_figures_of_the_issue() -> None:
    assert fee_micros([(c(50), n(100))], TAKER, maker=False) == usd(1.75)
    # 0.07 * 0.52 * 0.48 = 0.017472, rounded up to the next $0.0001
    assert fee_micros([(c(52), n(1))], TAKER, maker=False) == usd(0.0175)


@pytest.mark.parametrize(
    ("price", "count", "taker", "maker"),
    [
        # 0.07 * C * P * (1-P) and 0.0175 * ..., each rounded up to $0.0001 (hand-computed)
        (c(50), n(1), 0.0175, 0.0044),  # 0.0175; 0.004375 -> 0.0044
        (c(10), n(100), 0.63, 0.1575),  # 0.63 exactly; 0.1575 exactly
        (c(1), n(1), 0.0007, 0.0002),  # 0.000693 -> 0.0007; 0.00017325 -> 0.0002
        (c(99), n(3), 0.0021, 0.0006),  # 0.002079 -> 0.0021; 0.00051975 -> 0.0006
        (c(33), n(7), 0.1084, 0.0271),  # 0.108339 -> 0.1084; 0.02708475 -> 0.0271
        (4567, n(10), 0.1737, 0.0435),  # 0.07*10*.4567*.5433 = 0.17368... ; 0.0434...
        (c(50), n(0.5), 0.0088, 0.0022),  # half a contract: 0.00875 -> 0.0088; 0.0021875
    ],
)
def test_fee_rounding_at_several_prices_and_sizes(
    price: int, count: int, taker: float, maker: float
) -> None:
    assert fee_micros([(price, count)], TAKER, maker=False) == usd(taker)
    assert fee_micros([(price, count)], WITH_MAKER, maker=True) == usd(maker)


def test_maker_fees_only_on_series_that_charge_them() -> None:
    assert fee_micros([(c(50), n(100))], TAKER, maker=True) == 0
    assert fee_micros([(c(50), n(100))], FeeSchedule("flat"), maker=True) == 0
    assert fee_micros([(c(50), n(100))], WITH_MAKER, maker=True) == usd(0.4375)


def test_the_multiplier_scales_the_fee_before_rounding() -> None:
    half = FeeSchedule(QUADRATIC, 500_000)
    assert fee_micros([(c(50), n(100))], half, maker=False) == usd(0.875)
    # 0.017472 * 1.5 = 0.026208 -> 0.0263
    assert fee_micros([(c(52), n(1))], FeeSchedule(QUADRATIC, 1_500_000), False) == usd(0.0263)


def test_a_fill_over_several_levels_rounds_once() -> None:
    # 0.07 * (1 * .45*.55 + 1 * .46*.54) = 0.017325 + 0.017388 = 0.034713 -> 0.0348
    assert fee_micros([(c(45), n(1)), (c(46), n(1))], TAKER, False) == usd(0.0348)


def test_an_event_override_layers_over_the_series_and_clears() -> None:
    table = FeeTable()
    table.on_series(SeriesInfo("KXS", "S", "Sports", QUADRATIC, 1_000_000))
    assert table.schedule("KXS", "KXS-E1") == FeeSchedule(QUADRATIC, 1_000_000)
    table.on_event_fee(EventFeeUpdate("KXS-E1", QUADRATIC_WITH_MAKER, None, 0, 0))
    assert table.schedule("KXS", "KXS-E1") == FeeSchedule(QUADRATIC_WITH_MAKER, 1_000_000)
    table.on_event_fee(EventFeeUpdate("KXS-E1", None, 2_000_000, 0, 0))
    assert table.schedule("KXS", "KXS-E1") == FeeSchedule(QUADRATIC, 2_000_000)
    assert table.schedule("KXS", "KXS-E2") == FeeSchedule(QUADRATIC, 1_000_000)
    table.on_event_fee(EventFeeUpdate("KXS-E1", None, None, 0, 0))  # cleared
    assert table.schedule("KXS", "KXS-E1") == FeeSchedule(QUADRATIC, 1_000_000)
    assert table.schedule("KXUNSEEN", "KXUNSEEN-E") == FeeSchedule(QUADRATIC, 1_000_000)


def market(series: str) -> MarketInfo:
    return MarketInfo(T, T.rpartition("-")[0], series, "t", "s", "active", None, None)


def test_the_desk_charges_takers_and_makers_as_the_series_and_event_say() -> None:
    desk = Desk(DeskConfig(latency_ms=0))
    desk.on_event(MarketsFetched((market("KXNBAGAME"),), T0, T0))
    desk.on_event(SeriesFetched((SeriesInfo("KXNBAGAME", "NBA", "Sports", QUADRATIC_WITH_MAKER,
                                            1_000_000),), T0, T0))  # fmt: skip
    feed = Feed(desk)
    feed.snap(yes=[(c(40), n(500))], no=[(c(50), n(500))])
    desk.place(order(Side.YES, Action.BUY, c(50), n(100), TimeInForce.IOC))  # taker at 0.50
    desk.place(order(Side.YES, Action.BUY, c(40), n(100)))  # rests behind 500 at 0.40
    feed.trade(c(40), n(600), Side.NO)  # sells 600 YES at 0.40: the queue, then 100 for us
    taker, maker = fills(desk.drain())
    assert (taker.maker, taker.fee) == (False, usd(1.75))
    assert (maker.maker, maker.count, maker.fee) == (True, n(100), usd(0.42))  # .0175*100*.24
    # an event override doubling the multiplier, then cleared
    desk.on_event(EventFeeUpdate(T.rpartition("-")[0], None, 2_000_000, T0, T0))
    desk.place(order(Side.YES, Action.BUY, c(50), n(100), TimeInForce.IOC))
    (doubled,) = fills(desk.drain())
    assert doubled.fee == usd(3.50)
