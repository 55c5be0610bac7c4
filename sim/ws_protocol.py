"""One WebSocket connection's subscriptions: commands, acks, sids and per-sid seq (no I/O).

Frames follow Kalshi's AsyncAPI: one ``subscribed`` ack per channel with its own sid; data
frames carry ``sid`` and ``seq`` (trade, orderbook, lifecycle); ``ok`` and ``unsubscribed``
replies for a sid use that sid's next seq (as the production recording shows).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

log = logging.getLogger(__name__)

DATA_CHANNELS = ("trade", "ticker", "orderbook_delta", "market_lifecycle_v2")
# Channels Kalshi accepts that the simulator never publishes on (private or niche).
QUIET_CHANNELS = (
    "fill",
    "market_positions",
    "multivariate_market_lifecycle",
    "multivariate",
    "communications",
    "order_group_updates",
    "user_orders",
)
NEEDS_TICKERS = frozenset({"orderbook_delta"})
ERRORS = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    6: "Already subscribed",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    16: "Market not found",
}

Snapshot = Callable[[str, bool], dict[str, Any]]


class Sub:
    __slots__ = ("channel", "seq", "sid", "skip", "tickers", "use_yes")

    def __init__(self, sid: int, channel: str, tickers: set[str] | None, use_yes: bool) -> None:
        self.sid = sid
        self.channel = channel
        self.tickers = tickers  # None = every market
        self.seq = 0
        self.skip = 0
        self.use_yes = use_yes

    def next_seq(self) -> int:
        self.seq += 1 + self.skip
        self.skip = 0
        return self.seq

    def wants(self, ticker: str) -> bool:
        return self.tickers is None or ticker in self.tickers


class CommandError(Exception):
    def __init__(self, code: int, ticker: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.ticker = ticker


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def data_frame(kind: str, sid: int, seq: int, body: str) -> str:
    """A data frame around an already-encoded ``msg`` body (encoded once per message)."""
    return f'{{"type":"{kind}","sid":{sid},"seq":{seq},"msg":{body}}}'


class Session:
    def __init__(self, market_exists: Callable[[str], bool], snapshot: Snapshot) -> None:
        self._exists = market_exists
        self._snapshot = snapshot
        self._next_sid = 1
        self.subs: dict[int, Sub] = {}
        self.by_channel: dict[str, list[Sub]] = {c: [] for c in DATA_CHANNELS + QUIET_CHANNELS}

    def handle(self, text: str | bytes) -> list[str]:
        """Frames to send back, in order, for one client message."""
        try:
            cmd = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [self._error(None, 1)]
        if not isinstance(cmd, dict):
            return [self._error(None, 1)]
        cid = cmd.get("id")
        try:
            name = cmd.get("cmd")
            if name == "list_subscriptions":
                return [
                    dumps(
                        {
                            "id": cid,
                            "type": "ok",
                            "msg": [
                                {"channel": s.channel, "sid": s.sid} for s in self.subs.values()
                            ],
                        }
                    )
                ]
            params = cmd.get("params")
            if name not in ("subscribe", "unsubscribe", "update_subscription"):
                raise CommandError(5)
            if not isinstance(params, dict):
                raise CommandError(2)
            if name == "subscribe":
                return self._subscribe(cid, params)
            if name == "unsubscribe":
                return self._unsubscribe(cid, params)
            return self._update(cid, params)
        except CommandError as e:
            return [self._error(cid, e.code, e.ticker)]

    def _error(self, cid: Any, code: int, ticker: str | None = None) -> str:
        msg: dict[str, Any] = {"code": code, "msg": ERRORS[code]}
        if ticker is not None:
            msg["market_ticker"] = ticker
        out: dict[str, Any] = {"type": "error", "msg": msg}
        if cid is not None:
            out = {"id": cid, **out}
        return dumps(out)

    def _tickers(self, params: dict[str, Any]) -> list[str] | None:
        one = params.get("market_ticker")
        many = params.get("market_tickers")
        if one is not None and many is not None:
            raise CommandError(11)
        if one is not None:
            many = [one]
        if many is None:
            return None
        if not isinstance(many, list) or not all(isinstance(t, str) for t in many):
            raise CommandError(11)
        for t in many:
            if not self._exists(t):
                raise CommandError(16, t)
        return many

    def _snapshots(self, sub: Sub, tickers: list[str]) -> list[str]:
        return [
            data_frame(
                "orderbook_snapshot", sub.sid, sub.next_seq(), dumps(self._snapshot(t, sub.use_yes))
            )
            for t in tickers
        ]

    def _subscribe(self, cid: Any, params: dict[str, Any]) -> list[str]:
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            raise CommandError(3)
        for ch in channels:
            if ch not in self.by_channel:
                raise CommandError(8)
        tickers = self._tickers(params)
        use_yes = params.get("use_yes_price") is True
        for ch in channels:
            if ch in NEEDS_TICKERS and not tickers:
                raise CommandError(14)
            for s in self.by_channel[ch]:
                if s.tickers is None and tickers is None:
                    raise CommandError(6)
                if s.tickers is not None and tickers and s.tickers.intersection(tickers):
                    raise CommandError(6)
        out: list[str] = []
        for ch in channels:
            sub = Sub(
                self._next_sid,
                ch,
                set(tickers) if tickers is not None else None,
                use_yes and ch == "orderbook_delta",
            )
            self._next_sid += 1
            self.subs[sub.sid] = sub
            self.by_channel[ch].append(sub)
            out.append(
                dumps({"id": cid, "type": "subscribed", "msg": {"channel": ch, "sid": sub.sid}})
            )
            if ch == "orderbook_delta" and tickers:
                out.extend(self._snapshots(sub, tickers))
        return out

    def _remove(self, sub: Sub) -> None:
        del self.subs[sub.sid]
        self.by_channel[sub.channel].remove(sub)

    def _unsubscribe(self, cid: Any, params: dict[str, Any]) -> list[str]:
        sids = params.get("sids")
        if not isinstance(sids, list) or not sids:
            raise CommandError(4)
        for sid in sids:
            if sid not in self.subs:
                raise CommandError(7)
        out = []
        for sid in sids:
            sub = self.subs[sid]
            out.append(
                dumps({"id": cid, "sid": sid, "seq": sub.next_seq(), "type": "unsubscribed"})
            )
            self._remove(sub)
        return out

    def _update(self, cid: Any, params: dict[str, Any]) -> list[str]:
        action = params.get("action")
        if not action:
            raise CommandError(15)
        sid = params.get("sid")
        sids = params.get("sids")
        if sids is not None:
            if sid is not None or not isinstance(sids, list) or len(sids) != 1:
                raise CommandError(12)
            sid = sids[0]
        if sid is None:
            raise CommandError(12)
        sub = self.subs.get(sid)
        if sub is None:
            raise CommandError(7)
        if action not in ("add_markets", "delete_markets", "get_snapshot"):
            raise CommandError(13)
        tickers = self._tickers(params)
        if not tickers:
            raise CommandError(14)
        if action == "get_snapshot":
            if sub.channel != "orderbook_delta":
                raise CommandError(13)
            return self._snapshots(sub, tickers)
        if sub.tickers is None:
            raise CommandError(11)  # an all-markets subscription has no market list to edit
        if action == "add_markets":
            new = [t for t in dict.fromkeys(tickers) if t not in sub.tickers]
            sub.tickers.update(new)
        else:
            new = []
            sub.tickers.difference_update(tickers)
        out = [
            dumps(
                {
                    "id": cid,
                    "sid": sub.sid,
                    "seq": sub.next_seq(),
                    "type": "ok",
                    "msg": {"market_tickers": sorted(sub.tickers)},
                }
            )
        ]
        if sub.channel == "orderbook_delta":
            out.extend(self._snapshots(sub, new))
        return out
