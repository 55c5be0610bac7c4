"""The books of account: fills and settlements applied to the accounts, their records, the
equity marks, and the tallies the metrics are drawn from.

Every change is written to the outbox as it is made: the fill, the position it leaves, the
account's equity after it; settlements likewise. ``sample`` marks every account at once (the
desk calls it on the event clock), which also gives the desk-wide equity curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kalshi.book_store import BookStore
from models import PRICE_SCALE, Side
from paper.fees import fee_micros
from paper.liquidity import TakenLiquidity
from paper.markets import Markets
from paper.marks import mark_exit, mark_mid
from paper.metrics import MetricsReport, Tally, report
from paper.orders import Order
from paper.portfolio import Account
from paper.records import EquityPoint, Fill, PositionChange, Record, Settlement
from paper.settlement import outcome_of


class Ledger:
    def __init__(
        self,
        balances: Mapping[str, int],
        markets: Markets,
        books: BookStore,
        memory: TakenLiquidity,
        outbox: list[Record],
    ) -> None:
        self.accounts = {name: Account.new(name, start) for name, start in balances.items()}
        self.tallies = {name: Tally() for name in balances}
        self.curve: list[tuple[int, int]] = []  # the desk's equity at the mid, summed
        self.next_fill_id = 1
        self._markets = markets
        self._books = books
        self._memory = memory
        self._out = outbox

    def fill(self, order: Order, legs: list[tuple[int, int]], maker: bool, ts_ms: int) -> Fill:
        """Book one fill of ``legs`` (own-side price, hundredths) for ``order``."""
        ticker = order.ticker
        count = sum(q for _, q in legs)
        cost = sum(p * q for p, q in legs)
        fee = fee_micros(legs, self._markets.fee_schedule(ticker), maker)
        order.remaining -= count
        order.filled += count
        order.fill_cost += cost
        order.fees += fee
        fill = Fill(
            self.next_fill_id, order.order_id, ts_ms, order.account, ticker, order.side,
            order.action, count, cost, fee, maker, tuple(legs), order.expected_price,
            order.version,
        )  # fmt: skip
        self.next_fill_id += 1
        acct = self.accounts[order.account]
        yes_legs = legs if order.side is Side.YES else [(PRICE_SCALE - p, q) for p, q in legs]
        tally = self.tallies[order.account]
        for pnl in acct.fill(ticker, order.sign, yes_legs, fee):
            tally.trip(self._markets.game(ticker), pnl)
        tally.filled += count
        tally.slip_micros += fill.slippage
        tally.slip_count += count
        pos = acct.positions[ticker]
        self._out.append(fill)
        self._out.append(
            PositionChange(ts_ms, acct.name, ticker, pos.net, pos.cost, pos.realised, acct.cash)
        )
        self._point(acct, ts_ms)
        return fill

    def settle(self, ticker: str, yes_value: int, ts_ms: int) -> None:
        game = self._markets.game(ticker)
        for name, acct in self.accounts.items():
            tally = self.tallies[name]
            for ppm, side_yes in tally.forecasts.pop(ticker, ()):
                tally.brier.append((ppm / 1_000_000 - outcome_of(side_yes, yes_value)) ** 2)
            done = acct.settle(ticker, yes_value)
            if done is None:
                continue
            net, payout, pnl = done
            tally.trip(game, pnl)
            pos = acct.positions[ticker]
            self._out.append(Settlement(ts_ms, name, ticker, yes_value, net, payout, pnl))
            self._out.append(PositionChange(ts_ms, name, ticker, 0, 0, pos.realised, acct.cash))
            self._point(acct, ts_ms)

    def marks(self, acct: Account) -> tuple[int, int]:
        """The account's positions marked (at the mid, at the exit)."""
        mid = exit_ = 0
        for ticker, pos in acct.positions.items():
            if pos.net == 0:
                continue
            book = self._books.book(ticker)
            mid += mark_mid(pos, book)
            side = Side.YES if pos.net > 0 else Side.NO
            exit_ += mark_exit(pos, book, self._memory.levels(ticker, side))
        return mid, exit_

    def equity_mid(self, name: str) -> int:
        acct = self.accounts[name]
        return acct.cash + self.marks(acct)[0]

    def _point(self, acct: Account, ts_ms: int) -> int:
        mid, exit_ = self.marks(acct)
        at_risk = acct.cost_basis()
        tally = self.tallies[acct.name]
        tally.curve.append((ts_ms, acct.cash + mid))
        tally.max_at_risk = max(tally.max_at_risk, at_risk)
        self._out.append(
            EquityPoint(ts_ms, acct.name, acct.cash, acct.cash + mid, acct.cash + exit_, at_risk)
        )
        return acct.cash + mid

    def sample(self, ts_ms: int) -> None:
        self.curve.append((ts_ms, sum(self._point(a, ts_ms) for a in self.accounts.values())))

    def metrics(self, name: str | None = None) -> MetricsReport:
        accts = list(self.accounts.values()) if name is None else [self.accounts[name]]
        mid = exit_ = 0
        for acct in accts:
            m, e = self.marks(acct)
            mid += m
            exit_ += e
        return report(
            [self.tallies[a.name] for a in accts],
            start=sum(a.start for a in accts),
            cash=sum(a.cash for a in accts),
            realised=sum(a.realised for a in accts),
            fees=sum(a.fees for a in accts),
            marks_mid=mid,
            marks_exit=exit_,
            exposure=sum(a.cost_basis() for a in accts),
            curve=self.curve if name is None else self.tallies[name].curve,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "accounts": {k: a.to_state() for k, a in self.accounts.items()},
            "tallies": {k: t.to_state() for k, t in self.tallies.items()},
            "curve": [list(p) for p in self.curve],
            "next_fill_id": self.next_fill_id,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.accounts = {k: Account.from_state(v) for k, v in state["accounts"].items()}
        self.tallies = {k: Tally.from_state(v) for k, v in state["tallies"].items()}
        self.curve = [(int(t), int(e)) for t, e in state["curve"]]
        self.next_fill_id = state["next_fill_id"]
