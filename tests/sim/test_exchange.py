"""The simulated exchange over real loopback sockets, with raw httpx/websockets and own signing."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clock import ManualClock
from models import parse_count, parse_price
from sim.exchange import SimExchange

DEMO = Path(__file__).parents[1] / "fixtures" / "kalshi" / "demo"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
T0 = 1_780_000_000_000


def signed(
    method: str,
    path: str,
    ts_ms: int,
    key_id: str = "key-1",
    key: rsa.RSAPrivateKey = KEY,
    salt: Any = padding.PSS.DIGEST_LENGTH,
) -> dict[str, str]:
    sig = key.sign(
        f"{ts_ms}{method}{path}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt),
        hashes.SHA256(),
    )
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(sig).decode(),
        "KALSHI-ACCESS-TIMESTAMP": str(ts_ms),
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def ex(clock: ManualClock) -> AsyncIterator[SimExchange]:
    sim = SimExchange(
        key_id="key-1",
        public_key_pem=PEM,
        seed=11,
        rate=0,
        n_markets=120,
        clock=clock,
        rate_limit_per_s=1000,
        rate_limit_burst=1000,
    )
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def recv(ws: Any) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return json.loads(await ws.recv())


def connect(ex: SimExchange, ts: int) -> Any:
    return websockets.connect(ex.ws_url, additional_headers=signed("GET", "/trade-api/ws/v2", ts))


@pytest.mark.parametrize(
    ("case", "fixture"),
    [
        ("bad_signature", "auth__bad_signature.json"),
        ("missing_signature", "auth__missing_signature_header.json"),
        ("unknown_key", "auth__unknown_key_id.json"),
        ("stale", "auth__skew_minus5min.json"),
    ],
)
async def test_rest_auth_rejections_use_kalshi_bodies(
    ex: SimExchange, case: str, fixture: str
) -> None:
    path = "/trade-api/v2/portfolio/balance"
    h = signed("GET", path, T0)
    if case == "bad_signature":
        h = signed("GET", "/trade-api/v2/markets", T0)
    elif case == "missing_signature":
        del h["KALSHI-ACCESS-SIGNATURE"]
    elif case == "unknown_key":
        h = signed("GET", path, T0, key_id="00000000-0000-0000-0000-000000000000")
    else:
        h = signed("GET", path, T0 - 5 * 60_000)
    async with httpx.AsyncClient() as c:
        r = await c.get(ex.rest_url + "/portfolio/balance", headers=h)
        ok = await c.get(ex.rest_url + "/portfolio/balance?x=1", headers=signed("GET", path, T0))
        skewed = await c.get(
            ex.rest_url + "/portfolio/balance", headers=signed("GET", path, T0 + 5_000)
        )
    assert r.status_code == 401
    assert r.json() == json.loads((DEMO / fixture).read_text())
    assert ok.status_code == 200 and skewed.status_code == 200


async def test_public_market_data_needs_no_auth(ex: SimExchange) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get(ex.rest_url + "/markets", params={"limit": 2})
        book = await c.get(f"{ex.rest_url}/markets/{ex.tickers()[0]}/orderbook")
        over = await c.get(ex.rest_url + "/markets", params={"limit": 1001})
        series = await c.get(ex.rest_url + "/series/KXBTC")
    assert r.status_code == 200 and len(r.json()["markets"]) == 2 and r.json()["cursor"]
    assert book.status_code == 401
    assert over.status_code == 400 and "'lte' tag" in over.json()["msg"]
    assert series.json()["series"]["fee_type"] == "quadratic_with_maker_fees"


async def test_ws_upgrade_rejected_with_bad_signature(ex: SimExchange) -> None:
    bad = signed("GET", "/trade-api/v2/markets", T0)
    with pytest.raises(websockets.InvalidStatus) as info:
        async with websockets.connect(ex.ws_url, additional_headers=bad):
            pass
    assert info.value.response.status_code == 401


@pytest.mark.parametrize(
    "salt", [padding.PSS.DIGEST_LENGTH, padding.PSS.MAX_LENGTH], ids=["digest", "max"]
)
async def test_pss_salt_lengths_kalshi_accepts(ex: SimExchange, salt: Any) -> None:
    # Kalshi reads the salt length from the signature: clients that sign with PSS.MAX_LENGTH
    # (222 bytes for a 2048-bit key) authenticate against production, so they must here too.
    path = "/trade-api/v2/portfolio/balance"
    async with httpx.AsyncClient() as c:
        r = await c.get(
            ex.rest_url + "/portfolio/balance", headers=signed("GET", path, T0, salt=salt)
        )
    ws_status = 101
    ack: dict[str, Any] = {}
    try:
        async with websockets.connect(
            ex.ws_url, additional_headers=signed("GET", "/trade-api/ws/v2", T0, salt=salt)
        ) as ws:
            await ws.send(
                json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"]}})
            )
            ack = await recv(ws)
    except websockets.InvalidStatus as exc:
        ws_status = exc.response.status_code
    assert (r.status_code, ws_status) == (200, 101), r.text
    assert ack["type"] == "subscribed"


async def test_subscribe_acks_sids_and_per_sid_seq(ex: SimExchange) -> None:
    async with connect(ex, T0) as ws:
        await ws.send(
            json.dumps(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["trade", "market_lifecycle_v2"]},
                }
            )
        )
        acks = [await recv(ws), await recv(ws)]
        assert [a["msg"]["channel"] for a in acks] == ["trade", "market_lifecycle_v2"]
        assert all(a["type"] == "subscribed" and a["id"] == 1 for a in acks)
        trade_sid = acks[0]["msg"]["sid"]
        assert acks[1]["msg"]["sid"] != trade_sid
        await ws.send(
            json.dumps({"id": 2, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}})
        )
        err = await recv(ws)
        assert err == {
            "id": 2,
            "type": "error",
            "msg": {"code": 14, "msg": "Market Ticker required"},
        }
        await ws.send(json.dumps({"id": 3, "cmd": "subscribe", "params": {"channels": ["trade"]}}))
        assert (await recv(ws))["msg"]["code"] == 6
        await ex.wait_clients(1)
        ids = await ex.emit_trades(20)
        got: list[dict[str, Any]] = []
        while len(got) < 20:
            f = await recv(ws)
            if f["type"] == "trade":
                assert f["sid"] == trade_sid
                got.append(f)
        assert [f["seq"] for f in got] == list(range(1, 21))
        assert [f["msg"]["trade_id"] for f in got] == ids
        m = got[0]["msg"]
        assert parse_price(m["yes_price_dollars"]) + parse_price(m["no_price_dollars"]) == 10_000
        parse_count(m["count_fp"])
        assert m["ts_ms"] == T0 and m["ts"] == T0 // 1000
        ex.faults.skip_seq("trade", 3)
        await ex.emit_trades(1)
        f = await recv(ws)
        while f["type"] != "trade":
            f = await recv(ws)
        assert f["seq"] == 24


async def test_orderbook_snapshot_deltas_update_and_get_snapshot(ex: SimExchange) -> None:
    a, b = ex.open_tickers()[:2]
    async with connect(ex, T0) as ws:
        await ws.send(
            json.dumps(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta"], "market_tickers": [a]},
                }
            )
        )
        ack = await recv(ws)
        sid = ack["msg"]["sid"]
        snap = await recv(ws)
        assert snap["type"] == "orderbook_snapshot" and snap["seq"] == 1
        await ws.send(
            json.dumps(
                {
                    "id": 2,
                    "cmd": "update_subscription",
                    "params": {"sid": sid, "action": "add_markets", "market_tickers": [b]},
                }
            )
        )
        ok = await recv(ws)
        assert ok == {
            "id": 2,
            "sid": sid,
            "seq": 2,
            "type": "ok",
            "msg": {"market_tickers": sorted([a, b])},
        }
        snap_b = await recv(ws)
        assert snap_b["msg"]["market_ticker"] == b and snap_b["seq"] == 3
        await ws.send(
            json.dumps(
                {
                    "id": 3,
                    "cmd": "update_subscription",
                    "params": {"sids": [sid], "action": "get_snapshot", "market_tickers": [a]},
                }
            )
        )
        again = await recv(ws)
        assert again["type"] == "orderbook_snapshot" and again["seq"] == 4
        await ws.send(json.dumps({"id": 4, "cmd": "list_subscriptions"}))
        assert (await recv(ws)) == {
            "id": 4,
            "type": "ok",
            "msg": [{"channel": "orderbook_delta", "sid": sid}],
        }
        await ws.send(
            json.dumps(
                {
                    "id": 5,
                    "cmd": "update_subscription",
                    "params": {"sid": sid, "action": "delete_markets", "market_tickers": [b]},
                }
            )
        )
        assert (await recv(ws))["msg"] == {"market_tickers": [a]}


async def test_trades_paging_over_rest(ex: SimExchange, clock: ManualClock) -> None:
    first = await ex.emit_trades(1200)
    clock.advance(2000)
    second = await ex.emit_trades(1300)
    seen: list[str] = []
    cursor = ""
    async with httpx.AsyncClient() as c:
        while True:
            r = await c.get(
                ex.rest_url + "/markets/trades",
                params={"limit": 1000, **({"cursor": cursor} if cursor else {})},
            )
            body = r.json()
            seen += [t["trade_id"] for t in body["trades"]]
            cursor = body["cursor"]
            if not cursor:
                break
        r = await c.get(
            ex.rest_url + "/markets/trades", params={"min_ts": (T0 + 2000) // 1000, "limit": 1000}
        )
        window = [t["trade_id"] for t in r.json()["trades"]]
    assert seen == list(reversed(first + second)) == list(reversed(ex.produced_trade_ids()))
    assert window == list(reversed(second))[:1000]


async def test_rest_serves_the_newest_trades_it_keeps(clock: ManualClock) -> None:
    ex = SimExchange(key_id="key-1", public_key_pem=PEM, seed=11, rate=0, n_markets=40,
                     clock=clock, require_auth=False, history_keep=1_000)  # fmt: skip
    await ex.start()
    try:
        produced = await ex.emit_trades(1_500)  # more than it keeps, in one step
        clock.advance(1_000)
        produced += await ex.emit_trades(300)
        async with httpx.AsyncClient() as c:
            r = await c.get(ex.rest_url + "/markets/trades", params={"limit": 1000})
        body = r.json()
        assert [t["trade_id"] for t in body["trades"]] == list(reversed(produced))[:1000]
        assert body["cursor"] == ""  # nothing older is held
        assert ex.produced_trade_ids() == produced
    finally:
        await ex.stop()


async def test_rate_limit_burst_returns_429(ex: SimExchange) -> None:
    ex.faults.rate_limit_burst(3)
    async with httpx.AsyncClient() as c:
        codes = [(await c.get(ex.rest_url + "/exchange/status")) for _ in range(4)]
    assert [r.status_code for r in codes] == [429, 429, 429, 200]
    assert codes[0].json()["error"]["code"] == "too_many_requests"
    assert ex.rest_log.count("/exchange/status") == 4 and ex.rest_log.rejected_429 == 3


async def test_the_request_log_counts_answers_by_route_and_status(ex: SimExchange) -> None:
    ticker = ex.tickers()[0]
    async with httpx.AsyncClient(base_url=ex.rest_url) as c:
        for path in ("/events", "/events", f"/markets/{ticker}", "/markets/NOPE", "/markets"):
            await c.get(path)
    log = ex.rest_log
    assert log.count("/events") == 2 and log.count("/markets") == 1
    assert log.count("/markets/{ticker}", 200) == 1 and log.count("/markets/{ticker}", 404) == 1
    assert log.count() == 5 and log.rejected_429 == 0


async def test_token_bucket_limits_a_burst(clock: ManualClock) -> None:
    sim = SimExchange(
        key_id="key-1",
        public_key_pem=PEM,
        rate=0,
        n_markets=20,
        clock=clock,
        rate_limit_per_s=10,
        rate_limit_burst=5,
    )
    await sim.start()
    try:
        async with httpx.AsyncClient() as c:
            codes = [(await c.get(sim.rest_url + "/exchange/status")).status_code for _ in range(7)]
            clock.advance(200)  # two tokens back
            later = [(await c.get(sim.rest_url + "/exchange/status")).status_code for _ in range(3)]
    finally:
        await sim.stop()
    assert codes == [200] * 5 + [429] * 2
    assert later == [200, 200, 429]


async def test_drop_connections_closes_clients(ex: SimExchange) -> None:
    async with connect(ex, T0) as ws:
        await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"]}}))
        await recv(ws)
        await ex.wait_clients(1)
        ex.faults.drop_connections()
        with pytest.raises(websockets.ConnectionClosed):
            await recv(ws)


def test_cli_prints_ready(tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    pem.write_bytes(PEM)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.exchange",
            "--port",
            "0",
            "--key-id",
            "k",
            "--public-key",
            str(pem),
            "--rate",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY rest=http://127.0.0.1:")
        rest = line.split()[1].removeprefix("rest=")
        r = httpx.get(rest + "/exchange/status", timeout=5)
        assert r.json() == {"exchange_active": True, "trading_active": True}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0
