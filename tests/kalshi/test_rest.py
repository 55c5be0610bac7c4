from __future__ import annotations

import random
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from clock import ManualClock
from infra.retry import RetryConfig, RetryPolicy
from kalshi.auth import HEADER_KEY, HEADER_SIGNATURE, Signer
from kalshi.rest import (
    KalshiAuthError,
    KalshiError,
    KalshiHTTPError,
    KalshiRateLimited,
    KalshiRest,
)
from tests.infra.sleeps import RecordedSleep

DEMO = Path(__file__).parents[1] / "fixtures" / "kalshi" / "demo"
BASE = "http://kalshi.test/trade-api/v2"
RATE_LIMIT_BODY = {"error": {"code": "too_many_requests", "message": "too many requests"}}


def fast(sleep: RecordedSleep | None = None, max_attempts: int = 7) -> RetryPolicy:
    config = RetryConfig(base_s=0.001, cap_s=0.002, max_attempts=max_attempts)
    return RetryPolicy(config, name="kalshi", sleep=sleep or RecordedSleep(), rng=random.Random(7))


def rest(handler: httpx.MockTransport, *, retry: RetryPolicy | None = None) -> KalshiRest:
    return KalshiRest(
        BASE, signer=None, clock=ManualClock(1_000), retry=retry or fast(), transport=handler
    )


async def test_429_and_5xx_are_retried_then_succeed() -> None:
    calls: list[int] = []

    def handle(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, json=RATE_LIMIT_BODY, headers={"Retry-After": "2"})
        if len(calls) == 2:
            return httpx.Response(429, json=RATE_LIMIT_BODY)
        if len(calls) == 3:
            return httpx.Response(503, text="upstream")
        return httpx.Response(200, content=(DEMO / "exchange__status.json").read_bytes())

    sleep = RecordedSleep()
    async with rest(httpx.MockTransport(handle), retry=fast(sleep)) as r:
        assert await r.exchange_status() == (True, True)
        assert r.retries == 3 and len(calls) == 4
    assert len(sleep.delays) == 3 and sleep.delays[0] == 2.0  # the server's Retry-After
    assert all(d <= 0.002 for d in sleep.delays[1:])


async def test_persistent_429_raises_rate_limited() -> None:
    def handle(req: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json=RATE_LIMIT_BODY)

    async with rest(httpx.MockTransport(handle), retry=fast(max_attempts=3)) as r:
        with pytest.raises(KalshiRateLimited, match="too many requests") as ei:
            await r.exchange_status()
        assert ei.value.status == 429 and r.requests == 3


async def test_persistent_5xx_raises_http_error() -> None:
    def handle(req: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="bad gateway")

    async with rest(httpx.MockTransport(handle), retry=fast(max_attempts=2)) as r:
        with pytest.raises(KalshiHTTPError, match="HTTP 502") as ei:
            await r.exchange_status()
        assert ei.value.status == 502 and r.requests == 2 and r.retries == 1


