"""web/security.py through the real app on the simulator: who may POST, who may open
/ws/stream, the API token, and the headers on every answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from config import ConfigError, Settings
from database import Database
from tests.serving import Running, running_app
from tests.test_app_e2e import recv_type, sim_settings

REFRESH = "/api/games/refresh"  # POST; with the NBA side off it answers 503 once let through


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_app(sim_settings(tmp_path, nba=False)) as running:
        yield running


def _port(app: Running) -> int:
    return int(app.url.rsplit(":", 1)[1])


async def _post(app: Running, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=app.url) as http:
        return await http.post(REFRESH, headers=headers, content=b"x")


# ---- 1. mutating requests: origin, host, token --------------------------------------------------


async def test_a_post_from_another_sites_page_is_refused(app: Running) -> None:
    r = await _post(app, {"Origin": "http://evil.example", "Content-Type": "text/plain"})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/json"
    assert "evil.example" in r.json()["error"]


async def test_every_other_origin_is_refused(app: Running) -> None:
    port = _port(app)
    for origin in (
        f"http://evil.example:{port}",  # the right port on another host
        "http://localhost:1",  # a loopback name on another port
        f"https://127.0.0.1:{port}",  # another scheme
        "null",  # a sandboxed frame, a file: page
        f"http://127.0.0.1:{port}/path",  # no origin has a path
        f"http://user@127.0.0.1:{port}",
        "garbage",
    ):
        r = await _post(app, {"Origin": origin})
        assert r.status_code == 403, (origin, r.text)


async def test_the_apps_own_origin_and_its_loopback_names_pass(app: Running) -> None:
    port = _port(app)
    for origin in (app.url, f"http://localhost:{port}", f"http://[::1]:{port}"):
        r = await _post(app, {"Origin": origin})
        assert r.status_code == 503, (origin, r.text)  # through to the route: NBA side off


async def test_without_origin_sec_fetch_site_decides(app: Running) -> None:
    for site, status in (("cross-site", 403), ("same-site", 403), ("same-origin", 503),
                         ("none", 503)):  # fmt: skip
        r = await _post(app, {"Sec-Fetch-Site": site})
        assert r.status_code == status, (site, r.text)


async def test_a_client_that_is_no_browser_passes_and_reads_are_never_refused(
    app: Running,
) -> None:
    assert (await _post(app, {})).status_code == 503  # curl: neither Origin nor Sec-Fetch-Site
    async with httpx.AsyncClient(base_url=app.url) as http:
        r = await http.get("/api/stats", headers={"Origin": "http://evil.example"})
        assert r.status_code == 200
        r = await http.get("/api/stats", headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 200


async def test_on_loopback_a_rebound_name_cannot_post(app: Running) -> None:
    # evil.example re-pointed at 127.0.0.1: its page is same-origin with itself
    own = f"evil.example:{_port(app)}"
    r = await _post(app, {"Host": own, "Origin": f"http://{own}"})
    assert r.status_code == 403 and "Host" in r.json()["error"]
    r = await _post(app, {"Host": f"localhost:{_port(app)}"})
    assert r.status_code == 503


async def test_with_a_token_every_mutating_request_needs_it(tmp_path: Path) -> None:
    token = "s3cret-Token_1234"
    async with running_app(sim_settings(tmp_path, nba=False, api_token=token)) as app:
        assert (await _post(app, {})).status_code == 401
        r = await _post(app, {"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert token not in r.text
        assert (await _post(app, {"Authorization": f"Basic {token}"})).status_code == 401
        assert (await _post(app, {"Authorization": f"Bearer {token}"})).status_code == 503
        assert (await _post(app, {"Authorization": f"bearer {token}"})).status_code == 503
        assert (await _post(app, {"X-Flowboard-Token": token})).status_code == 503
        assert (await _post(app, {"X-Flowboard-Token": token[:-1]})).status_code == 401
        # the origin rule holds with a token too
        headers = {"X-Flowboard-Token": token, "Origin": "http://evil.example"}
        assert (await _post(app, headers)).status_code == 403
        async with httpx.AsyncClient(base_url=app.url) as http:
            assert (await http.get("/api/health")).status_code == 200  # reads need none


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "flowboard.example", ""])
def test_listening_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="beyond loopback: set FLOWBOARD_API_TOKEN"):
        Settings(host=host)
    assert Settings(host=host, api_token="t0ken-t0ken").host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert Settings(host=host).api_token is None


def test_the_token_is_a_secret_that_fits_a_header() -> None:
    s = Settings(host="0.0.0.0", api_token="hidden-t0ken-value")
    assert "hidden-t0ken-value" not in repr(s)
    for bad in ("two words", "t\u00f6ken", ""):
        with pytest.raises(ConfigError, match="FLOWBOARD_API_TOKEN"):
            Settings(api_token=bad)


# ---- 2. /ws/stream ------------------------------------------------------------------------------


async def test_the_stream_refuses_foreign_origins(app: Running) -> None:
    url = app.ws_url + "/ws/stream"
    for origin in ("http://evil.example", f"http://evil.example:{_port(app)}", "null"):
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url, origin=Origin(origin)):
                pass
        assert refused.value.response.status_code == 403, origin
    for allowed in (app.url, f"http://localhost:{_port(app)}", None):
        async with websockets.connect(url, origin=Origin(allowed) if allowed else None) as ws:
            assert (await recv_type(ws, "snapshot"))["source"] == "sim"


# ---- 3. headers on every answer -----------------------------------------------------------------


def _check_headers(r: httpx.Response, host: str, no_store: bool) -> None:
    what = f"{r.request.method} {r.request.url.path} {r.status_code}"
    assert r.headers.get("x-content-type-options") == "nosniff", what
    assert r.headers.get("x-frame-options") == "DENY", what
    assert r.headers.get("referrer-policy") == "no-referrer", what
    csp = {
        d.split()[0]: d.split()[1:]
        for d in r.headers.get("content-security-policy", "").split(";")
        if d.strip()
    }
    assert csp.get("default-src") == ["'self'"], what
    assert csp.get("script-src") == ["'self'"], what
    assert csp.get("style-src") == ["'self'"], what
    assert csp.get("frame-ancestors") == ["'none'"], what
    assert csp.get("connect-src") == ["'self'", f"ws://{host}", f"wss://{host}"], what
    assert (r.headers.get("cache-control") == "no-store") is no_store, what


async def test_every_answer_carries_the_security_headers(
    app: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = app.url.removeprefix("http://")
    cases: list[tuple[str, str, int, bool]] = [
        ("GET", "/", 200, False),
        ("GET", "/app.css", 200, False),
        ("GET", "/js/main.js", 200, False),
        ("GET", "/no-such-file.js", 404, False),
        ("GET", "/api/stats", 200, True),
        ("GET", "/api/openapi.json", 200, True),
        ("GET", "/metrics", 200, True),
        ("GET", "/api/trades/recent?limit=lots", 400, True),
        ("GET", "/api/markets/NOPE-1", 404, True),
        ("GET", "/api/no-such-route", 404, True),
        ("DELETE", "/api/health", 405, True),
        ("POST", REFRESH, 503, True),
    ]
    async with httpx.AsyncClient(base_url=app.url) as http:
        for method, path, status, no_store in cases:
            r = await http.request(method, path)
            assert r.status_code == status, (method, path, r.text)
            _check_headers(r, host, no_store)
        r = await http.post(REFRESH, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        _check_headers(r, host, True)

        async def broken(self: Database) -> int:
            raise RuntimeError("a bug in a route")

        monkeypatch.setattr(Database, "size_bytes", broken)
        r = await http.get("/api/stats")
        assert r.status_code == 500 and r.json() == {"error": "internal server error"}
        _check_headers(r, host, True)


# ---- 5. unknown methods --------------------------------------------------------------------------


async def test_an_unknown_method_gets_405_with_allow(app: Running) -> None:
    cases: list[tuple[str, str, set[str]]] = [
        ("DELETE", "/api/health", {"GET", "HEAD"}),
        ("PUT", "/api/stats", {"GET", "HEAD"}),
        ("PATCH", "/api/markets/KXA-1/trades", {"GET", "HEAD"}),
        ("POST", "/metrics", {"GET", "HEAD"}),
        ("PUT", REFRESH, {"POST"}),
        ("GET", REFRESH, {"POST"}),  # not a game id called "refresh"
        ("DELETE", "/", {"GET", "HEAD"}),
    ]
    async with httpx.AsyncClient(base_url=app.url) as http:
        for method, path, allowed in cases:
            r = await http.request(method, path)
            assert r.status_code == 405, (method, path)
            assert set(r.headers["allow"].split(", ")) == allowed, (method, path)
            assert "error" in r.json(), (method, path)
