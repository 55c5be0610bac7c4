"""The paper desk end to end: the app on the simulator, a manual IOC buy through the API fills
against the simulated book at its prices and Kalshi's fee, shows in positions and on the stream,
and settles when the game ends."""

from __future__ import annotations

import asyncio
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

from config import Settings
from models import LifecycleEvent, LifecycleKind
from tests.serving import Running, running_app

START = 10_000 * 1_000_000  # the default balance, micro-dollars


def settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        source="sim", db_path=str(tmp_path / "desk.db"), port=0, sim_rate=0, sim_markets=30,
        flush_interval_ms=20, trade_batch_ms=20, sim_games=1, sim_game_speed=3000.0,
        sim_tipoff_s=0,
    ).with_(**changes)  # fmt: skip


def taker_fee_micros(hundredths: int, price: int) -> int:
    """Kalshi's taker fee by hand: 0.07 x C x P x (1 - P) dollars, up to the next $0.0001."""
    dollars = (
        Fraction(7, 100)
        * Fraction(hundredths, 100)
        * Fraction(price, 10_000)
        * Fraction(10_000 - price, 10_000)
    )
    return math.ceil(dollars * 10_000) * 100


async def handled(app: Running, until: Any) -> None:
    """Until ``until()`` holds, checked after each event the pipeline handles."""
    changed = asyncio.Event()
    app.runtime.pipeline.listen("test-until", lambda _: changed.set())
    async with asyncio.timeout(30):
        while not until():
            changed.clear()
            await changed.wait()


async def next_paper(ws: Any, want: Any) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            msg = orjson.loads(await ws.recv())
            if msg["type"] == "paper" and want(msg):
                return dict(msg)


async def test_a_manual_ioc_buy_fills_at_the_book_shows_and_settles(tmp_path: Path) -> None:
    async with running_app(settings(tmp_path)) as app:
        sim, meta = app.runtime.source.sim, app.runtime.meta
        await sim.wait_clients(1)
        game = [t for t in sim.open_tickers() if t.startswith("KXNBAGAME-")]
        assert game
        ticker = game[0]
        # the NBA side discovers the game's markets; their series' fees follow
        await handled(app, lambda: meta.info(ticker) is not None and meta.fees(ticker) is not None)
        _, no_bids = sim.book(ticker)  # the book holds still: the simulator trades only on demand
        best_no = max(no_bids)
        ask = 10_000 - best_no  # a YES buy takes the best NO bid at 1 - p
        assert no_bids[best_no] >= 100  # one contract fills at the top
        async with (
            httpx.AsyncClient(base_url=app.url) as http,
            websockets.connect(app.ws_url + "/ws/stream") as ws,
        ):
            r = await http.post("/api/paper/orders", json={
                "ticker": ticker, "side": "yes", "action": "buy", "count": 1,
                "limit_price": "0.9900", "time_in_force": "immediate_or_cancel"})  # fmt: skip
            assert r.status_code == 201, r.text
            order = r.json()["order"]
            assert order["account"] == "manual" and order["count"] == 100
            # not followed yet: the desk follows the book and the order waits for its snapshot
            msg = await next_paper(ws, lambda m: any(p["ticker"] == ticker for p in m["positions"]))
            fills = (await http.get("/api/paper/fills", params={"ticker": ticker})).json()["fills"]
            assert len(fills) == 1
            fill = fills[0]
            fee = taker_fee_micros(100, ask)
            assert (fill["side"], fill["action"], fill["count"]) == ("yes", "buy", 100)
            assert fill["legs"] == [[ask, 100]] and fill["cost"] == ask * 100
            assert fill["fee"] == fee and fill["liquidity"] == "taker"
            assert fill["order_id"] == order["order_id"] and fill["account"] == "manual"
            positions = (await http.get("/api/paper/positions")).json()["positions"]
            assert [(p["ticker"], p["net"], p["cost"]) for p in positions] == [
                (ticker, 100, ask * 100)
            ]
            assert msg["cash"] == START - ask * 100 - fee
            done = (await http.get("/api/paper/orders", params={"status": "executed"})).json()
            assert [o["order_id"] for o in done["orders"]] == [order["order_id"]]

            # the game runs to the final buzzer; the market is determined and the desk settles
            result: list[str] = []

            def on_event(event: object) -> None:
                if (
                    isinstance(event, LifecycleEvent)
                    and event.ticker == ticker
                    and event.kind is LifecycleKind.DETERMINED
                ):
                    result.append(event.result or "")

            app.runtime.pipeline.listen("test-result", on_event)
            async with asyncio.timeout(60):
                while not result:
                    await sim.emit_trades(0)  # steps the night to now
                    await asyncio.wait_for(ws.recv(), 5)  # the board's status, once a second
            settled = await next_paper(ws, lambda m: not any(p["net"] for p in m["positions"]))
            payout = 100 * 10_000 if result[0] == "yes" else 0
            assert settled["cash"] == START - ask * 100 - fee + payout
            [pos] = (await http.get("/api/paper/positions")).json()["positions"]
            assert pos["net"] == 0 and pos["realised"] == payout - ask * 100
