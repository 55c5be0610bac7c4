from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi import rest_wire as rest_wire
from kalshi import wire as wire
from kalshi.orderbook import OrderBook, SeqTracker
from models import (
    STRUCTURE_GRIDS,
    BookDelta,
    BookSnapshot,
    EventCreated,
    EventFeeUpdate,
    LifecycleEvent,
    LifecycleKind,
    PriceRange,
    Side,
    TickerUpdate,
    Trade,
)

FIX = Path(__file__).parents[1] / "fixtures" / "kalshi"
DEMO = FIX / "demo"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cc(text: str) -> int:
    """Independent exact conversion for checks: dollars -> centicents via Decimal."""
    v = Decimal(text) * 10_000
    assert v == v.to_integral_value()
    return int(v)


def hundredths(text: str) -> int:
    v = Decimal(text) * 100
    assert v == v.to_integral_value()
    return int(v)


# ---- real production order-book stream ----------------------------------------------------------


def test_prod_orderbook_stream_replays_to_consistent_books() -> None:
    data = json.loads(
        (FIX / "kalshi_prod_ws_orderbook_stream_2026-08-07_mlb_wnba.json").read_text()
    )
    seqs = SeqTracker()
    books: dict[str, OrderBook] = {}
    kinds: dict[str, int] = {}
    last_seq = 0
    for item in data["frames"]:
        raw = orjson.dumps(item["frame"])
        m = wire.parse_frame(raw, item["received_ms"])
        kinds[m.type] = kinds.get(m.type, 0) + 1
        if m.seq is not None:
            assert m.sid is not None
            assert seqs.check(m.sid, m.seq).ok, f"seq gap at {m.seq}"
            last_seq = m.seq
        p = m.payload
        if isinstance(p, BookSnapshot):
            msg = item["frame"]["msg"]
            assert [lvl[0] for lvl in p.yes] == [cc(x[0]) for x in msg.get("yes_dollars_fp", [])]
            assert [lvl[1] for lvl in p.no] == [
                hundredths(x[1]) for x in msg.get("no_dollars_fp", [])
            ]
            books.setdefault(p.ticker, OrderBook(p.ticker)).apply_snapshot(p)
        elif isinstance(p, BookDelta):
            msg = item["frame"]["msg"]
            assert p.ts_ms == msg["ts_ms"] and p.delta == hundredths(msg["delta_fp"])
            books[p.ticker].apply_delta(p)  # raises BookError on a negative level
    assert kinds == {"subscribed": 1, "ok": 11, "orderbook_snapshot": 12, "orderbook_delta": 245}
    assert last_seq == 268
    assert len(books) == 12
    for book in books.values():
        yes, no = book.as_maps()
        assert all(q > 0 for q in yes.values()) and all(q > 0 for q in no.values())
        bid, ask = book.best_yes_bid(), book.best_yes_ask()
        if bid and ask:
            assert bid[0] < ask[0], f"{book.ticker} crossed"


# ---- REST trades (NBA sample, fractional counts) ------------------------------------------------


