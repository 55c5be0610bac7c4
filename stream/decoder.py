"""The client's side of /ws/stream `trades` messages: rows back to trade objects with titles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stream.messages import TRADE_FIELDS


class MissingTitle(KeyError):
    """A `trades` message names a market whose title the client was never given."""


def expand_trades(
    msg: dict[str, Any], titles: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """A decoded `trades` message's rows as trade objects with ticker, title and epoch-ms times
    (what a Python client does). A market's title is the message's own, else ``titles``' (the
    ones the client holds: see ``TradeDecoder``)."""
    at = {name: i for i, name in enumerate(msg["fields"])}
    i_id, i_market, i_price, i_count, i_side, i_ts, i_recv, i_tier = (
        at[name] for name in TRADE_FIELDS
    )
    t0, markets, own = msg["t0"], msg["markets"], msg.get("titles") or {}
    held: Mapping[str, str] = titles if titles is not None else {}
    named: list[str] = []
    for ticker in markets:
        title = own.get(ticker)
        if title is None:
            title = held.get(ticker)
            if title is None:
                raise MissingTitle(ticker)
        named.append(title)
    out = []
    for row in msg["rows"]:
        m = row[i_market]
        out.append(
            {
                "id": row[i_id],
                "ticker": markets[m],
                "title": named[m],
                "yes_price": row[i_price],
                "count": row[i_count],
                "side": row[i_side],
                "ts_ms": t0 + row[i_ts],
                "recv_ms": t0 + row[i_recv],
                "tier": row[i_tier],
            }
        )
    return out


class TradeDecoder:
    """One client's side of the stream's titles: fed every message in order, it keeps the titles
    the snapshot, `filter_ack` and `trades` messages carry and turns `trades` messages into trade
    objects with their titles. A reconnect starts from a fresh snapshot: feed that one too."""

    __slots__ = ("titles",)

    def __init__(self) -> None:
        self.titles: dict[str, str] = {}

    def feed(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        """Any stream message; the trades of a `trades` message, none for the others."""
        kind = msg.get("type")
        if kind == "trades":
            return self.trades(msg)
        if kind == "snapshot":
            self.titles = dict(msg.get("titles") or {})
        elif kind == "filter_ack":
            self.titles.update(msg.get("titles") or {})
        return []

    def trades(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        own = msg.get("titles")
        if own:
            self.titles.update(own)
        return expand_trades(msg, self.titles)
