"""Kalshi's REST bodies (trades, markets, events, series, order books, exchange status, errors)
parsed into ``models`` types with the same exact converters as the WebSocket frames
(``kalshi_wire``). A body that does not convert raises ``WireError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kalshi.wire import (
    WireError,
    _book_side,
    _int,
    _levels,
    _price,
    _str,
    _trade,
    multiplier_ppm,
    rfc3339_to_ms,
)
from models import (
    BookSnapshot,
    EventInfo,
    FixedPointError,
    MarketInfo,
    PriceRange,
    SeriesInfo,
    Trade,
)


def _loads_obj(body: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"body is not JSON: {exc}") from None
    if type(data) is not dict:
        raise WireError("body is not a JSON object")
    return data


def _rest(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except WireError:
        raise
    except (FixedPointError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WireError(f"{type(exc).__name__}: {exc}") from None


def _cursor(body: Mapping[str, Any]) -> str | None:
    cur = body.get("cursor")
    return cur if type(cur) is str and cur else None


def parse_rest_trade(row: Mapping[str, Any], recv_ms: int) -> Trade:
    """One `/markets/trades` row (``ticker``, ``created_time``; no ``ts_ms``)."""

    def go() -> Trade:
        ts = row.get("ts_ms")
        ts_ms = _int(ts, "ts_ms") if ts is not None else rfc3339_to_ms(row.get("created_time"))
        return _trade(row, "ticker", recv_ms, ts_ms)

    result: Trade = _rest(go)
    return result


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row of a page that did not parse: the row as JSON text, and why."""

    raw: str
    error: str


@dataclass(frozen=True, slots=True)
class TradesPage:
    """One `/markets/trades` page: the trades that parsed, the cursor, and the rows that did not
    (a bad row is skipped, never a reason to lose the rest of the page)."""

    trades: list[Trade]
    cursor: str | None
    bad_rows: list[BadRow]


def _row_text(row: Any) -> str:
    try:
        return orjson.dumps(row).decode()
    except TypeError:
        return repr(row)


def parse_trades_page(body: bytes | str, recv_ms: int) -> TradesPage:
    """A body that is not a trades page raises ``WireError``; a row that is not a trade is
    returned in ``bad_rows``."""
    data = _loads_obj(body)
    rows = data.get("trades") or []
    if type(rows) is not list:
        raise WireError("trades must be a list")
    trades: list[Trade] = []
    bad: list[BadRow] = []
    for r in rows:
        try:
            trades.append(parse_rest_trade(r, recv_ms))
        except WireError as exc:
            bad.append(BadRow(_row_text(r), str(exc)))
    return TradesPage(trades, _cursor(data), bad)


def _opt_time(value: Any) -> int | None:
    return None if value in (None, "") else rfc3339_to_ms(value)


def _strike_text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) in (int, float, str):
        return str(value)
    raise WireError(f"floor_strike must be a number: {value!r}")


def _price_ranges(raw: Any) -> tuple[PriceRange, ...]:
    """``price_ranges``: [{start, end, step}] in dollar strings; each a valid band."""
    if raw is None:
        return ()
    if type(raw) is not list:
        raise WireError("price_ranges must be a list")
    out = []
    for r in raw:
        if type(r) is not dict:
            raise WireError("a price range must be an object")
        start, end, step = _price(r.get("start")), _price(r.get("end")), _price(r.get("step"))
        if step <= 0 or end <= start or (end - start) % step:
            raise WireError(f"bad price range {r!r}")
        out.append(PriceRange(start, end, step))
    return tuple(out)


def parse_market(m: Mapping[str, Any]) -> MarketInfo:
    def go() -> MarketInfo:
        event_ticker = str(m.get("event_ticker") or "")
        series = m.get("series_ticker") or event_ticker.partition("-")[0]
        result = m.get("result")
        return MarketInfo(
            ticker=_str(m.get("ticker"), "ticker"),
            event_ticker=event_ticker,
            series_ticker=str(series),
            title=str(m.get("title") or ""),
            subtitle=str(m.get("subtitle") or ""),
            status=str(m.get("status") or ""),
            open_ts_ms=_opt_time(m.get("open_time")),
            close_ts_ms=_opt_time(m.get("close_time")),
            floor_strike=_strike_text(m.get("floor_strike")),
            result=result if type(result) is str else None,
            yes_sub_title=str(m.get("yes_sub_title") or ""),
            no_sub_title=str(m.get("no_sub_title") or ""),
            price_level_structure=str(m.get("price_level_structure") or ""),
            price_ranges=_price_ranges(m.get("price_ranges")),
            fractional_trading_enabled=m.get("fractional_trading_enabled") is True,
        )

    result_: MarketInfo = _rest(go)
    return result_