def test_nba_trades_sample_parses_exactly() -> None:
    lines = (FIX / "kalshi_prod_nba_trades_sample_2026-04_05.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    assert len(rows) == 98
    fractional = 0
    for row in rows:
        t = rest_wire.parse_rest_trade(row, recv_ms=5)
        assert t.trade_id == row["trade_id"] and t.ticker == row["ticker"]
        assert t.yes_price == cc(row["yes_price_dollars"])
        assert t.no_price == cc(row["no_price_dollars"])
        assert t.count == hundredths(row["count_fp"])
        assert t.taker_side == Side(row["taker_side"])
        dt = datetime.fromisoformat(row["created_time"])
        assert t.ts_ms == (dt - EPOCH) // timedelta(milliseconds=1)
        fractional += t.count % 100 != 0
    assert fractional > 0
    first = rest_wire.parse_rest_trade(rows[0], recv_ms=5)
    assert (first.count, first.yes_price, first.ts_ms) == (24, 8600, 1777741909493)


def test_demo_trades_page() -> None:
    page = rest_wire.parse_trades_page((DEMO / "trades__public_recorded.json").read_bytes(), 7)
    trades = page.trades
    assert page.cursor and trades and page.bad_rows == []
    assert trades[0].count == 777 and trades[0].yes_price == 300
    assert trades[0].taker_side is Side.YES and trades[0].recv_ms == 7


def test_trades_page_skips_a_bad_row_and_keeps_the_others() -> None:
    body = orjson.loads((DEMO / "trades__public_recorded.json").read_bytes())
    rows = body["trades"]
    good = rest_wire.parse_trades_page(orjson.dumps(body), 7).trades
    broken = dict(rows[1], count_fp="many\n")
    body["trades"] = [rows[0], broken, "not a row", *rows[2:]]
    page = rest_wire.parse_trades_page(orjson.dumps(body), 7)
    assert [t.trade_id for t in page.trades] == [good[0].trade_id, *(t.trade_id for t in good[2:])]
    assert len(page.bad_rows) == 2 and page.cursor == body["cursor"]
    assert rows[1]["trade_id"] in page.bad_rows[0].raw and "\\n" in page.bad_rows[0].raw
    assert page.bad_rows[1].raw == '"not a row"'
    with pytest.raises(rest_wire.WireError):
        rest_wire.parse_trades_page(b'{"trades": "all of them"}', 7)


# ---- demo fixtures ------------------------------------------------------------------------------


def test_demo_markets_pages_and_single() -> None:
    seen: set[str] = set()
    for n in (1, 2, 3):
        markets, cursor = rest_wire.parse_markets_page(
            (DEMO / f"markets__page{n}.json").read_bytes()
        )
        assert len(markets) == 5 and cursor
        seen |= {m.ticker for m in markets}
    assert len(seen) == 15
    m = rest_wire.parse_market_body((DEMO / "markets__single.json").read_bytes())
    assert m.ticker.startswith("KXWTACHALLENGERMATCH-26JUN11JIMLEP")
    assert m.event_ticker == "KXWTACHALLENGERMATCH-26JUN11JIMLEP"
    assert m.series_ticker == "KXWTACHALLENGERMATCH"
    assert m.close_ts_ms == 1782403200000
    # the tick structure: whole cents from $0 to $1, fractional contracts allowed
    assert m.price_level_structure == "linear_cent" and m.fractional_trading_enabled
    assert m.price_ranges == (PriceRange(0, 10_000, 100),) == STRUCTURE_GRIDS["linear_cent"]


def test_demo_and_prod_orderbook_bodies() -> None:
    book = rest_wire.parse_orderbook_body("X", (DEMO / "orderbook__base.json").read_bytes(), 3)
    assert book.yes == ((4700, 300),) and book.no == ((4800, 300),)
    prod = json.loads(
        (FIX / "kalshi_prod_market_single_nested_orderbook_2026-08-09.json").read_text()
    )
    body = next(v for k, v in prod.items() if "orderbook" in k and isinstance(v, dict))
    snap = rest_wire.parse_orderbook_body("Y", orjson.dumps(body), 3)
    fp = body["orderbook_fp"]
    assert [p for p, _ in snap.yes] == [cc(p) for p, _ in fp.get("yes_dollars") or []]
    assert [q for _, q in snap.no] == [hundredths(q) for _, q in fp.get("no_dollars") or []]


def test_demo_ws_frames() -> None:
    for name in ("ws__orderbook_trade_yes.jsonl", "ws__orderbook_trade_noleg.jsonl"):
        book = OrderBook("")
        seqs = SeqTracker()
        subs: dict[str, int] = {}
        for line in (DEMO / name).read_text().splitlines():
            if not line.strip():
                continue
            m = wire.parse_frame(line, 1)
            if isinstance(m.payload, wire.Subscribed):
                subs[m.payload.channel] = m.payload.sid
            elif m.sid is not None and m.seq is not None:
                assert seqs.check(m.sid, m.seq).ok
            if isinstance(m.payload, BookSnapshot):
                book.apply_snapshot(m.payload)
            elif isinstance(m.payload, BookDelta):
                book.apply_delta(m.payload)
        assert subs == {"orderbook_delta": 1, "trade": 2}
        assert not book.stale


@pytest.mark.parametrize(
    ("name", "code", "message", "details"),
    [
        ("auth__bad_signature", "authentication_error", "authentication_error",
         "INCORRECT_API_KEY_SIGNATURE"),
        ("auth__unknown_key_id", "authentication_error", "authentication_error", "NOT_FOUND"),
        ("auth__missing_signature_header", "signature_is_missing_from_headers",
         "signature is missing from headers", ""),
        ("auth__skew_minus5min", "header_timestamp_expired", "header timestamp expired", ""),
        ("orders__numeric_field_types", "bad_request", "bad request",
         "json: cannot unmarshal number into Go struct field CreateOrderV2Request.count"
         " of type string"),
    ],
)  # fmt: skip
def test_error_bodies(name: str, code: str, message: str, details: str) -> None:
    body = rest_wire.parse_error_body((DEMO / f"{name}.json").read_bytes())
    assert (body.code, body.message, body.details) == (code, message, details)


def test_error_body_msg_shape_and_garbage() -> None:
    body = rest_wire.parse_error_body((DEMO / "markets__limit_over_max.json").read_bytes())
    assert body.code == "" and body.message.startswith("Parameter validation failed for GetMarkets")
    assert rest_wire.parse_error_body(b"<html>502</html>").message == "<html>502</html>"


def test_exchange_status() -> None:
    assert rest_wire.parse_exchange_status((DEMO / "exchange__status.json").read_bytes()) == (
        True,
        True,
    )


# ---- current and legacy frame formats -----------------------------------------------------------


TRADE_CURRENT: dict[str, Any] = {
    "type": "trade", "sid": 11, "seq": 4,
    "msg": {
        "trade_id": "d91bc706-ee49-470d-82d8-11418bda6fed", "market_ticker": "HIGHNY-22DEC23-B53.5",
        "yes_price_dollars": "0.360", "no_price_dollars": "0.640", "count_fp": "136.25",
        "taker_side": "yes", "taker_outcome_side": "no", "taker_book_side": "ask",
        "ts": 1669149841, "ts_ms": 1669149841123,
    },
}  # fmt: skip


def test_current_trade_frame() -> None:
    m = wire.parse_frame(orjson.dumps(TRADE_CURRENT), 99)
    assert (m.type, m.sid, m.seq) == ("trade", 11, 4)
    assert m.payload == Trade(
        "d91bc706-ee49-470d-82d8-11418bda6fed",
        "HIGHNY-22DEC23-B53.5",
        3600,
        13625,
        Side.NO,
        1669149841123,
        99,
    )  # taker_outcome_side wins over the deprecated taker_side


def test_legacy_integer_frames() -> None:
    # shapes from the March 2026 AsyncAPI (legacy integer cents and counts, ts in seconds)
    trade = {"type": "trade", "sid": 11, "msg": {
        "trade_id": "t1", "market_ticker": "HIGHNY-22DEC23-B53.5", "yes_price": 36, "no_price": 64,
        "count": 136, "taker_side": "no", "ts": 1669149841}}  # fmt: skip
    t = wire.parse_frame(orjson.dumps(trade), 1).payload
    assert isinstance(t, Trade)
    assert (t.yes_price, t.count, t.taker_side, t.ts_ms) == (3600, 13600, Side.NO, 1669149841000)
    snap = {"type": "orderbook_snapshot", "sid": 2, "seq": 2, "msg": {
        "market_ticker": "FED-23DEC-T3.00", "market_id": "x",
        "yes": [[8, 300], [22, 333]], "no": [[54, 20], [56, 146]]}}  # fmt: skip
    s = wire.parse_frame(orjson.dumps(snap), 1).payload
    assert isinstance(s, BookSnapshot)
    assert s.yes == ((800, 30000), (2200, 33300)) and s.no == ((5400, 2000), (5600, 14600))
    snap2 = {"type": "orderbook_snapshot", "sid": 2, "seq": 2, "msg": {
        "market_ticker": "FED-23DEC-T3.00", "yes_dollars": [["0.080", 300]]}}  # fmt: skip
    s2 = wire.parse_frame(orjson.dumps(snap2), 1).payload
    assert isinstance(s2, BookSnapshot) and s2.yes == ((800, 30000),) and s2.no == ()
    dlt = {"type": "orderbook_delta", "sid": 2, "seq": 3, "msg": {
        "market_ticker": "FED-23DEC-T3.00", "price": 96, "delta": -54, "side": "yes",
        "ts": "2022-11-22T20:44:01Z"}}  # fmt: skip
    d = wire.parse_frame(orjson.dumps(dlt), 1).payload
    assert isinstance(d, BookDelta)
    assert (d.price, d.delta, d.side, d.ts_ms) == (9600, -5400, Side.YES, 1669149841000)
    tick = {"type": "ticker", "sid": 11, "msg": {
        "market_ticker": "FED-23DEC-T3.00", "price": 48, "yes_bid": 45, "yes_ask": 53,
        "volume": 33896, "open_interest": 20422, "ts": 1669149841}}  # fmt: skip
    assert wire.parse_frame(orjson.dumps(tick), 1).payload == TickerUpdate(
        "FED-23DEC-T3.00", 4800, 4500, 5300, 3389600, 2042200, 1669149841000, 1
    )


def test_current_ticker_and_lifecycle() -> None:
    tick = {"type": "ticker", "sid": 11, "msg": {
        "market_ticker": "FED", "price_dollars": "0.480", "yes_bid_dollars": "0.450",
        "yes_ask_dollars": "0.530", "volume_fp": "33896.50", "open_interest_fp": "20422.00",
        "ts": 1669149841, "ts_ms": 1669149841500}}  # fmt: skip
    assert wire.parse_frame(orjson.dumps(tick), 1).payload == TickerUpdate(
        "FED", 4800, 4500, 5300, 3389650, 2042200, 1669149841500, 1
    )
    life = {"type": "market_lifecycle_v2", "sid": 13, "msg": {
        "market_ticker": "INXD", "event_type": "determined", "result": "yes",
        "determination_ts": 1694721600, "settlement_value": "1.0000"}}  # fmt: skip
    ev = wire.parse_frame(orjson.dumps(life), 1).payload
    assert ev.kind is LifecycleKind.DETERMINED and ev.result == "yes"  # type: ignore[union-attr]
    assert ev.settlement_value == 10_000 and ev.ts_ms == 1694721600000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("yes_price_dollars", "0.36001"),  # not exact at $0.0001
        ("yes_price_dollars", 0.36),  # a float is not a wire price
        ("count_fp", "1.001"),
        ("count_fp", "0.00"),
        ("no_price_dollars", "0.6500"),  # yes + no != $1
        ("yes_price_dollars", "1.0000"),
        ("taker_outcome_side", "maybe"),
        ("trade_id", ""),
        ("ts_ms", "123"),
    ],
)
def test_inexact_or_invalid_trades_rejected(field: str, value: Any) -> None:
    frame = json.loads(json.dumps(TRADE_CURRENT))
    frame["msg"][field] = value
    with pytest.raises(wire.WireError):
        wire.parse_frame(orjson.dumps(frame), 1)


