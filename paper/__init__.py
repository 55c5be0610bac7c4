"""The paper desk's execution core: pure, synchronous, exact integers, the event clock.

Units as everywhere (DESIGN.md "Exact numbers"): prices centicents (1..9999), counts hundredths
of a contract, money micro-dollars (price x count), times epoch milliseconds.

Public API (``from paper import ...``):

- ``Desk(DeskConfig(...))``: the desk. Feed it every pipeline event, in order, through
  ``desk.on_event(event)``; ``desk.advance(now_ms)`` runs what is due when no event comes.
  Orders: ``desk.place(OrderRequest(...)) -> PlaceResult`` (``order_id`` or a ``RejectReason``),
  ``desk.cancel(order_id)``, ``desk.decrease(order_id, reduce_by=|reduce_to=)``; controls:
  ``desk.kill(account=None)``, ``desk.revive(account=None)``, ``desk.flatten(account=None)``.
  Reading: ``desk.drain()`` (the outbox: records to persist and requests to act on),
  ``desk.metrics(account=None) -> MetricsReport``, ``desk.ledger.accounts[name]`` (cash,
  positions), ``desk.open_orders(account)``, ``desk.orders[order_id]``, ``desk.book(ticker)``,
  ``desk.rejections`` (counts by (account, reason)). Persistence: ``desk.snapshot() -> dict``
  (JSON-ready), ``Desk.restore(config, snapshot)``.
- ``DeskConfig``: accounts and balances (``manual`` always), latency (150 ms default), risk
  limits per account (``RiskLimits``), the cancellation model (``CancelModel``, pessimistic by
  default), the equity sampling interval, a ticker -> game mapping.
- ``OrderRequest``: account, ticker, side (YES/NO), action (buy/sell), price, count,
  ``TimeInForce`` (IOC, FOK, GTC), optional expiry, optional stated probability.
- Records (``paper.records``): ``OrderUpdate``, ``Fill``, ``PositionChange``, ``Settlement``,
  ``RiskEvent``, ``EquityPoint``, ``FollowRequest`` (follow this market's book); ``to_dict``.
- The pieces, usable alone: ``paper.fees`` (``fee_micros``, ``FeeSchedule``), ``paper.grid``,
  ``paper.matching.walk``, ``paper.queue.MarketQueue``, ``paper.portfolio.Account``.

Execution model (what each module states in full): takers walk the book level by level within
their limit, less the liquidity the desk's own fills took there (``paper.liquidity``); resting
orders queue behind the displayed size and fill only on trades (``paper.queue``); orders meet
the book ``latency_ms`` after they are decided (``paper.desk``); stale or unfollowed books fill
nothing; Kalshi's fees per fill (``paper.fees``); settlement (``paper.settlement``); the risk
gate before the book (``paper.risk``); metrics (``paper.metrics``).
"""

from __future__ import annotations

from paper.desk import Desk
from paper.engine import MANUAL, DeskConfig
from paper.metrics import MetricsReport
from paper.orders import (
    CancelReason,
    Order,
    OrderRequest,
    OrderStatus,
    PlaceResult,
    RejectReason,
    TimeInForce,
)
from paper.queue import CancelModel
from paper.records import Record, to_dict
from paper.risk import RiskLimits

__all__ = [
    "MANUAL",
    "CancelModel",
    "CancelReason",
    "Desk",
    "DeskConfig",
    "MetricsReport",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "PlaceResult",
    "Record",
    "RejectReason",
    "RiskLimits",
    "TimeInForce",
    "to_dict",
]
