"""The paper desk: orders in (validated, risk-checked, sent with latency), pipeline events
in (``paper.engine``), fills and records out. Synchronous, no I/O.
"""

from __future__ import annotations

import heapq
from typing import Any

from models import Action, Side
from paper.engine import ARRIVE, CANCEL, CANCEL_REASONS, DECREASE, DeskConfig, Engine
from paper.fees import taker_fee_cap
from paper.grid import lowest_price, on_grid, whole_count_ok
from paper.matching import best_free
from paper.orders import (
    CancelReason,
    Order,
    OrderRequest,
    PlaceResult,
    RejectReason,
    TimeInForce,
)
from paper.records import OrderEventKind, RiskEvent, RiskEventKind
from paper.risk import Exposure
from paper.state import restore, snapshot


class Desk(Engine):
    def place(self, req: OrderRequest) -> PlaceResult:
        """Decide an order at the desk's clock (the last event's time, or the last
        ``advance``): validated, risk-checked, then sent to arrive ``latency_ms`` later."""
        bad = self._validate(req)
        if bad is not None:
            return self._reject(req, *bad)
        order = self._new_order(req)
        exposure = self._exposure(order)
        verdict = self.risk.check(req.account, self.now_ms, exposure)
        if verdict is not None:
            self.next_order_id -= 1
            return self._reject(req, *verdict)
        order.reserve = exposure.opening_cost
        self.risk.accepted(req.account, self.now_ms)
        self._send(order)
        return PlaceResult(order.order_id)

    def cancel(self, order_id: int) -> bool:
        """Ask to cancel; it takes effect when the request reaches the book (latency)."""
        return self._cancel_later(order_id, CancelReason.REQUESTED)

    def _cancel_later(self, order_id: int, reason: CancelReason) -> bool:
        order = self.orders.get(order_id)
        if order is None or not order.is_open:
            return False
        self._schedule(CANCEL, order, CANCEL_REASONS.index(reason), -1)
        return True

    def decrease(
        self, order_id: int, *, reduce_by: int | None = None, reduce_to: int | None = None
    ) -> bool:
        """Kalshi's decrease: by some contracts, or to a remaining count; keeps queue place."""
        order = self.orders.get(order_id)
        if order is None or not order.is_open or (reduce_by is None) == (reduce_to is None):
            return False
        amount = reduce_by if reduce_by is not None else reduce_to
        assert amount is not None
        fractional = self.markets.fractional(order.ticker)
        if amount < 0 or not (amount == 0 or whole_count_ok(amount, fractional)):
            return False
        if reduce_by is not None:
            self._schedule(DECREASE, order, reduce_by, -1)
        else:
            self._schedule(DECREASE, order, 0, amount)
        return True

    def kill(self, account: str | None = None) -> None:
        """Stop new orders (one account's, or everyone's) and cancel what is open."""
        if account is None:
            self.risk.killed = True
        else:
            self.risk.state(account).killed = True
        self.outbox.append(RiskEvent(self.now_ms, RiskEventKind.KILL, account or ""))
        for name in [account] if account is not None else list(self.open):
            for order in list(self.open.get(name, {}).values()):
                self._cancel_later(order.order_id, CancelReason.KILLED)

    def revive(self, account: str | None = None) -> None:
        if account is None:
            self.risk.killed = False
        else:
            self.risk.state(account).killed = False
        self.outbox.append(RiskEvent(self.now_ms, RiskEventKind.REVIVE, account or ""))

    def flatten(self, account: str | None = None) -> list[int]:
        """Cancel every open order and close every position at the book: IOC orders at the
        grid's lowest price through the same latency and fill model. What the book cannot take
        stays open (flatten again)."""
        ids: list[int] = []
        for name in [account] if account is not None else list(self.open):
            self.outbox.append(RiskEvent(self.now_ms, RiskEventKind.FLATTEN, name))
            for order in list(self.open[name].values()):
                if not order.flatten:
                    self._cancel_later(order.order_id, CancelReason.FLATTEN)
            for ticker, pos in self.ledger.accounts[name].positions.items():
                if pos.net == 0 or ticker in self.markets.finished:
                    continue
                side = Side.YES if pos.net > 0 else Side.NO
                price = lowest_price(self.markets.grid(ticker))
                req = OrderRequest(name, ticker, side, Action.SELL, price, abs(pos.net),
                                   TimeInForce.IOC)  # fmt: skip
                order = self._new_order(req)
                order.flatten = True
                self._send(order)
                ids.append(order.order_id)
        return ids

    def _validate(self, req: OrderRequest) -> tuple[RejectReason, str] | None:
        if req.account not in self.open:
            return RejectReason.UNKNOWN_ACCOUNT, req.account
        if req.ticker in self.markets.finished:
            return RejectReason.MARKET_FINISHED, req.ticker
        if not 1 <= req.price <= 9_999:
            return RejectReason.BAD_PRICE, str(req.price)
        if not on_grid(req.price, self.markets.grid(req.ticker)):
            return RejectReason.OFF_GRID, str(req.price)
        if req.count <= 0:
            return RejectReason.BAD_COUNT, str(req.count)
        if not whole_count_ok(req.count, self.markets.fractional(req.ticker)):
            return RejectReason.FRACTIONAL, str(req.count)
        if req.expiry_ms is not None and (
            req.tif is not TimeInForce.GTC or req.expiry_ms <= self.now_ms
        ):
            return RejectReason.BAD_EXPIRY, str(req.expiry_ms)
        if req.probability_ppm is not None and not 0 <= req.probability_ppm <= 1_000_000:
            return RejectReason.BAD_PROBABILITY, str(req.probability_ppm)
        return None

    def _reject(self, req: OrderRequest, reason: RejectReason, detail: str) -> PlaceResult:
        self.rejections[(req.account, reason)] += 1
        self.outbox.append(
            RiskEvent(self.now_ms, RiskEventKind.REJECTED, req.account, req.ticker, reason, detail)
        )
        return PlaceResult(None, reason, detail)

    def _new_order(self, req: OrderRequest) -> Order:
        order = Order(
            self.next_order_id, req.account, req.ticker, req.side, req.action, req.price,
            req.count, req.tif, req.expiry_ms, req.probability_ppm, req.client_order_id,
            self.now_ms, self.now_ms + self.config.latency_ms, req.price, remaining=req.count,
            signal=req.signal, version=req.version,
        )  # fmt: skip
        self.next_order_id += 1
        book = self.books.book(req.ticker)
        if book is not None and self._usable(req.ticker):
            bids = book.yes if order.take is Side.YES else book.no
            best = best_free(bids, self.memory.levels(req.ticker, order.take))
            if best is not None and best >= order.take_min:
                order.expected_price = order.own_price(best)
        return order

    def _exposure(self, order: Order) -> Exposure:
        acct = self.ledger.accounts[order.account]
        pos = acct.positions.get(order.ticker)
        same = sum(
            o.remaining
            for o in self.open[order.account].values()
            if o.ticker == order.ticker and o.sign == order.sign
        )
        direction = order.sign * (pos.net if pos else 0) + same + order.count
        opening = min(order.count, max(0, direction))
        schedule = self.markets.fee_schedule(order.ticker)
        cost = opening * order.open_price + taker_fee_cap(order.count, schedule)
        game = self.markets.game(order.ticker)
        game_risk = total = cost
        reserved = 0
        for o in self.open[order.account].values():
            r = o.current_reserve()
            reserved += r
            total += r
            if self.markets.game(o.ticker) == game:
                game_risk += r
        for ticker, p in acct.positions.items():
            total += p.cost
            if p.cost and self.markets.game(ticker) == game:
                game_risk += p.cost
        day_loss = 0
        if self.risk.limits(order.account).max_daily_loss is not None:
            day_loss = self.risk.state(order.account).day_start_equity - self.ledger.equity_mid(
                order.account
            )
        return Exposure(direction, cost, game_risk, total, acct.cash - reserved, day_loss)

    def _send(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self.open[order.account][order.order_id] = order
        self.ledger.tallies[order.account].ordered += order.count
        if order.probability_ppm is not None:
            forecasts = self.ledger.tallies[order.account].forecasts
            forecasts.setdefault(order.ticker, []).append(
                (order.probability_ppm, order.side is Side.YES)
            )
        self._update(order, OrderEventKind.ACCEPTED)
        if order.expiry_ms is not None:
            heapq.heappush(self._expiries, (order.expiry_ms, order.order_id))
        self._schedule(ARRIVE, order, 0, -1)

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self)

    @classmethod
    def restore(cls, config: DeskConfig, state: dict[str, Any]) -> Desk:
        desk = cls(config)
        restore(desk, state)
        return desk