@pytest.mark.parametrize(
    ("status", "fixture", "exc", "text"),
    [
        (401, "auth__bad_signature", KalshiAuthError, "INCORRECT_API_KEY_SIGNATURE"),
        (401, "auth__unknown_key_id", KalshiAuthError, "NOT_FOUND"),
        (401, "auth__missing_signature_header", KalshiAuthError, "signature is missing"),
        (401, "auth__skew_minus5min", KalshiAuthError, "header timestamp expired"),
        (400, "markets__limit_over_max", KalshiHTTPError, "Parameter validation failed"),
        (400, "orders__numeric_field_types", KalshiHTTPError, "cannot unmarshal"),
    ],
)
async def test_error_shapes_become_typed_errors_without_retry(
    status: int, fixture: str, exc: type[KalshiError], text: str
) -> None:
    body = (DEMO / f"{fixture}.json").read_bytes()

    def handle(req: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    sleep = RecordedSleep()
    async with rest(httpx.MockTransport(handle), retry=fast(sleep)) as r:
        with pytest.raises(exc, match=text) as ei:
            await r.markets_page()
        assert ei.value.status == status and r.requests == 1
    assert sleep.delays == []


async def test_network_errors_retry_then_raise() -> None:
    def handle(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    async with rest(httpx.MockTransport(handle), retry=fast(max_attempts=2)) as r:
        with pytest.raises(KalshiHTTPError, match="ConnectError"):
            await r.exchange_status()
        assert r.requests == 2


async def test_markets_follow_cursor_until_empty_with_filters() -> None:
    pages = [orjson.loads((DEMO / f"markets__page{n}.json").read_bytes()) for n in (1, 2, 3)]
    pages[2]["cursor"] = ""
    seen: list[dict[str, str]] = []

    def handle(req: httpx.Request) -> httpx.Response:
        q = dict(req.url.params)
        seen.append(q)
        idx = {None: 0, pages[0]["cursor"]: 1, pages[1]["cursor"]: 2}[q.get("cursor")]
        return httpx.Response(200, json=pages[idx])

    async with rest(httpx.MockTransport(handle)) as r:
        markets = await r.markets(
            limit=5, status="open", series_ticker="KXMLBHIT", tickers=["A", "B"]
        )
        with pytest.raises(ValueError, match="unknown market filters"):
            await r.markets(colour="red")
    assert len(markets) == 15 and len(seen) == 3
    assert seen[0] == {
        "limit": "5",
        "status": "open",
        "series_ticker": "KXMLBHIT",
        "tickers": "A,B",
    }


def _trade_row(i: int) -> dict[str, object]:
    return {
        "trade_id": f"id-{i}",
        "ticker": f"M{i % 7}",
        "yes_price_dollars": "0.4200",
        "no_price_dollars": "0.5800",
        "count_fp": f"{i % 50 + 1}.25",
        "taker_side": "no",
        "taker_outcome_side": "no",
        "created_time": f"2026-06-15T15:48:{i % 60:02d}.609997Z",
    }


async def test_trades_paging_through_thousands_with_signed_requests() -> None:
    rows = [_trade_row(i) for i in range(4321)]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    seen_params: list[dict[str, str]] = []

    def handle(req: httpx.Request) -> httpx.Response:
        assert req.headers[HEADER_KEY] == "kid" and req.headers[HEADER_SIGNATURE]
        q = dict(req.url.params)
        seen_params.append(q)
        start = int(q.get("cursor", "0"))
        limit = int(q["limit"])
        end = min(start + limit, len(rows))
        return httpx.Response(
            200, json={"trades": rows[start:end], "cursor": str(end) if end < len(rows) else ""}
        )

    signer = Signer("kid", key, ManualClock(5))
    async with KalshiRest(
        BASE,
        signer=signer,
        clock=ManualClock(9),
        retry=fast(),
        transport=httpx.MockTransport(handle),
    ) as r:
        trades = await r.trades(ticker=None, min_ts=100, max_ts=200)
    assert [t.trade_id for t in trades] == [f"id-{i}" for i in range(4321)]
    assert len(seen_params) == 5
    assert seen_params[0] == {"limit": "1000", "min_ts": "100", "max_ts": "200"}
    assert trades[3].count == 425 and trades[3].recv_ms == 9


async def test_one_market_orderbook_series_events() -> None:
    single = (DEMO / "markets__single.json").read_bytes()
    book = (DEMO / "orderbook__base.json").read_bytes()
    series = orjson.dumps(
        {"series": {"ticker": "KXNBAGAME", "fee_type": "quadratic", "fee_multiplier": 1}}
    )
    market = orjson.loads(single)["market"]
    events = orjson.dumps(
        {
            "events": [
                {"event_ticker": "E1", "series_ticker": "S", "title": "t", "markets": [market]}
            ],
            "cursor": "",
        }
    )
    paths: list[str] = []

    def handle(req: httpx.Request) -> httpx.Response:
        paths.append(req.url.path + ("?" + req.url.query.decode() if req.url.query else ""))
        p = req.url.path.removeprefix("/trade-api/v2")
        body = {
            "/markets/T1": single,
            "/markets/T1/orderbook": book,
            "/series/KXNBAGAME": series,
            "/events": events,
        }[p]
        return httpx.Response(200, content=body)

    async with rest(httpx.MockTransport(handle)) as r:
        m = await r.market("T1")
        b = await r.orderbook("T1")
        s = await r.series("KXNBAGAME")
        ev = await r.events(status="open")
    assert m.ticker == market["ticker"]
    assert b.ticker == "T1" and b.yes == ((4700, 300),)
    assert s.fee_type == "quadratic" and s.fee_multiplier_ppm == 1_000_000
    assert ev[0].markets[0].ticker == market["ticker"]
    assert "with_nested_markets=true" in paths[3] and "status=open" in paths[3]
