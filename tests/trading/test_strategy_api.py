"""The strategies through the app: GET and PATCH /api/paper/strategies (validation naming the
field, each change a stored version), --strategies at start, and, end to end on the simulator,
an enabled strategy's order through the desk carrying its version and signal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app import create_app
from config import ConfigError, Settings
from tests.serving import running_app
from tests.trading.test_desk_e2e import handled

NAMES = ["sharp_line", "momentum", "ev_multi", "mean_reversion", "correlation"]


def settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        source="sim", db_path=str(tmp_path / "strategies.db"), port=0, sim_rate=0,
        sim_markets=30, flush_interval_ms=20, trade_batch_ms=20, sim_games=1,
        sim_game_speed=60.0, sim_tipoff_s=0,
    ).with_(**changes)  # fmt: skip


async def test_list_and_patch_with_validation_and_stored_versions(tmp_path: Path) -> None:
    s = settings(tmp_path, nba=False, strategies=("momentum",))
    async with running_app(s) as app, httpx.AsyncClient(base_url=app.url) as http:
        r = await http.get("/api/paper/strategies")
        assert r.status_code == 200
        listed = {x["name"]: x for x in r.json()["strategies"]}
        assert sorted(listed) == sorted(NAMES)
        assert [n for n, x in listed.items() if x["enabled"]] == ["momentum"]
        assert all(x["version"] == 1 and x["account"] == n for n, x in listed.items())
        assert listed["sharp_line"]["config"]["min_books"] == 3
        for body, param, status in (
            ({"config": {"min_books": 0}}, "config.min_books", 400),
            ({"config": {"min_books": "3"}}, "config.min_books", 400),
            ({"config": {"nope": 1}}, "config.nope", 400),
            ({"config": [1]}, "config", 400),
            ({"enabled": "yes"}, "enabled", 400),
            ({"other": 1}, "other", 400),
        ):
            r = await http.patch("/api/paper/strategies/sharp_line", json=body)
            assert (r.status_code, r.json().get("param")) == (status, param), body
        r = await http.patch("/api/paper/strategies/nope", json={"enabled": True})
        assert (r.status_code, r.json()["param"]) == (404, "name")
        r = await http.patch("/api/paper/strategies/sharp_line", content=b"[1]")
        assert r.status_code == 400
        r = await http.patch("/api/paper/strategies/sharp_line",
                             json={"enabled": True, "config": {"min_edge_cc": 500}})  # fmt: skip
        assert r.status_code == 200, r.text
        got = r.json()["strategy"]
        assert (got["enabled"], got["version"], got["config"]["min_edge_cc"]) == (True, 2, 500)
        r = await http.patch("/api/paper/strategies/sharp_line", json={"enabled": False})
        assert r.json()["strategy"]["version"] == 3
        stored = await app.runtime.paper.versions("sharp_line")
        assert [(v["version"], v["enabled"], v["config"]["min_edge_cc"]) for v in stored] == [
            (3, False, 500), (2, True, 500), (1, False, 300)]  # fmt: skip
    # a restart takes each strategy's newest stored config; which run is the settings' choice
    async with running_app(s.with_(strategies=())) as app:
        runner = app.runtime.strategies
        assert runner is not None
        slot = runner.slots["sharp_line"]
        assert slot.version == 3 and getattr(slot.strategy.config, "min_edge_cc", None) == 500
        assert not any(x.enabled for x in runner.slots.values())


async def test_an_unknown_strategy_in_the_settings_stops_the_start(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, nba=False, strategies=("nope",)))
    with pytest.raises(ConfigError, match="unknown strategies: nope"):
        async with app.router.lifespan_context(app):
            pass


async def test_an_enabled_strategy_trades_on_the_simulator_with_its_version(
    tmp_path: Path,
) -> None:
    async with running_app(settings(tmp_path)) as app, httpx.AsyncClient(base_url=app.url) as http:
        # the model alone, any positive value: the simulator's crowd lags the game
        r = await http.patch("/api/paper/strategies/ev_multi", json={"enabled": True, "config": {
            "consensus_weight": 0, "model_weight": 1_000_000, "min_ev_cc": 0,
            "max_score_age_ms": 600_000}})  # fmt: skip
        assert r.status_code == 200, r.text
        assert app.runtime.desk is not None
        desk = app.runtime.desk.desk
        await handled(app, lambda: any(o.account == "ev_multi" for o in desk.orders.values()))
        order = next(o for o in desk.orders.values() if o.account == "ev_multi")
        assert order.version == 2 and order.client_order_id.startswith("ev_multi:v2:")
        assert "model" in order.signal and "EV" in order.signal
        assert order.probability_ppm is not None
        query = {"status": "all", "account": "ev_multi"}
        rows = (await http.get("/api/paper/orders", params=query)).json()
        row = next(r for r in rows["orders"] if r["order_id"] == order.order_id)
        assert (row["version"], row["signal"]) == (2, order.signal)
        fills = (await http.get("/api/paper/fills", params={"account": "ev_multi"})).json()
        assert all(f["version"] == 2 for f in fills["fills"])
        listed = (await http.get("/api/paper/strategies")).json()["strategies"]
        ev = next(x for x in listed if x["name"] == "ev_multi")
        assert ev["intents"] >= 1 and ev["status"]
