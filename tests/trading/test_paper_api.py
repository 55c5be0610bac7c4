"""The paper routes refuse bad tickets field by field, rest and cancel GTC orders, and obey
the kill switch; mutating routes refuse foreign origins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from paper import Desk
from tests.serving import Running, running_app
from tests.trading.test_desk_e2e import handled, settings

GOOD: dict[str, Any] = {"side": "yes", "action": "buy", "count": 1, "limit_price": "0.0100",
                        "time_in_force": "gtc"}  # fmt: skip


def the_desk(app: Running) -> Desk:
    runner = app.runtime.desk
    assert runner is not None
    return runner.desk


async def known_market(app: Running) -> str:
    sim, meta = app.runtime.source.sim, app.runtime.meta
    await sim.wait_clients(1)
    ticker = next(t for t in sim.open_tickers() if t.startswith("KXNBAGAME-"))
    await handled(app, lambda: meta.info(ticker) is not None)
    return str(ticker)


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"count": 0}, "count"),
        ({"count": -2}, "count"),
        ({"count": "1.234"}, "count"),
        ({"count": "ten"}, "count"),
        ({"limit_price": "1.5000"}, "limit_price"),
        ({"limit_price": "0"}, "limit_price"),
        ({"limit_price": 0.5}, "limit_price"),
        ({"limit_price": "0.5050"}, "limit_price"),  # off the market's whole-cent grid
        ({"side": "maybe"}, "side"),
        ({"action": "hold"}, "action"),
        ({"time_in_force": "forever"}, "time_in_force"),
        ({"time_in_force": "ioc", "expires_ms": 9_999_999_999_999}, "expires_ms"),
        ({"ticker": "NOT A TICKER"}, "ticker"),
        ({"ticker": "KXNOPE-26JAN01-X"}, "ticker"),  # unknown: 404
        ({"account": "nobody"}, "account"),  # unknown: 404
    ],
)
async def test_a_bad_ticket_names_its_field(
    tmp_path: Path, change: dict[str, Any], param: str
) -> None:
    async with running_app(settings(tmp_path)) as app:
        ticker = await known_market(app)
        async with httpx.AsyncClient(base_url=app.url) as http:
            r = await http.post("/api/paper/orders", json={"ticker": ticker, **GOOD, **change})
        assert r.status_code in (400, 404), r.text
        assert r.json()["param"] == param, r.text
        if change.get("ticker") == "KXNOPE-26JAN01-X" or change.get("account"):
            assert r.status_code == 404


async def test_a_gtc_order_rests_cancels_and_the_kill_switch_refuses(tmp_path: Path) -> None:
    async with running_app(settings(tmp_path)) as app:
        ticker = await known_market(app)
        desk = the_desk(app)
        async with httpx.AsyncClient(base_url=app.url) as http:
            r = await http.post("/api/paper/orders", json={"ticker": ticker, **GOOD})
            assert r.status_code == 201, r.text
            order_id = r.json()["order"]["order_id"]
            # the order follows the book, waits for its snapshot, and rests far below the touch
            await handled(app, lambda: str(desk.orders[order_id].status) == "resting")
            open_ = (await http.get("/api/paper/orders")).json()["orders"]
            assert [o["order_id"] for o in open_] == [order_id]
            assert open_[0]["queue_ahead"] >= 0
            book = (await http.get(f"/api/markets/{ticker}/book")).json()
            assert book["stale"] is False and book["yes"]
            assert (await http.delete(f"/api/paper/orders/{order_id}")).status_code == 200
            await handled(app, lambda: str(desk.orders[order_id].status) == "canceled")
            assert (await http.delete(f"/api/paper/orders/{order_id}")).status_code == 409
            assert (await http.delete("/api/paper/orders/999999")).status_code == 404

            assert (await http.post("/api/paper/kill", json={})).status_code == 200
            r = await http.post("/api/paper/orders", json={"ticker": ticker, **GOOD})
            assert r.status_code == 422 and r.json()["reason"] == "killed", r.text
            events = (await http.get("/api/paper/risk-events")).json()["events"]
            assert [e["kind"] for e in events[:2]] == ["rejected", "kill"]
            assert events[0]["reason"] == "killed"
            metrics = (await http.get("/api/paper/metrics")).json()
            assert {"account": "manual", "reason": "killed", "count": 1} in metrics["rejections"]

            foreign = await http.post("/api/paper/kill", json={},
                                      headers={"Origin": "https://evil.example"})  # fmt: skip
            assert foreign.status_code == 403


async def test_the_desk_survives_a_restart_with_its_resting_order(tmp_path: Path) -> None:
    s = settings(tmp_path)
    async with running_app(s) as app:
        ticker = await known_market(app)
        desk = the_desk(app)
        async with httpx.AsyncClient(base_url=app.url) as http:
            r = await http.post("/api/paper/orders", json={"ticker": ticker, **GOOD,
                                                           "count": "2.00"})  # fmt: skip
            assert r.status_code == 201, r.text
            order_id = r.json()["order"]["order_id"]
            await handled(app, lambda: str(desk.orders[order_id].status) == "resting")
            before = (await http.get("/api/paper/accounts")).json()["accounts"][0]
    async with running_app(s) as app:
        desk = the_desk(app)
        assert str(desk.orders[order_id].status) in ("resting", "waiting")
        # the restored desk follows the order's book again, and the order rests once it is back
        await handled(app, lambda: str(desk.orders[order_id].status) == "resting")
        async with httpx.AsyncClient(base_url=app.url) as http:
            after = (await http.get("/api/paper/accounts")).json()["accounts"][0]
            assert after["cash"] == before["cash"] and after["account"] == "manual"
            assert [o["order_id"] for o in after["orders"]] == [order_id]
            assert after["orders"][0]["remaining"] == 200
            r = await http.post("/api/paper/orders", json={"ticker": ticker, **GOOD})
            assert r.json()["order"]["order_id"] > order_id  # ids go on, never reused


async def test_with_the_desk_off_the_paper_routes_say_so(tmp_path: Path) -> None:
    async with running_app(settings(tmp_path, paper=False)) as app:
        assert app.runtime.desk is None
        async with httpx.AsyncClient(base_url=app.url) as http:
            r = await http.get("/api/paper/accounts")
            assert r.status_code == 503 and "off" in r.json()["error"]
            r = await http.post("/api/paper/orders", json={"ticker": "KXA-1", **GOOD})
            assert r.status_code == 503
