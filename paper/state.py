"""The desk as plain data, and the desk rebuilt from it.

A snapshot holds what cannot be recovered from the feed: the clock, every open order (with its
queue place, its reserve and its expected price), the requests still in flight (latency),
accounts and positions, risk state, tallies and market details. Books are not in it: a rebuilt
desk has none, so it asks to follow the markets of its open orders, fills nothing there until a
snapshot comes, and then clamps each resting order's queue place to the new book (as any
snapshot does). Finished orders are not kept; their records are the history.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, fields
from typing import Any

from models import Action, Side
from paper.engine import Engine
from paper.orders import CancelReason, Order, OrderStatus, RejectReason, TimeInForce
from paper.queue import MarketQueue
from paper.records import FollowRequest

VERSION = 1
_ENUMS = {"side": Side, "action": Action, "tif": TimeInForce, "status": OrderStatus}


def order_to_state(order: Order) -> dict[str, Any]:
    return asdict(order)


def order_from_state(state: dict[str, Any]) -> Order:
    # snapshots written before a field existed lack it: its default
    values = {f.name: state[f.name] for f in fields(Order) if f.name in state}
    for name, enum in _ENUMS.items():
        values[name] = enum(values[name])
    if values["cancel_reason"] is not None:
        values["cancel_reason"] = CancelReason(values["cancel_reason"])
    return Order(**values)


def snapshot(desk: Engine) -> dict[str, Any]:
    open_orders = [o for orders in desk.open.values() for o in orders.values()]
    return {
        "version": VERSION,
        "now_ms": desk.now_ms,
        "next_order_id": desk.next_order_id,
        "orders": [order_to_state(o) for o in sorted(open_orders, key=lambda o: o.order_id)],
        # queue order within a level is arrival order: kept as lists of ids
        "queues": {t: [o.order_id for o in q.orders()] for t, q in desk.queues.items()},
        "waiting": {t: [o.order_id for o in w] for t, w in desk.waiting.items()},
        "actions": [list(a) for a in sorted(desk._actions)],
        "expiries": [list(e) for e in sorted(desk._expiries)],
        "seq": desk._seq,
        "next_sample": desk._next_sample,
        "next_day": desk._next_day,
        "ledger": desk.ledger.to_state(),
        "risk": desk.risk.to_state(),
        "rejections": [[a, r, n] for (a, r), n in desk.rejections.items()],
        "markets": desk.markets.to_state(),
    }


def restore(desk: Engine, state: dict[str, Any]) -> None:
    if state.get("version") != VERSION:
        raise ValueError(f"paper desk snapshot version {state.get('version')!r}, want {VERSION}")
    desk.now_ms = state["now_ms"]
    desk.next_order_id = state["next_order_id"]
    desk.markets.restore(state["markets"])
    desk.ledger.restore(state["ledger"])
    desk.risk.restore(state["risk"])
    for account, reason, n in state["rejections"]:
        desk.rejections[(account, RejectReason(reason))] = n
    for raw in state["orders"]:
        order = order_from_state(raw)
        desk.orders[order.order_id] = order
        desk.open.setdefault(order.account, {})[order.order_id] = order
    for ticker, ids in state["queues"].items():
        queue = desk.queues[ticker] = MarketQueue()
        for oid in ids:
            queue.restore(desk.orders[oid])
    for ticker, ids in state["waiting"].items():
        desk.waiting[ticker] = [desk.orders[oid] for oid in ids]
    desk._actions = [(a[0], a[1], a[2], a[3], a[4], a[5]) for a in state["actions"]]
    heapq.heapify(desk._actions)
    desk._expiries = [(int(t), int(i)) for t, i in state["expiries"]]
    heapq.heapify(desk._expiries)
    desk._seq = state["seq"]
    desk._next_sample = state["next_sample"]
    desk._next_day = state["next_day"]
    for ticker in sorted(set(desk.queues) | set(desk.waiting)):
        desk._asked.add(ticker)
        desk.outbox.append(FollowRequest(desk.now_ms, ticker, "restored"))
    desk._reschedule()
