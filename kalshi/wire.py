"""Kalshi wire format: the only module that knows Kalshi's JSON field names.

Parses WebSocket frames and REST bodies into ``models`` types, in the current format (``*_dollars``
price strings, ``*_fp`` count strings, ``ts_ms``, ``taker_outcome_side``) and the legacy integer
format (cents 1..99, whole-contract counts, ``ts`` in seconds). Values convert exactly or the
frame is rejected with ``WireError``; nothing else escapes the frame parser.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from errors import WireError as WireError  # kalshi.wire.WireError is errors.WireError
from models import (
    PRICE_SCALE,
    BookDelta,
    BookSnapshot,
    EventCreated,
    EventFeeUpdate,
    FixedPointError,
    LifecycleEvent,
    LifecycleKind,
    Side,
    TickerUpdate,
    Trade,
    count_from_int,
    parse_count,
    parse_dollars,
    parse_price,
    price_from_cents,
)

log = logging.getLogger(__name__)


# ---- control messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribed:
    id: int | None
    channel: str
    sid: int


@dataclass(frozen=True, slots=True)
class Ok:
    id: int | None
    sid: int | None
    seq: int | None
    market_tickers: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    id: int | None
    sid: int | None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """Kalshi's ``error`` message: the exchange refused a command (``id`` is the command's)."""

    id: int | None
    code: int
    msg: str
    market_ticker: str | None


Control = Subscribed | Ok | Unsubscribed | ErrorReply
Payload = (
    Trade
    | BookSnapshot
    | BookDelta
    | TickerUpdate
    | LifecycleEvent
    | EventCreated
    | EventFeeUpdate
    | Control
)


@dataclass(slots=True)
class WireMessage:
    """One parsed frame: its type, subscription id and seq (when sent) and the parsed payload.
    (Not frozen: one is built per frame and read once; the payload is the immutable part.)"""

    type: str
    sid: int | None
    seq: int | None
    payload: Payload


# ---- scalar helpers -----------------------------------------------------------------------------

_price_cache: dict[str, int] = {}
_PRICE_CACHE_MAX = 20_000


def _price(text: Any) -> int:
    """Dollar string to centicents; the few thousand distinct prices are cached."""
    cc = _price_cache.get(text) if type(text) is str else None
    if cc is None:
        if type(text) is not str:
            raise WireError(f"price must be a string: {text!r}")
        cc = parse_price(text)
        if len(_price_cache) < _PRICE_CACHE_MAX:
            _price_cache[text] = cc
    return cc


_count_cache: dict[str, int] = {}
_COUNT_CACHE_MAX = 20_000


def _count(text: str) -> int:
    """Fixed-point count string to hundredths; the common sizes are cached."""
    count = _count_cache.get(text)
    if count is None:
        count = parse_count(text)
        if len(_count_cache) < _COUNT_CACHE_MAX:
            _count_cache[text] = count
    return count


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise WireError(f"{what} must be an integer: {value!r}")
    return value


def _str(value: Any, what: str) -> str:
    if type(value) is not str or not value:
        raise WireError(f"{what} must be a non-empty string: {value!r}")
    return value


def _opt_int(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _side(value: Any) -> Side:
    if value == "yes":
        return Side.YES
    if value == "no":
        return Side.NO
    raise WireError(f"side must be 'yes' or 'no': {value!r}")


def rfc3339_to_ms(text: Any) -> int:
    """RFC 3339 time ('2026-06-11T06:29:47.42784Z') to epoch ms, sub-ms truncated."""
    if type(text) is not str:
        raise WireError(f"time must be a string: {text!r}")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise WireError(f"bad RFC 3339 time: {text!r}") from None
    if dt.tzinfo is None:
        raise WireError(f"time without a zone: {text!r}")
    utc = dt.utctimetuple()
    return calendar.timegm(utc) * 1000 + dt.microsecond // 1000


def _price_field(msg: Mapping[str, Any], dollars_key: str, cents_key: str) -> int | None:
    """Current `<x>_dollars` string, else legacy integer cents; None when neither is present."""
    text = msg.get(dollars_key)
    if text is not None:
        return _price(text)
    cents = msg.get(cents_key)
    if cents is not None:
        return price_from_cents(cents)
    return None


def _count_field(msg: Mapping[str, Any], fp_key: str, int_key: str) -> int | None:
    text = msg.get(fp_key)
    if text is not None:
        if type(text) is not str:
            raise WireError(f"{fp_key} must be a string: {text!r}")
        return _count(text)
    legacy = msg.get(int_key)
    if legacy is not None:
        return count_from_int(legacy)
    return None


def _ts_ms(msg: Mapping[str, Any], fallback: int) -> int:
    """`ts_ms`, else `ts` (seconds int, or RFC 3339 on book deltas), else the fallback."""
    ms = msg.get("ts_ms")
    if ms is not None:
        return _int(ms, "ts_ms")
    ts = msg.get("ts")
    if ts is None:
        return fallback
    if type(ts) is int:
        return ts * 1000
    return rfc3339_to_ms(ts)


# ---- market-data payloads -----------------------------------------------------------------------


def _trade(msg: Mapping[str, Any], ticker_key: str, recv_ms: int, ts_ms: int | None) -> Trade:
    yes = _price_field(msg, "yes_price_dollars", "yes_price")
    if yes is None:
        raise WireError("trade without a yes price")
    if not 0 < yes < PRICE_SCALE:
        raise WireError(f"trade price out of range: {yes}")
    no = _price_field(msg, "no_price_dollars", "no_price")
    if no is not None and yes + no != PRICE_SCALE:
        raise WireError(f"yes and no prices do not add to $1: {yes} + {no}")
    count = _count_field(msg, "count_fp", "count")
    if count is None or count <= 0:
        raise WireError(f"trade count missing or not positive: {count}")
    side = msg.get("taker_outcome_side")
    if side is None:
        side = msg.get("taker_side")
    return Trade(
        trade_id=_str(msg.get("trade_id"), "trade_id"),
        ticker=_str(msg.get(ticker_key), ticker_key),
        yes_price=yes,
        count=count,
        taker_side=_side(side),
        ts_ms=_ts_ms(msg, recv_ms) if ts_ms is None else ts_ms,
        recv_ms=recv_ms,
    )


def _levels(raw: Any, legacy_cents: bool) -> tuple[tuple[int, int], ...]:
    if raw is None:
        return ()
    if type(raw) is not list:
        raise WireError(f"book levels must be a list: {raw!r}")
    out: list[tuple[int, int]] = []
    for lvl in raw:
        if type(lvl) is not list or len(lvl) != 2:
            raise WireError(f"book level must be [price, qty]: {lvl!r}")
        p, q = lvl
        price = price_from_cents(p) if legacy_cents else _price(p)
        qty = count_from_int(q) if type(q) is int else parse_count(_str(q, "level qty"))
        if not 0 < price < PRICE_SCALE or qty < 0:
            raise WireError(f"book level out of range: {lvl!r}")
        out.append((price, qty))
    return tuple(out)


def _book_side(msg: Mapping[str, Any], side: str) -> tuple[tuple[int, int], ...]:
    """Current `<side>_dollars_fp`, else legacy `<side>_dollars` (str, int), else `<side>` cents."""
    for key, legacy in ((f"{side}_dollars_fp", False), (f"{side}_dollars", False), (side, True)):
        if key in msg:
            return _levels(msg[key], legacy)
    return ()


def _snapshot(msg: Mapping[str, Any], sid: int, seq: int, recv_ms: int) -> BookSnapshot:
    return BookSnapshot(
        ticker=_str(msg.get("market_ticker"), "market_ticker"),
        yes=_book_side(msg, "yes"),
        no=_book_side(msg, "no"),
        sid=sid,
        seq=seq,
        ts_ms=_ts_ms(msg, recv_ms),
        recv_ms=recv_ms,
    )


def _delta(msg: Mapping[str, Any], sid: int, seq: int, recv_ms: int) -> BookDelta:
    price = _price_field(msg, "price_dollars", "price")
    if price is None or not 0 < price < PRICE_SCALE:
        raise WireError(f"delta price missing or out of range: {price}")
    delta = _count_field(msg, "delta_fp", "delta")
    if delta is None:
        raise WireError("delta without a quantity")
    return BookDelta(
        ticker=_str(msg.get("market_ticker"), "market_ticker"),
        side=_side(msg.get("side")),
        price=price,
        delta=delta,
        sid=sid,
        seq=seq,
        ts_ms=_ts_ms(msg, recv_ms),
        recv_ms=recv_ms,
    )


def _ticker(msg: Mapping[str, Any], recv_ms: int) -> TickerUpdate:
    return TickerUpdate(
        ticker=_str(msg.get("market_ticker"), "market_ticker"),
        price=_price_field(msg, "price_dollars", "price"),
        yes_bid=_price_field(msg, "yes_bid_dollars", "yes_bid"),
        yes_ask=_price_field(msg, "yes_ask_dollars", "yes_ask"),
        volume=_count_field(msg, "volume_fp", "volume"),
        open_interest=_count_field(msg, "open_interest_fp", "open_interest"),
        ts_ms=_ts_ms(msg, recv_ms),
        recv_ms=recv_ms,
    )


def _lifecycle(msg: Mapping[str, Any], recv_ms: int) -> LifecycleEvent:
    try:
        kind = LifecycleKind(str(msg.get("event_type")))
    except ValueError:
        raise WireError(f"unknown lifecycle event_type: {msg.get('event_type')!r}") from None
    open_ts = _opt_int(msg.get("open_ts"), "open_ts")
    close_ts = _opt_int(msg.get("close_ts"), "close_ts")
    when = msg.get("settled_ts") or msg.get("determination_ts")
    result = msg.get("result")
    if result is not None and type(result) is not str:
        raise WireError(f"result must be a string: {result!r}")
    value = msg.get("settlement_value")
    structure = msg.get("price_level_structure")
    if structure is not None and type(structure) is not str:
        raise WireError(f"price_level_structure must be a string: {structure!r}")
    return LifecycleEvent(
        ticker=_str(msg.get("market_ticker"), "market_ticker"),
        kind=kind,
        ts_ms=_int(when, "event ts") * 1000 if when is not None else recv_ms,
        recv_ms=recv_ms,
        open_ts_ms=None if open_ts is None else open_ts * 1000,
        close_ts_ms=None if close_ts is None else close_ts * 1000,
        result=result,
        settlement_value=None if value is None else _price(value),
        price_level_structure=structure,
    )


def multiplier_ppm(value: Any, name: str = "fee_multiplier") -> int:
    """A fee multiplier (a JSON number, or its decimal text) in parts per million, exactly: the
    repr of a double is its shortest round-tripping text; more than 6 decimals is refused."""
    if type(value) is float:
        text = repr(value)
    elif type(value) in (int, str):
        text = str(value)
    else:
        raise WireError(f"{name} must be a number: {value!r}")
    try:
        ppm = parse_dollars(text)
    except FixedPointError as exc:
        raise WireError(f"{name} {value!r}: {exc}") from None
    if ppm < 0:
        raise WireError(f"{name} must not be negative: {value!r}")
    return ppm


def _fee_update(msg: Mapping[str, Any], recv_ms: int) -> EventFeeUpdate:
    fee_type = msg.get("fee_type_override")
    mult = msg.get("fee_multiplier_override")
    ppm = None if mult is None else multiplier_ppm(mult, "fee_multiplier_override")
    if fee_type is not None and type(fee_type) is not str:
        raise WireError(f"fee_type_override must be a string or null: {fee_type!r}")
    return EventFeeUpdate(
        event_ticker=_str(msg.get("event_ticker"), "event_ticker"),
        fee_type=fee_type,
        fee_multiplier_ppm=ppm,
        ts_ms=recv_ms,
        recv_ms=recv_ms,
    )


def _event_created(msg: Mapping[str, Any], recv_ms: int) -> EventCreated:
    return EventCreated(
        event_ticker=_str(msg.get("event_ticker"), "event_ticker"),
        series_ticker=str(msg.get("series_ticker") or ""),
        title=str(msg.get("title") or ""),
        subtitle=str(msg.get("subtitle") or ""),
        ts_ms=recv_ms,
        recv_ms=recv_ms,
    )


# ---- frames -------------------------------------------------------------------------------------


def _opt_id(frame: Mapping[str, Any]) -> int | None:
    return _opt_int(frame.get("id"), "id")


def _control(kind: str, frame: Mapping[str, Any], msg: Any) -> Control:
    if kind == "subscribed":
        if type(msg) is not dict:
            raise WireError("subscribed without msg")
        return Subscribed(
            _opt_id(frame), _str(msg.get("channel"), "channel"), _int(msg.get("sid"), "sid")
        )
    if kind == "ok":
        tickers: tuple[str, ...] | None = None
        if type(msg) is dict and msg.get("market_tickers") is not None:
            raw = msg["market_tickers"]
            if type(raw) is not list:
                raise WireError("market_tickers must be a list")
            tickers = tuple(_str(t, "market ticker") for t in raw)
        return Ok(
            _opt_id(frame),
            _opt_int(frame.get("sid"), "sid"),
            _opt_int(frame.get("seq"), "seq"),
            tickers,
        )
    if kind == "unsubscribed":
        return Unsubscribed(_opt_id(frame), _opt_int(frame.get("sid"), "sid"))
    if type(msg) is not dict:
        raise WireError("error without msg")
    ticker = msg.get("market_ticker")
    return ErrorReply(
        _opt_id(frame),
        _int(msg.get("code"), "code"),
        str(msg.get("msg", "")),
        ticker if type(ticker) is str else None,
    )


def _parse(text: str | bytes, recv_ms: int) -> WireMessage:
    frame = orjson.loads(text)
    if type(frame) is not dict:
        raise WireError("frame is not a JSON object")
    kind = frame.get("type")
    msg = frame.get("msg")
    if kind in ("subscribed", "ok", "unsubscribed", "error"):
        return WireMessage(
            kind,
            _opt_int(frame.get("sid"), "sid"),
            _opt_int(frame.get("seq"), "seq"),
            _control(kind, frame, msg),
        )
    if type(msg) is not dict:
        raise WireError(f"{kind!r} frame without an object msg")
    sid = _int(frame.get("sid"), "sid")
    seq = _opt_int(frame.get("seq"), "seq")
    payload: Payload
    if kind == "trade":
        payload = _trade(msg, "market_ticker", recv_ms, None)
    elif kind == "orderbook_delta":
        payload = _delta(msg, sid, _int(seq, "seq"), recv_ms)
    elif kind == "orderbook_snapshot":
        payload = _snapshot(msg, sid, _int(seq, "seq"), recv_ms)
    elif kind == "ticker":
        payload = _ticker(msg, recv_ms)
    elif kind == "market_lifecycle_v2":
        payload = _lifecycle(msg, recv_ms)
    elif kind == "event_fee_update":
        payload = _fee_update(msg, recv_ms)
    elif kind == "event_lifecycle":
        payload = _event_created(msg, recv_ms)
    else:
        raise WireError(f"unknown frame type {kind!r}")
    return WireMessage(kind, sid, seq, payload)


def parse_frame(text: str | bytes, recv_ms: int) -> WireMessage:
    """Parse one WebSocket text frame. Raises only ``WireError``."""
    try:
        return _parse(text, recv_ms)
    except WireError:
        raise
    except (
        orjson.JSONDecodeError,
        FixedPointError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        OverflowError,
    ) as exc:
        raise WireError(f"{type(exc).__name__}: {exc}") from None


# ---- commands -----------------------------------------------------------------------------------


def subscribe_cmd(
    cmd_id: int, channels: Iterable[str], tickers: Iterable[str] | None = None
) -> bytes:
    params: dict[str, Any] = {"channels": list(channels)}
    if tickers is not None:
        params["market_tickers"] = list(tickers)
    return orjson.dumps({"id": cmd_id, "cmd": "subscribe", "params": params})


def unsubscribe_cmd(cmd_id: int, sids: Iterable[int]) -> bytes:
    return orjson.dumps({"id": cmd_id, "cmd": "unsubscribe", "params": {"sids": list(sids)}})


def update_subscription_cmd(cmd_id: int, sid: int, action: str, tickers: Iterable[str]) -> bytes:
    """``action`` is add_markets, delete_markets or get_snapshot."""
    if action not in ("add_markets", "delete_markets", "get_snapshot"):
        raise ValueError(f"unsupported update_subscription action {action!r}")
    params = {"sids": [sid], "market_tickers": list(tickers), "action": action}
    return orjson.dumps({"id": cmd_id, "cmd": "update_subscription", "params": params})
