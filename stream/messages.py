"""The messages of /ws/stream as the server builds them: trade objects, `trades` rows, encoding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from models import PRICE_SCALE, Side, Trade


def trade_json(trade: Trade, title: str, tier: int) -> dict[str, Any]:
    yes_price = trade.yes_price
    price = yes_price if trade.taker_side is Side.YES else PRICE_SCALE - yes_price
    return {
        "id": trade.trade_id,
        "ticker": trade.ticker,
        "title": title,
        "yes_price": yes_price,
        "count": trade.count,
        "side": trade.taker_side.value,
        "price": price,
        "notional": price * trade.count,
        "ts_ms": trade.ts_ms,
        "recv_ms": trade.recv_ms,
        "tier": tier,
    }


# A `trades` message carries its trades as rows of these fields, oldest first:
#   {"type": "trades", "t0": ms, "fields": TRADE_FIELDS, "markets": [ticker, ...],
#    "titles": {ticker: title, ...}, "rows": [[id, market, yes_price, count, side, ts_off,
#    recv_off, tier], ...]}
# ``market`` indexes ``markets`` (each ticker once); ``ts_off`` and ``recv_off`` are ``ts_ms``
# and ``recv_ms`` in milliseconds after ``t0``, the batch's earliest of either. ``titles`` holds
# the titles a client may not have yet (see ``Hub``); a client keeps the titles it was given, from
# the snapshot on. ``rows`` is last: a client may count the trades without decoding the message
# (``],["`` separates two rows).
TRADE_FIELDS = ("id", "market", "yes_price", "count", "side", "ts_off", "recv_off", "tier")

# A market's title is announced (carried in a `trades` message's ``titles``) when it is new to
# the hub, when it changed, and again once it was last announced longer ago than this.
TITLE_REFRESH_MS = 60_000

Pending = tuple[Trade, str, int]  # trade, title, large-trade tier

# Which titles a `trades` message carries, given its markets (each once, first seen first) and
# each one's title (from its first trade in the batch).
TitleChoice = Callable[[list[str], list[str]], dict[str, str]]


def every_title(markets: list[str], titles: list[str]) -> dict[str, str]:
    return dict(zip(markets, titles, strict=True))


def trades_message(pending: list[Pending], choose: TitleChoice = every_title) -> dict[str, Any]:
    """The `trades` message for ``pending``; by default it carries the title of each market."""
    if not pending:
        return {
            "type": "trades",
            "t0": 0,
            "fields": TRADE_FIELDS,
            "markets": [],
            "titles": choose([], []),
            "rows": [],
        }
    # Offsets from the first trade, the earliest in all but rare batches (a backfilled trade, a
    # clock step); then shifted once so that none is negative.
    first = pending[0][0]
    t0 = min(first.ts_ms, first.recv_ms)
    lo = 0
    index: dict[str, int] = {}
    markets: list[str] = []
    names: list[str] = []
    rows: list[list[Any]] = []
    append = rows.append
    for t, title, tier in pending:
        ticker = t.ticker
        m = index.get(ticker)
        if m is None:
            m = index[ticker] = len(markets)
            markets.append(ticker)
            names.append(title)
        ts = t.ts_ms - t0
        recv = t.recv_ms - t0
        if ts < lo or recv < lo:
            lo = min(ts, recv)
        # taker_side is a str enum: orjson writes it as "yes"/"no"
        append([t.trade_id, m, t.yes_price, t.count, t.taker_side, ts, recv, tier])
    if lo < 0:
        t0 += lo
        for row in rows:
            row[5] -= lo
            row[6] -= lo
    return {
        "type": "trades",
        "t0": t0,
        "fields": TRADE_FIELDS,
        "markets": markets,
        "titles": choose(markets, names),
        "rows": rows,
    }


def encode(msg: dict[str, Any]) -> str:
    return orjson.dumps(msg).decode()