def test_control_frames_and_commands() -> None:
    ok = wire.parse_frame(b'{"type":"ok","id":4,"sid":1,"seq":2,"msg":{"market_tickers":["A"]}}', 1)
    assert (ok.sid, ok.seq) == (1, 2) and ok.payload == wire.Ok(4, 1, 2, ("A",))
    err = wire.parse_frame(
        b'{"type":"error","id":3,"msg":{"code":6,"msg":"Already subscribed"}}', 1
    )
    assert err.payload == wire.ErrorReply(3, 6, "Already subscribed", None)
    assert orjson.loads(wire.subscribe_cmd(1, ["trade", "ticker"])) == {
        "id": 1, "cmd": "subscribe", "params": {"channels": ["trade", "ticker"]}}  # fmt: skip
    assert orjson.loads(wire.update_subscription_cmd(7, 456, "get_snapshot", ["M1"])) == {
        "id": 7, "cmd": "update_subscription",
        "params": {"sids": [456], "market_tickers": ["M1"], "action": "get_snapshot"}}  # fmt: skip
    with pytest.raises(ValueError):
        wire.update_subscription_cmd(1, 1, "nope", [])


def test_series_fee_multiplier_exact() -> None:
    body = orjson.dumps(
        {
            "series": {
                "ticker": "KXNBAGAME",
                "title": "NBA",
                "category": "Sports",
                "fee_type": "quadratic_with_maker_fees",
                "fee_multiplier": 0.5,
            }
        }
    )
    s = rest_wire.parse_series_body(body)
    assert s.fee_multiplier_ppm == 500_000 and s.fee_type == "quadratic_with_maker_fees"
    s1 = rest_wire.parse_series_body(orjson.dumps({"series": {"ticker": "X", "fee_multiplier": 1}}))
    assert s1.fee_multiplier_ppm == 1_000_000


