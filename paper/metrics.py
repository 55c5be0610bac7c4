"""Performance figures per account and for the desk as a whole.

The desk feeds each account's ``Tally``: orders, fills (slippage), round trips (a position
opened from flat until it is flat again or settles: its net P&L, fees included, is one
outcome), equity points, and stated probabilities scored when their market settles. Money stays
integer micro-dollars; the ratios are floats for display:

- win rate, profit factor (gains / losses), expectancy (mean outcome), over round trips;
- Sharpe and Sortino, unannualised (mean / sample deviation; mean / downside deviation), of the
  net P&L per game (trips summed by game) and of the equity change per UTC day;
- maximum drawdown of the equity curve (marked at the mid), in micro-dollars and as a share of
  the peak; fill ratio = contracts filled / contracts ordered; average slippage = centicents a
  contract worse than the decision-time price; Brier = mean (p - outcome)^2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from paper.risk import DAY_MS


@dataclass(slots=True)
class Tally:
    ordered: int = 0  # hundredths accepted
    filled: int = 0
    slip_micros: int = 0
    slip_count: int = 0  # hundredths whose slippage is summed
    trips: list[int] = field(default_factory=list)
    game_pnl: dict[str, int] = field(default_factory=dict)
    curve: list[tuple[int, int]] = field(default_factory=list)  # (ts_ms, equity at mid)
    forecasts: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)  # ppm, side YES
    brier: list[float] = field(default_factory=list)
    max_at_risk: int = 0

    def trip(self, game: str, pnl: int) -> None:
        self.trips.append(pnl)
        self.game_pnl[game] = self.game_pnl.get(game, 0) + pnl

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Tally:
        tally = cls(**state)
        tally.curve = [(int(t), int(e)) for t, e in state["curve"]]
        tally.forecasts = {
            k: [(int(p), bool(y)) for p, y in v] for k, v in state["forecasts"].items()
        }
        return tally


@dataclass(frozen=True, slots=True)
class MetricsReport:
    start: int
    cash: int
    equity_mid: int
    equity_exit: int
    realised: int
    unrealised_mid: int
    unrealised_exit: int
    fees: int
    exposure: int  # cost of the positions held
    max_exposure: int
    trips: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None  # micro-dollars a round trip
    sharpe_game: float | None
    sortino_game: float | None
    sharpe_day: float | None
    sortino_day: float | None
    max_drawdown: int
    max_drawdown_pct: float | None
    fill_ratio: float | None
    avg_slippage: float | None  # centicents a contract
    brier: float | None
    forecasts_scored: int


def sharpe(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return None if var == 0 else mean / math.sqrt(var)


def sortino(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    down = sum(min(v, 0.0) ** 2 for v in values) / len(values)
    return None if down == 0 else mean / math.sqrt(down)


def max_drawdown(curve: Iterable[int]) -> tuple[int, float | None]:
    peak: int | None = None
    worst, worst_pct = 0, None
    for equity in curve:
        if peak is None or equity > peak:
            peak = equity
        dd = peak - equity
        if dd > worst:
            worst = dd
            worst_pct = dd / peak if peak > 0 else None
    return worst, worst_pct


def daily_changes(curve: Sequence[tuple[int, int]], start: int) -> list[float]:
    """Equity change per UTC day, from the last point of each day."""
    closes: dict[int, int] = {}
    for ts, equity in curve:
        closes[ts // DAY_MS] = equity
    out: list[float] = []
    prev = start
    for day in sorted(closes):
        out.append(float(closes[day] - prev))
        prev = closes[day]
    return out


def report(
    tallies: Sequence[Tally],
    *,
    start: int,
    cash: int,
    realised: int,
    fees: int,
    marks_mid: int,
    marks_exit: int,
    exposure: int,
    curve: Sequence[tuple[int, int]],
) -> MetricsReport:
    """One report over ``tallies`` (one account's, or every account's with the summed curve)."""
    trips = [t for tally in tallies for t in tally.trips]
    games: dict[str, int] = {}
    for tally in tallies:
        for g, pnl in tally.game_pnl.items():
            games[g] = games.get(g, 0) + pnl
    wins = [t for t in trips if t > 0]
    losses = [t for t in trips if t < 0]
    per_game = [float(v) for v in games.values()]
    per_day = daily_changes(curve, start)
    dd, dd_pct = max_drawdown(e for _, e in curve)
    ordered = sum(t.ordered for t in tallies)
    slip_count = sum(t.slip_count for t in tallies)
    scores = [s for t in tallies for s in t.brier]
    return MetricsReport(
        start=start,
        cash=cash,
        equity_mid=cash + marks_mid,
        equity_exit=cash + marks_exit,
        realised=realised,
        unrealised_mid=marks_mid - exposure,
        unrealised_exit=marks_exit - exposure,
        fees=fees,
        exposure=exposure,
        max_exposure=max([exposure, *(t.max_at_risk for t in tallies)]),
        trips=len(trips),
        win_rate=len(wins) / len(trips) if trips else None,
        profit_factor=sum(wins) / -sum(losses) if losses else None,
        expectancy=sum(trips) / len(trips) if trips else None,
        sharpe_game=sharpe(per_game),
        sortino_game=sortino(per_game),
        sharpe_day=sharpe(per_day),
        sortino_day=sortino(per_day),
        max_drawdown=dd,
        max_drawdown_pct=dd_pct,
        fill_ratio=sum(t.filled for t in tallies) / ordered if ordered else None,
        avg_slippage=(sum(t.slip_micros for t in tallies) / slip_count if slip_count else None),
        brier=sum(scores) / len(scores) if scores else None,
        forecasts_scored=len(scores),
    )
