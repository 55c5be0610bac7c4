"""Accounts: cash, net positions per market, cost, realised P&L, fees, all exact integers.

Positions are net per market, as Kalshi reports them: ``net`` > 0 holds YES contracts, < 0 holds
NO contracts (hundredths). Cash moves as Kalshi's collateral does: opening YES at yes price y pays
y a contract, opening NO pays 1 - y; closing YES receives y, closing NO receives 1 - y (a YES and
a NO make $1). ``cost`` is what the holding cost (own side); closing part of it realises the
proceeds less that part's share of the cost, so that always

    cash + sum(cost) == start + realised - fees        (settlements are realised too)

and the whole ledger is ``cash == start - paid + received + settled - fees``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from models import PRICE_SCALE


@dataclass(slots=True)
class Position:
    net: int = 0  # hundredths: + YES, - NO
    cost: int = 0  # micro-dollars the holding cost
    realised: int = 0  # gross, micro-dollars
    fees: int = 0
    trip: int = 0  # realised - fees since the position last opened from flat

    @property
    def yes(self) -> int:
        return self.net if self.net > 0 else 0

    @property
    def no(self) -> int:
        return -self.net if self.net < 0 else 0

    def avg_cost(self) -> float | None:
        """Average cost of a contract held, centicents (display)."""
        return self.cost / abs(self.net) if self.net else None


@dataclass(slots=True)
class Account:
    name: str
    start: int  # micro-dollars
    cash: int = 0
    realised: int = 0
    fees: int = 0
    paid: int = 0  # for contracts bought (opened)
    received: int = 0  # for contracts closed
    settled: int = 0  # settlement payouts
    positions: dict[str, Position] = field(default_factory=dict)

    @classmethod
    def new(cls, name: str, start: int) -> Account:
        return cls(name, start, cash=start)

    def position(self, ticker: str) -> Position:
        pos = self.positions.get(ticker)
        if pos is None:
            pos = self.positions[ticker] = Position()
        return pos

    def fill(self, ticker: str, sign: int, legs: list[tuple[int, int]], fee: int) -> list[int]:
        """One fill: ``legs`` of (yes price, hundredths) moving the position by ``sign`` (+1
        toward YES), then its fee. Returns the net P&L of each round trip it completed (the
        position came back to flat); the fee belongs to the trip it was paid in."""
        pos = self.position(ticker)
        if pos.net == 0:
            pos.trip = 0
        pos.fees += fee
        pos.trip -= fee
        self.fees += fee
        self.cash -= fee
        done: list[int] = []
        for yes_price, count in legs:
            held = pos.net * sign  # > 0: adding to the holding; < 0: closing the other side
            closing = min(count, -held) if held < 0 else 0
            if closing:
                # closing YES (sign -1) receives y; closing NO (sign +1) receives 1 - y
                per = yes_price if sign < 0 else PRICE_SCALE - yes_price
                proceeds = closing * per
                basis = pos.cost if closing == -held else pos.cost * closing // -held
                pos.cost -= basis
                pos.net += sign * closing
                self._realise(pos, proceeds - basis)
                self.cash += proceeds
                self.received += proceeds
                if pos.net == 0:
                    done.append(pos.trip)
                    pos.trip = 0
            opening = count - closing
            if opening:
                per = yes_price if sign > 0 else PRICE_SCALE - yes_price
                pay = opening * per
                pos.cost += pay
                pos.net += sign * opening
                self.cash -= pay
                self.paid += pay
        return done

    def settle(self, ticker: str, yes_value: int) -> tuple[int, int, int] | None:
        """Pay out the position at ``yes_value`` centicents a YES contract (NO gets the rest):
        (net before, payout, round trip P&L), or None if there was nothing to settle."""
        pos = self.positions.get(ticker)
        if pos is None or pos.net == 0:
            return None
        net = pos.net
        per = yes_value if net > 0 else PRICE_SCALE - yes_value
        payout = abs(net) * per
        self._realise(pos, payout - pos.cost)
        pos.cost = 0
        pos.net = 0
        self.cash += payout
        self.settled += payout
        trip, pos.trip = pos.trip, 0
        return net, payout, trip

    def _realise(self, pos: Position, pnl: int) -> None:
        pos.realised += pnl
        pos.trip += pnl
        self.realised += pnl

    def cost_basis(self) -> int:
        return sum(p.cost for p in self.positions.values())

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Account:
        positions = {k: Position(**v) for k, v in state["positions"].items()}
        return cls(**{**state, "positions": positions})