# ---- property tests: nothing crashes the frame parser -------------------------------------------

KEYS = st.sampled_from(
    ["type", "sid", "seq", "id", "msg", "trade_id", "market_ticker", "yes_price_dollars",
     "no_price_dollars", "count_fp", "taker_side", "taker_outcome_side", "ts", "ts_ms", "side",
     "price_dollars", "delta_fp", "yes_dollars_fp", "no_dollars_fp", "yes", "no", "price", "count",
     "yes_price", "event_type", "channel", "code", "market_tickers", "open_ts", "result",
     "settlement_value", "volume_fp"]
)  # fmt: skip
TYPES = st.sampled_from(
    ["trade", "orderbook_snapshot", "orderbook_delta", "ticker", "market_lifecycle_v2",
     "subscribed", "ok", "error", "unsubscribed", "other"]
)  # fmt: skip
SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12) | TYPES
    | st.sampled_from(["0.5600", "10.00", "yes", "no", "-1.00", "2026-06-11T06:29:47Z", "1e5"])
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(KEYS | st.text(max_size=5), kids, max_size=6)
    ),
    max_leaves=25,
)


def _check(raw: bytes | str) -> None:
    try:
        m = wire.parse_frame(raw, 1)
    except wire.WireError:
        return
    assert isinstance(m, wire.WireMessage)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_random_json_never_crashes(value: Any) -> None:
    _check(orjson.dumps(value))


