"""The SELECTs behind ``Database``'s reads, and how their rows become domain objects.

Every query on the trades walks an index (or the table's key) in order and stops after what it
needs: nothing reads a month of trades to answer (``tests/test_database_plans.py``).
"""

from __future__ import annotations

import json
from typing import Any

from models import MarketInfo, PriceRange, SeriesInfo, Side, Trade
from storage.schema import large_row_index, large_trade_tier
from storage.trade_codec import BUCKET_SHIFT, EPOCH_MS, SEQ_BITS, key_floor, readable_id

# trade_rows first, then its market by id: the trades' order is the key's
ROW_COLUMNS = "t.tid, m.ticker, t.yes_price, t.count, t.taker_yes, t.key, t.recv_delta"
ROWS_FROM = "trade_rows t{indexed} CROSS JOIN markets m ON m.id = t.market"


def trade_of(r: Any) -> Trade:
    ts = (r[5] >> SEQ_BITS) + EPOCH_MS
    return Trade(readable_id(r[0]), r[1], r[2], r[3], Side.YES if r[4] else Side.NO, ts,
                 ts + r[6])  # fmt: skip


LAST_TRADE_QUERY = "SELECT max(key) FROM trade_rows"
TRADES_BETWEEN = (
    f"SELECT {ROW_COLUMNS} FROM {ROWS_FROM.format(indexed='')}"
    " WHERE t.key > ? AND t.key < ? ORDER BY t.key LIMIT ?"
)
COUNT_BETWEEN = "SELECT count(*) FROM trade_rows WHERE key >= ? AND key < ?"


def recent_trades_query(
    *,
    limit: int,
    ticker: str | None = None,
    min_count: int | None = None,
    before_ms: int | None = None,
) -> tuple[str, list[Any]]:
    """The SELECT of ``Database.recent_trades`` and its parameters; each shape walks an index
    newest first and stops after ``limit`` rows: a ticker's trades by (market, key), large
    trades by the partial index of their size tier (its ``count >= tier`` is written out so the
    planner may use it), the rest by the key."""
    where: list[str] = []
    params: list[Any] = []
    indexed = ""
    if ticker is not None:
        where.append("t.market = (SELECT id FROM markets WHERE ticker = ?)")
        params.append(ticker)
    if min_count is not None:
        where.append("t.count >= ?")
        params.append(min_count)
        tier = large_trade_tier(min_count)
        if tier is not None and ticker is None:
            where.append(f"t.count >= {int(tier)}")
            indexed = f" INDEXED BY {large_row_index(tier)}"
    if before_ms is not None:
        where.append("t.key < ?")
        params.append(key_floor(before_ms))
        if indexed:  # the index's own column bounds where the walk starts
            where.append(f"(t.key >> {BUCKET_SHIFT}) <= ?")
            params.append(key_floor(before_ms) >> BUCKET_SHIFT)
    sql = f"SELECT {ROW_COLUMNS} FROM {ROWS_FROM.format(indexed=indexed)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    # a tier's index holds (bucket, key): ordered by both, which is the key's order
    order = f"(t.key >> {BUCKET_SHIFT}) DESC, t.key DESC" if indexed else "t.key DESC"
    sql += f" ORDER BY {order} LIMIT ?"
    params.append(limit)
    return sql, params


MARKETS_QUERY = (
    "SELECT ticker, event_ticker, series_ticker, title, subtitle, status, open_ts_ms,"
    " close_ts_ms, floor_strike, result, yes_sub_title, no_sub_title, price_level_structure,"
    " price_ranges, fractional_trading_enabled FROM markets"
    " WHERE ticker IN ({marks}) AND updated_ms IS NOT NULL"
)


def ranges_json(ranges: tuple[PriceRange, ...]) -> str:
    return json.dumps([[r.start, r.end, r.step] for r in ranges], separators=(",", ":"))


def market_row(m: MarketInfo, updated_ms: int) -> tuple[Any, ...]:
    """The parameters of ``UPSERT_MARKET``."""
    return (
        m.ticker, m.event_ticker, m.series_ticker, m.title, m.subtitle, m.status, m.open_ts_ms,
        m.close_ts_ms, m.floor_strike, m.result, m.yes_sub_title, m.no_sub_title,
        m.price_level_structure, ranges_json(m.price_ranges), int(m.fractional_trading_enabled),
        updated_ms,
    )  # fmt: skip


def market_of(r: Any) -> MarketInfo:
    return MarketInfo(
        ticker=r[0],
        event_ticker=r[1],
        series_ticker=r[2],
        title=r[3],
        subtitle=r[4],
        status=r[5],
        open_ts_ms=r[6],
        close_ts_ms=r[7],
        floor_strike=r[8],
        result=r[9],
        yes_sub_title=r[10],
        no_sub_title=r[11],
        price_level_structure=r[12] or "",
        price_ranges=tuple(PriceRange(*band) for band in json.loads(r[13] or "[]")),
        fractional_trading_enabled=bool(r[14]),
    )


SERIES_QUERY = (
    "SELECT ticker, title, category, fee_type, fee_multiplier_ppm FROM series"
    " WHERE ticker IN ({marks})"
)


def series_of(r: Any) -> SeriesInfo:
    return SeriesInfo(r[0], r[1], r[2], r[3], r[4])


GAPS_QUERY = """
    SELECT g.kind, g.channel, g.sid, g.expected_seq, g.got_seq, g.ticker, g.from_ms,
           g.ts_ms, g.recv_ms, r.id, r.to_ms, r.trades_recovered, r.ts_ms
    FROM feed_gaps g
    LEFT JOIN gap_recoveries r ON r.id = (
        SELECT r2.id FROM gap_recoveries r2
        WHERE r2.kind = g.kind AND r2.from_ms = g.from_ms AND r2.ticker IS g.ticker
        ORDER BY r2.id LIMIT 1)
    ORDER BY g.ts_ms DESC, g.id DESC LIMIT ?
"""
GAP_KEYS = ("kind", "channel", "sid", "expected_seq", "got_seq", "ticker", "from_ms", "ts_ms",
            "recv_ms")  # fmt: skip


def gap_of(r: Any) -> dict[str, object]:
    gap: dict[str, object] = dict(zip(GAP_KEYS, r[:9], strict=True))
    gap["recovered"] = (
        None if r[9] is None else {"to_ms": r[10], "trades_recovered": r[11], "ts_ms": r[12]}
    )
    return gap
