"""The risk gate every order passes before it can reach the book.

Limits are per account (``RiskLimits``, None = no limit): contracts per market, dollars at risk
per game and in total, orders per minute, loss today; and cash for what the order could cost.
Exposure is counted worst-case: the position plus every open order in the same direction, as if
all filled; money at risk is the cost of the positions held plus what open orders set aside
(their opening part at the limit price and the largest taker fee). An order that can only
reduce its position (worst case) passes the exposure, loss and cash limits: closing is always
allowed. The kill switches (one per account, one for all) stop every order but flatten-all's.
Minutes and days are on the event clock (UTC days).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from paper.orders import RejectReason

MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_contracts_per_market: int | None = None  # hundredths
    max_game_risk: int | None = None  # micro-dollars
    max_total_risk: int | None = None  # micro-dollars
    max_orders_per_minute: int | None = None
    max_daily_loss: int | None = None  # micro-dollars


@dataclass(frozen=True, slots=True)
class Exposure:
    """What the desk works out for one order before asking the gate."""

    direction: int  # hundredths held in the order's direction, worst case, with the order
    opening_cost: int  # micro-dollars the order could cost (opening part and fee)
    game_risk: int  # at risk in the order's game, with the order
    total_risk: int  # at risk in the account, with the order
    free_cash: int  # cash less what open orders set aside
    day_loss: int  # equity at the start of the day less equity now (marked at the mid)


@dataclass(slots=True)
class AccountRisk:
    killed: bool = False
    placed: deque[int] = field(default_factory=deque)  # accepted orders' times, last minute
    day: int | None = None
    day_start_equity: int = 0


class RiskGate:
    def __init__(self, limits: dict[str, RiskLimits], default: RiskLimits) -> None:
        self._limits = limits
        self._default = default
        self.killed = False
        self.accounts: dict[str, AccountRisk] = {}

    def limits(self, account: str) -> RiskLimits:
        return self._limits.get(account, self._default)

    def state(self, account: str) -> AccountRisk:
        st = self.accounts.get(account)
        if st is None:
            st = self.accounts[account] = AccountRisk()
        return st

    def check(self, account: str, now_ms: int, exp: Exposure) -> tuple[RejectReason, str] | None:
        st = self.state(account)
        if self.killed:
            return RejectReason.KILLED, "global kill switch"
        if st.killed:
            return RejectReason.ACCOUNT_KILLED, f"{account} kill switch"
        lim = self.limits(account)
        if lim.max_orders_per_minute is not None:
            self._expire(st, now_ms)
            if len(st.placed) >= lim.max_orders_per_minute:
                return RejectReason.ORDER_RATE, f"{len(st.placed)} orders in the last minute"
        if exp.direction <= 0:
            return None  # reduces only: always allowed
        most = lim.max_contracts_per_market
        if most is not None and exp.direction > most:
            return RejectReason.MARKET_CONTRACTS, f"{exp.direction} > {most}"
        if lim.max_game_risk is not None and exp.game_risk > lim.max_game_risk:
            return RejectReason.GAME_RISK, f"{exp.game_risk} > {lim.max_game_risk}"
        if lim.max_total_risk is not None and exp.total_risk > lim.max_total_risk:
            return RejectReason.TOTAL_RISK, f"{exp.total_risk} > {lim.max_total_risk}"
        if lim.max_daily_loss is not None and exp.day_loss >= lim.max_daily_loss:
            return RejectReason.DAILY_LOSS, f"lost {exp.day_loss} today"
        if exp.opening_cost > exp.free_cash:
            return RejectReason.BALANCE, f"needs {exp.opening_cost}, free {exp.free_cash}"
        return None

    def accepted(self, account: str, now_ms: int) -> None:
        st = self.state(account)
        st.placed.append(now_ms)
        self._expire(st, now_ms)

    @staticmethod
    def _expire(st: AccountRisk, now_ms: int) -> None:
        while st.placed and st.placed[0] <= now_ms - MINUTE_MS:
            st.placed.popleft()

    def to_state(self) -> dict[str, Any]:
        return {
            "killed": self.killed,
            "accounts": {
                k: {
                    "killed": v.killed,
                    "placed": list(v.placed),
                    "day": v.day,
                    "day_start_equity": v.day_start_equity,
                }
                for k, v in self.accounts.items()
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.killed = state["killed"]
        for k, v in state["accounts"].items():
            self.accounts[k] = AccountRisk(
                v["killed"], deque(v["placed"]), v["day"], v["day_start_equity"]
            )