@settings(max_examples=250, deadline=None)
@given(TYPES, st.dictionaries(KEYS, JSON, max_size=10), JSON, JSON)
def test_random_frames_never_crash(kind: str, msg: dict[str, Any], sid: Any, seq: Any) -> None:
    _check(orjson.dumps({"type": kind, "sid": sid, "seq": seq, "msg": msg}))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(TRADE_CURRENT["msg"])), JSON)
def test_mutated_trade_never_crashes(field: str, value: Any) -> None:
    frame = json.loads(json.dumps(TRADE_CURRENT))
    frame["msg"][field] = value
    _check(orjson.dumps(frame))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_random_text_never_crashes(raw: str | bytes) -> None:
    _check(raw)


# ---- fees, ticks and events on the lifecycle channel (AsyncAPI examples) ------------------------


def test_event_fee_update_set_and_cleared() -> None:
    set_ = wire.parse_frame(
        '{"type":"event_fee_update","sid":5,"seq":3,"msg":{"event_ticker":"KXBTCD-26MAY2018",'
        '"fee_type_override":"quadratic","fee_multiplier_override":1}}',
        1_000,
    )
    assert (set_.sid, set_.seq) == (5, 3)
    assert set_.payload == EventFeeUpdate("KXBTCD-26MAY2018", "quadratic", 1_000_000, 1_000, 1_000)
    half = wire.parse_frame(
        '{"type":"event_fee_update","sid":5,"msg":{"event_ticker":"KXA","fee_type_override":'
        '"quadratic_with_maker_fees","fee_multiplier_override":0.5}}',
        2_000,
    )
    assert half.payload == EventFeeUpdate("KXA", "quadratic_with_maker_fees", 500_000, 2_000, 2_000)
    cleared = wire.parse_frame(
        '{"type":"event_fee_update","sid":5,"msg":{"event_ticker":"KXBTCD-26MAY2018",'
        '"fee_type_override":null,"fee_multiplier_override":null}}',
        3_000,
    )
    assert cleared.payload == EventFeeUpdate("KXBTCD-26MAY2018", None, None, 3_000, 3_000)


