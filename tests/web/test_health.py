"""/api/health through the real app: red, naming the reason, when the feed or balldontlie fails."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clock import ManualClock
from config import Settings
from models import FeedState, FeedStatus
from tests.serving import Running, running_app
from tests.test_app_e2e import emit, sim_settings, trades_handled

T0 = 1_781_391_600_000  # 2026-06-13 23:00 UTC
HEALTH_KEYS = {"ok", "reasons", "source", "failed_tasks", "tasks", "warming", "warm_rebuilt",
               "warm_total"}  # fmt: skip


@contextmanager
def dead_port() -> Iterator[int]:
    """A loopback port bound but not listening: every connection to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def key_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "kalshi.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def feed_reaches(app: Running, state: FeedState) -> asyncio.Future[None]:
    """Resolves once the pipeline has seen the feed enter ``state``."""
    seen: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_status(event: object) -> None:
        if isinstance(event, FeedStatus) and event.state is state and not seen.done():
            seen.set_result(None)

    if app.runtime.pipeline.stats.state is state:
        seen.set_result(None)
    app.runtime.pipeline.listen(f"test-{state}", on_status, kinds=(FeedStatus,))
    return seen


async def health(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    r = await http.get("/api/health")
    body = r.json()
    assert set(body) == HEALTH_KEYS, body
    return r.status_code, body


async def health_detail(http: httpx.AsyncClient) -> dict[str, Any]:
    checks: dict[str, Any] = (await http.get("/api/stats")).json()["health"]["checks"]
    return checks


async def test_live_with_the_feed_unreachable_is_503_once_past_the_limit(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with dead_port() as port:
        settings = Settings(
            source="live", db_path=str(tmp_path / "live.db"), port=0, nba=False,
            kalshi_key_id="key-1", kalshi_key_path=str(key_file(tmp_path)),
            kalshi_rest_url=f"http://127.0.0.1:{port}/trade-api/v2",
            kalshi_ws_url=f"ws://127.0.0.1:{port}/trade-api/ws/v2",
            feed_stale_s=45.0,
        )  # fmt: skip
        async with (
            running_app(settings, clock=clock) as app,
            httpx.AsyncClient(base_url=app.url) as http,
        ):
            async with asyncio.timeout(10):
                await feed_reaches(app, FeedState.RECONNECTING)
            # the first connection has the limit's length from start-up
            status, body = await health(http)
            assert (status, body["ok"], body["reasons"]) == (200, True, [])
            clock.advance(44_999)
            assert (await health(http))[0] == 200

            clock.advance(1)
            status, body = await health(http)
            assert status == 503 and body["ok"] is False and body["source"] == "live"
            assert body["failed_tasks"] == [] and "kalshi-feed" in body["tasks"]
            [reason] = body["reasons"]
            assert reason.startswith("kalshi feed disconnected since 2026-06-13T23:00:00Z")
            assert "no frame for 45 s (limit 45 s)" in reason and "ConnectionRefusedError" in reason
            feed = (await health_detail(http))["kalshi_feed"]
            assert feed["ok"] is False and feed["connected"] is False
            assert feed["state"] in ("connecting", "reconnecting") and feed["since_ms"] == T0
            assert feed["reconnects"] >= 1 and feed["reason"] == reason


async def test_a_silent_feed_is_503_and_a_frame_makes_it_healthy_again(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    async with (
        running_app(sim_settings(tmp_path, nba=False), clock=clock) as app,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        sim = app.runtime.source.sim
        async with asyncio.timeout(10):
            await sim.wait_clients(1)  # the feed has subscribed
            await trades_handled(app, await emit(app, 1))
        sim.faults.silence(True)  # connected, and nothing reaches the feed
        clock.advance(60_000)
        status, body = await health(http)
        assert status == 503
        assert body["reasons"] == [
            "kalshi feed silent: connected but no frame for 60 s (limit 60 s)"
        ]
        feed = (await health_detail(http))["kalshi_feed"]
        assert feed["state"] == "connected" and feed["quiet_ms"] == 60_000

        sim.faults.silence(False)
        async with asyncio.timeout(10):
            await trades_handled(app, await emit(app, 1))
        status, body = await health(http)
        assert (status, body["reasons"]) == (200, [])


async def test_balldontlie_refusing_the_key_is_503_naming_it(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    async with (
        running_app(sim_settings(tmp_path, sim_games=3, sim_tipoff_s=3600), clock=clock) as app,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        assert (await http.post("/api/games/refresh")).status_code == 200
        status, body = await health(http)
        assert (status, body["reasons"]) == (200, [])
        checks = await health_detail(http)
        assert checks["balldontlie"]["ok"] is True and checks["kalshi_feed"]["ok"] is True

        app.runtime.source.nba_sim.api_key = "revoked"  # balldontlie now answers 401
        clock.advance(10_000)  # a refresh may start again
        r = await http.post("/api/games/refresh")
        assert r.status_code == 502 and "HTTP 401" in r.json()["error"]
        status, body = await health(http)
        assert status == 503 and body["failed_tasks"] == []
        [reason] = body["reasons"]
        assert reason.startswith("balldontlie: balldontlie rejected the API key (HTTP 401)")
        ball = (await health_detail(http))["balldontlie"]
        assert ball["ok"] is False and ball["state"] == "auth_error"
        assert ball["since_ms"] == T0 + 10_000 and ball["failures_in_row"]["scores"] == 1

        app.runtime.source.nba_sim.api_key = app.runtime.source.nba_key  # the key works again
        clock.advance(10_000)
        assert (await http.post("/api/games/refresh")).status_code == 200
        status, body = await health(http)
        assert (status, body["reasons"]) == (200, [])
