"""The desk as JSON for the API and the stream, in Flowboard's units: prices in centicents,
counts in hundredths of a contract, money in micro-dollars, times in epoch milliseconds."""

from __future__ import annotations

from typing import Any

from models import Side
from paper import Desk, Order
from paper.marks import mark_exit, mark_mid


def order_json(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "account": o.account,
        "ticker": o.ticker,
        "side": str(o.side),
        "action": str(o.action),
        "price": o.price,
        "count": o.count,
        "remaining": o.remaining,
        "filled": o.filled,
        "fees": o.fees,
        "time_in_force": str(o.tif),
        "expires_ms": o.expiry_ms,
        "status": str(o.status),
        "cancel_reason": str(o.cancel_reason) if o.cancel_reason is not None else None,
        "queue_ahead": o.ahead,
        "decided_ms": o.decided_ms,
        "arrival_ms": o.arrival_ms,
        "expected_price": o.expected_price,
        "probability_ppm": o.probability_ppm,
        "signal": o.signal,
        "version": o.version,
    }


def positions_json(desk: Desk, account: str) -> list[dict[str, Any]]:
    acct = desk.ledger.accounts[account]
    out = []
    for ticker, pos in sorted(acct.positions.items()):
        if pos.net == 0 and pos.realised == 0 and pos.fees == 0:
            continue
        book = desk.book(ticker)
        held = Side.YES if pos.net > 0 else Side.NO
        mid = mark_mid(pos, book)
        exit_ = mark_exit(pos, book, desk.memory.levels(ticker, held))
        out.append({
            "account": account,
            "ticker": ticker,
            "net": pos.net,
            "yes": pos.yes,
            "no": pos.no,
            "cost": pos.cost,
            "realised": pos.realised,
            "fees": pos.fees,
            "value_mid": mid,
            "value_exit": exit_,
            "unrealised_mid": mid - pos.cost if pos.net else 0,
            "unrealised_exit": exit_ - pos.cost if pos.net else 0,
            "book_stale": book is None or book.stale,
        })  # fmt: skip
    return out


def account_json(desk: Desk, account: str) -> dict[str, Any]:
    acct = desk.ledger.accounts[account]
    m = desk.metrics(account)
    return {
        "account": account,
        "start": acct.start,
        "cash": acct.cash,
        "equity_mid": m.equity_mid,
        "equity_exit": m.equity_exit,
        "realised": m.realised,
        "unrealised_mid": m.unrealised_mid,
        "unrealised_exit": m.unrealised_exit,
        "fees": m.fees,
        "exposure": m.exposure,
        "killed": desk.risk.state(account).killed or desk.risk.killed,
        "positions": positions_json(desk, account),
        "orders": [order_json(o) for o in desk.open_orders(account)],
    }
