"""Kalshi's JSON shapes for the simulator's objects (current fixed-point format)."""

from __future__ import annotations

import time
from typing import Any

from models import format_count, format_price
from sim.catalogue import EventDef, Market, SeriesDef
from sim.history import TradeRow


def rfc3339(ms: int, micros: bool = False) -> str:
    t = time.gmtime(ms // 1000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", t)
    if micros:
        return f"{base}.{(ms % 1000) * 1000:06d}Z"
    return f"{base}Z"


def _strike(text: str | None) -> float | None:
    # Kalshi sends floor_strike as a JSON number; these short decimals round-trip exactly.
    return float(text) if text is not None else None


def best(m: Market) -> tuple[int, int, int, int]:
    """(yes bid, yes bid size, yes ask, yes ask size); 0 where the side is empty."""
    yb = max(m.book_yes) if m.book_yes else 0
    nb = max(m.book_no) if m.book_no else 0
    return (yb, m.book_yes.get(yb, 0), 10_000 - nb if nb else 0, m.book_no.get(nb, 0))


def market_json(m: Market) -> dict[str, Any]:
    yb, ybs, ya, yas = best(m)
    cent = m.tick == 100
    d: dict[str, Any] = {
        "ticker": m.ticker,
        "event_ticker": m.event_ticker,
        "market_type": "binary",
        "title": m.title,
        "subtitle": m.subtitle,
        "yes_sub_title": m.yes_sub_title,
        "no_sub_title": m.no_sub_title,
        "created_time": rfc3339(m.created_ms),
        "updated_time": rfc3339(m.created_ms),
        "open_time": rfc3339(m.open_ms),
        "close_time": rfc3339(m.close_ms),
        "expected_expiration_time": rfc3339(m.close_ms),
        "expiration_time": rfc3339(m.close_ms),
        "latest_expiration_time": rfc3339(m.close_ms),
        "settlement_timer_seconds": 300,
        "status": m.status,
        "response_price_units": "usd_cent",
        "yes_bid_dollars": format_price(yb),
        "yes_bid_size_fp": format_count(ybs),
        "yes_ask_dollars": format_price(ya),
        "yes_ask_size_fp": format_count(yas),
        "no_bid_dollars": format_price(10_000 - ya if ya else 0),
        "no_ask_dollars": format_price(10_000 - yb if yb else 0),
        "last_price_dollars": format_price(m.last_price),
        "previous_price_dollars": "0.0000",
        "previous_yes_bid_dollars": "0.0000",
        "previous_yes_ask_dollars": "0.0000",
        "volume_fp": format_count(m.volume),
        "volume_24h_fp": format_count(m.volume),
        "open_interest_fp": format_count(m.open_interest),
        "notional_value_dollars": "1.0000",
        "liquidity_dollars": "0.0000",
        "result": m.result,
        "can_close_early": True,
        "expiration_value": "",
        "fractional_trading_enabled": True,
        "price_level_structure": "linear_cent" if cent else "deci_cent",
        "price_ranges": [
            {"start": "0.0000", "end": "1.0000", "step": "0.0100" if cent else "0.0010"}
        ],
        "rules_primary": f"If {m.yes_sub_title} for {m.title}, then the market resolves to Yes.",
        "rules_secondary": "",
        "early_close_condition": "This market will close and expire after the event occurs.",
    }
    if m.floor_strike is not None:
        d["floor_strike"] = _strike(m.floor_strike)
        d["strike_type"] = m.strike_type
    if m.settlement_value is not None:
        d["settlement_value_dollars"] = format_price(m.settlement_value)
    if m.settled_ms is not None:
        d["settlement_ts"] = rfc3339(m.settled_ms)
    return d


def event_json(ev: EventDef, markets: list[Market] | None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "event_ticker": ev.event_ticker,
        "series_ticker": ev.series_ticker,
        "title": ev.title,
        "sub_title": ev.sub_title,
        "category": ev.category,
        "mutually_exclusive": ev.mutually_exclusive,
        "collateral_return_type": "",
        "available_on_brokers": True,
        "product_metadata": {},
    }
    if markets is not None:
        d["markets"] = [market_json(m) for m in markets]
    return d


def series_json(s: SeriesDef) -> dict[str, Any]:
    i = s.info
    return {
        "ticker": i.ticker,
        "frequency": s.frequency,
        "title": i.title,
        "category": i.category,
        "tags": [],
        "settlement_sources": [],
        "contract_url": "",
        "contract_terms_url": "",
        "fee_type": i.fee_type,
        # fee_multiplier is a JSON number on the wire (OpenAPI Series.fee_multiplier: double)
        "fee_multiplier": i.fee_multiplier_ppm / 1_000_000,
        "additional_prohibitions": [],
    }


def trade_rest_json(r: TradeRow, ticker: str) -> dict[str, Any]:
    side = "yes" if r.taker_yes else "no"
    return {
        "trade_id": r.trade_id,
        "ticker": ticker,
        "count_fp": format_count(r.count),
        "yes_price_dollars": format_price(r.yes_price),
        "no_price_dollars": format_price(10_000 - r.yes_price),
        "taker_side": side,
        "taker_outcome_side": side,
        "taker_book_side": "bid" if r.taker_yes else "ask",
        "is_block_trade": False,
        "created_time": rfc3339(r.ts_ms, micros=True),
    }


def trade_ws_msg(r: TradeRow, ticker: str) -> dict[str, Any]:
    side = "yes" if r.taker_yes else "no"
    return {
        "trade_id": r.trade_id,
        "market_ticker": ticker,
        "yes_price_dollars": format_price(r.yes_price),
        "no_price_dollars": format_price(10_000 - r.yes_price),
        "count_fp": format_count(r.count),
        "taker_side": side,
        "taker_outcome_side": side,
        "taker_book_side": "bid" if r.taker_yes else "ask",
        "ts": r.ts_ms // 1000,
        "ts_ms": r.ts_ms,
    }


def ticker_ws_msg(m: Market, last_size: int, ts_ms: int) -> dict[str, Any]:
    yb, ybs, ya, yas = best(m)
    return {
        "market_ticker": m.ticker,
        "market_id": m.market_id,
        "price_dollars": format_price(m.last_price),
        "yes_bid_dollars": format_price(yb),
        "yes_ask_dollars": format_price(ya),
        "yes_bid_size_fp": format_count(ybs),
        "yes_ask_size_fp": format_count(yas),
        "last_trade_size_fp": format_count(last_size),
        "volume_fp": format_count(m.volume),
        "open_interest_fp": format_count(m.open_interest),
        "dollar_volume": m.volume * m.last_price // 1_000_000,
        "dollar_open_interest": m.open_interest * m.last_price // 1_000_000,
        "ts": ts_ms // 1000,
        "ts_ms": ts_ms,
        "time": rfc3339(ts_ms, micros=True),
    }


def lifecycle_ws_msg(m: Market, event_type: str, ts_ms: int) -> dict[str, Any]:
    d: dict[str, Any] = {"market_ticker": m.ticker, "event_type": event_type}
    if event_type == "created":
        d["open_ts"] = m.open_ms // 1000
        d["close_ts"] = m.close_ms // 1000
        d["price_level_structure"] = "linear_cent" if m.tick == 100 else "deci_cent"
        meta: dict[str, Any] = {
            "name": m.title,
            "title": m.title,
            "yes_sub_title": m.yes_sub_title,
            "no_sub_title": m.no_sub_title,
            "can_close_early": True,
            "event_ticker": m.event_ticker,
            "expected_expiration_ts": m.close_ms // 1000,
            "strike_type": m.strike_type,
        }
        if m.floor_strike is not None:
            meta["floor_strike"] = _strike(m.floor_strike)
        d["additional_metadata"] = meta
    elif event_type == "close_date_updated":
        d["close_ts"] = m.close_ms // 1000
    elif event_type == "deactivated":
        d["is_deactivated"] = True
    elif event_type == "determined":
        d["result"] = m.result
        d["determination_ts"] = ts_ms // 1000
        d["settlement_value"] = format_price(m.settlement_value or 0)
    elif event_type == "settled":
        d["settled_ts"] = ts_ms // 1000
    return d


def book_levels(book: dict[int, int], yes_leg: bool) -> list[list[str]]:
    """Levels best last as Kalshi lists them (ascending price); ``yes_leg`` converts a NO bid
    to YES-leg pricing (1 - p) for ``use_yes_price``."""
    if yes_leg:
        return [
            [format_price(10_000 - p), format_count(q)]
            for p, q in sorted(book.items(), reverse=True)
        ]
    return [[format_price(p), format_count(q)] for p, q in sorted(book.items())]