@pytest.mark.parametrize("mult", ['"x"', "-1", "0.1234567", "[1]"])
def test_a_bad_fee_multiplier_is_a_wire_error(mult: str) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_frame(
            '{"type":"event_fee_update","sid":5,"msg":{"event_ticker":"KXA",'
            f'"fee_type_override":"quadratic","fee_multiplier_override":{mult}}}}}',
            0,
        )


def test_event_lifecycle_is_an_event_created() -> None:
    m = wire.parse_frame(
        '{"type":"event_lifecycle","sid":5,"msg":{"event_ticker":"KXQUICKSETTLE-26JAN25H2150",'
        '"title":"What will 1+1 equal on Jan 25 at 21:50?","subtitle":"Jan 25 at 21:50",'
        '"collateral_return_type":"MECNET","series_ticker":"KXQUICKSETTLE"}}',
        9,
    )
    assert m.payload == EventCreated("KXQUICKSETTLE-26JAN25H2150", "KXQUICKSETTLE",
                                     "What will 1+1 equal on Jan 25 at 21:50?",
                                     "Jan 25 at 21:50", 9, 9)  # fmt: skip


def test_a_price_level_structure_change_names_the_structure() -> None:
    m = wire.parse_frame(
        '{"type":"market_lifecycle_v2","sid":5,"msg":{"market_ticker":"KXA-1",'
        '"event_type":"price_level_structure_updated","price_level_structure":"deci_cent"}}',
        9,
    )
    assert m.payload == LifecycleEvent("KXA-1", LifecycleKind.PRICE_LEVEL_STRUCTURE_UPDATED, 9, 9,
                                       price_level_structure="deci_cent")  # fmt: skip


def test_series_fee_multiplier_is_exact() -> None:
    body = (b'{"series":{"ticker":"KXNBAGAME","title":"NBA","category":"Sports",'
            b'"fee_type":"quadratic_with_maker_fees","fee_multiplier":0.3}}')  # fmt: skip
    s = rest_wire.parse_series_body(body)
    assert (s.fee_type, s.fee_multiplier_ppm) == ("quadratic_with_maker_fees", 300_000)


@pytest.mark.parametrize(
    "ranges",
    [
        [{"start": "0.0000", "end": "1.0000", "step": "0.0000"}],  # no step
        [{"start": "0.5000", "end": "0.1000", "step": "0.0100"}],  # backwards
        [{"start": "0.0000", "end": "1.0000", "step": "0.0300"}],  # does not land on the end
        {"start": "0.0000"},
    ],
)
def test_a_bad_price_range_is_a_wire_error(ranges: Any) -> None:
    row = {"ticker": "KXA-1", "event_ticker": "KXA", "price_ranges": ranges}
    with pytest.raises(wire.WireError):
        rest_wire.parse_market(row)
