"""Metrics on a hand-worked history: round trips, ratios, drawdown, slippage, Brier."""

from __future__ import annotations

import math

from models import Action, Side
from paper import Desk, DeskConfig, TimeInForce
from paper.metrics import max_drawdown, sharpe, sortino
from tests.paper.feed import T0, Feed, c, n, order, usd

BUY, SELL = Action.BUY, Action.SELL
YES, NO = Side.YES, Side.NO
DAY = 86_400_000
A = "KXNBAGAME-26JAN07LALSAS-SAS"
B = "KXNBAGAME-26JAN08BOSNYK-BOS"


def test_the_ratio_helpers() -> None:
    assert sharpe([1.0]) is None and sharpe([1.0, 1.0]) is None
    assert sharpe([1.0, 3.0]) == 2.0 / math.sqrt(2.0)
    assert sortino([2.0, -2.0]) == 0.0 and sortino([1.0, 2.0]) is None
    assert sortino([3.0, -1.0]) == 1.0 / math.sqrt(0.5)
    assert max_drawdown([100, 120, 90, 130, 110]) == (30, 30 / 120)


def test_a_desk_history_gives_the_figures_by_hand() -> None:
    desk = Desk(DeskConfig(latency_ms=0, accounts={"s": usd(100)}))
    fa, fb = Feed(desk, A), Feed(desk, B)
    fa.snap(yes=[(c(40), n(100))], no=[(c(50), n(100))])
    fb.snap(yes=[(c(20), n(100))], no=[(c(70), n(100))])
    # game A: buy 10 YES at 0.50 (it says 60%), A settles YES: +$5 less the fee
    desk.place(order(YES, BUY, c(50), n(10), TimeInForce.IOC, account="s",
                     probability_ppm=600_000))  # fmt: skip
    fa.settle("yes", t=T0 + 1_000)
    # game B, the next day: buy 10 YES at 0.30, sell them at 0.20: -$1 less fees
    fb.snap(yes=[(c(20), n(100))], no=[(c(70), n(100))], t=T0 + DAY)
    desk.place(order(YES, BUY, c(30), n(10), TimeInForce.IOC, account="s", ticker=B,
                     probability_ppm=250_000))  # fmt: skip
    desk.place(order(YES, SELL, c(20), n(10), TimeInForce.IOC, account="s", ticker=B))
    fb.settle("no", t=T0 + DAY + 1)
    m = desk.metrics("s")
    fee_a = usd(0.175)  # 0.07 * 10 * .5 * .5
    fee_b = usd(0.147) + usd(0.112)  # 0.07*10*.3*.7 and 0.07*10*.2*.8
    assert m.fees == fee_a + fee_b
    assert m.realised == usd(5) - usd(1)
    assert m.cash == m.equity_mid == usd(100) + usd(4) - fee_a - fee_b
    assert m.trips == 2 and m.win_rate == 0.5
    win, loss = usd(5) - fee_a, -(usd(1) + fee_b)
    assert m.profit_factor == win / -loss
    assert m.expectancy == (win + loss) / 2
    assert m.sharpe_game == sharpe([float(win), float(loss)])
    assert m.fill_ratio == 1.0 and m.avg_slippage == 0.0
    # Brier: (0.6 - 1)^2 and (0.25 - 0)^2
    assert m.brier is not None and math.isclose(m.brier, (0.16 + 0.0625) / 2)
    assert m.forecasts_scored == 2
    # the equity curve peaked after A settled (104.825), then B cost $1 and its fees
    assert m.max_drawdown == usd(1) + fee_b  # from after A's win to the end
    assert m.sharpe_day == sharpe([float(usd(5) - fee_a), float(-(usd(1) + fee_b))])
    assert m.sortino_day == sortino([float(usd(5) - fee_a), float(-(usd(1) + fee_b))])
    assert desk.metrics().trips == 2  # the desk as a whole: manual did nothing