def parse_markets_page(body: bytes | str) -> tuple[list[MarketInfo], str | None]:
    data = _loads_obj(body)
    rows = data.get("markets") or []
    if type(rows) is not list:
        raise WireError("markets must be a list")
    return [parse_market(r) for r in rows], _cursor(data)


def parse_market_body(body: bytes | str) -> MarketInfo:
    data = _loads_obj(body)
    if type(data.get("market")) is not dict:
        raise WireError("body has no market object")
    return parse_market(data["market"])


def parse_event(e: Mapping[str, Any]) -> EventInfo:
    def go() -> EventInfo:
        markets = e.get("markets") or []
        return EventInfo(
            event_ticker=_str(e.get("event_ticker"), "event_ticker"),
            series_ticker=str(e.get("series_ticker") or ""),
            title=str(e.get("title") or ""),
            sub_title=str(e.get("sub_title") or ""),
            markets=tuple(parse_market(m) for m in markets),
        )

    result: EventInfo = _rest(go)
    return result


def parse_events_page(body: bytes | str) -> tuple[list[EventInfo], str | None]:
    data = _loads_obj(body)
    rows = data.get("events") or []
    if type(rows) is not list:
        raise WireError("events must be a list")
    return [parse_event(r) for r in rows], _cursor(data)


def parse_series_body(body: bytes | str) -> SeriesInfo:
    data = _loads_obj(body)
    s = data.get("series")
    if type(s) is not dict:
        raise WireError("body has no series object")

    def go() -> SeriesInfo:
        return SeriesInfo(
            ticker=_str(s.get("ticker"), "ticker"),
            title=str(s.get("title") or ""),
            category=str(s.get("category") or ""),
            fee_type=str(s.get("fee_type") or ""),
            fee_multiplier_ppm=multiplier_ppm(s.get("fee_multiplier", 1)),
        )

    result: SeriesInfo = _rest(go)
    return result


def parse_orderbook_body(ticker: str, body: bytes | str, recv_ms: int) -> BookSnapshot:
    """`/markets/{ticker}/orderbook`: ``orderbook_fp`` {yes_dollars, no_dollars}, or legacy
    ``orderbook``. The snapshot has sid 0 and seq 0 (it is not from a subscription)."""
    data = _loads_obj(body)

    def go() -> BookSnapshot:
        fp = data.get("orderbook_fp")
        if type(fp) is dict:
            yes, no = _levels(fp.get("yes_dollars"), False), _levels(fp.get("no_dollars"), False)
        elif type(data.get("orderbook")) is dict:
            ob = data["orderbook"]
            yes, no = _book_side(ob, "yes"), _book_side(ob, "no")
        else:
            raise WireError("body has no orderbook")
        return BookSnapshot(ticker, yes, no, 0, 0, recv_ms, recv_ms)

    result: BookSnapshot = _rest(go)
    return result


def parse_exchange_status(body: bytes | str) -> tuple[bool, bool]:
    """(exchange_active, trading_active)."""
    data = _loads_obj(body)
    ex, tr = data.get("exchange_active"), data.get("trading_active")
    if type(ex) is not bool or type(tr) is not bool:
        raise WireError("exchange status without booleans")
    return ex, tr


@dataclass(frozen=True, slots=True)
class ErrorBody:
    code: str
    message: str
    details: str


def parse_error_body(body: bytes | str) -> ErrorBody:
    """Kalshi's three error shapes: {"error": {code, message, details?}}, flat {code, message,
    details?}, and {"msg": text}. Anything else becomes a body excerpt."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return ErrorBody("", text[:200], "")
    if type(data) is dict:
        inner = data.get("error")
        src = inner if type(inner) is dict else data
        if "code" in src or "message" in src:
            return ErrorBody(
                str(src.get("code") or ""),
                str(src.get("message") or ""),
                str(src.get("details") or ""),
            )
        if "msg" in data:
            return ErrorBody("", str(data["msg"]), "")
        if type(inner) is str:
            return ErrorBody("", inner, "")
    return ErrorBody("", str(data)[:200], "")
