from __future__ import annotations

import pytest

from kalshi.endpoints import (
    DEMO_REST_URL,
    DEMO_WS_URL,
    PROD_REST_URL,
    PROD_WS_URL,
    KalshiEnvError,
    resolve_endpoints,
)


def test_named_environments() -> None:
    assert resolve_endpoints("prod").rest_url == PROD_REST_URL
    assert resolve_endpoints("prod").ws_url == PROD_WS_URL
    demo = resolve_endpoints("demo")
    assert (demo.rest_url, demo.ws_url) == (DEMO_REST_URL, DEMO_WS_URL)
    assert PROD_REST_URL.endswith("/trade-api/v2") and DEMO_WS_URL.endswith("/trade-api/ws/v2")


def test_explicit_urls_override_one_by_one() -> None:
    e = resolve_endpoints("demo", rest_url="http://127.0.0.1:8/trade-api/v2/")
    assert e.rest_url == "http://127.0.0.1:8/trade-api/v2" and e.ws_url == DEMO_WS_URL
    e = resolve_endpoints("prod", ws_url="ws://127.0.0.1:8/trade-api/ws/v2")
    assert e.ws_url == "ws://127.0.0.1:8/trade-api/ws/v2" and e.rest_url == PROD_REST_URL


@pytest.mark.parametrize(
    ("env", "rest", "ws"),
    [("staging", None, None), ("prod", "ws://x/trade-api/v2", None), ("prod", None, "http://x")],
)
def test_bad_settings(env: str, rest: str | None, ws: str | None) -> None:
    with pytest.raises(KalshiEnvError):
        resolve_endpoints(env, rest, ws)
