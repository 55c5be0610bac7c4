"""Kalshi endpoints: prod/demo base URLs and resolution of explicit overrides."""

from __future__ import annotations

from dataclasses import dataclass

from errors import ConfigError

# OpenAPI `servers` (v3.21.0): external-api.kalshi.com (prod), external-api.demo.kalshi.co (demo).
# AsyncAPI `servers.production`: wss://external-api-ws.kalshi.com/trade-api/ws/v2.
PROD_REST_URL = "https://external-api.kalshi.com/trade-api/v2"
PROD_WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
DEMO_REST_URL = "https://external-api.demo.kalshi.co/trade-api/v2"
DEMO_WS_URL = "wss://demo-api.kalshi.co/trade-api/ws/v2"  # the demo shared API host

ENVIRONMENTS: dict[str, tuple[str, str]] = {
    "prod": (PROD_REST_URL, PROD_WS_URL),
    "demo": (DEMO_REST_URL, DEMO_WS_URL),
}


class KalshiEnvError(ConfigError):
    pass


@dataclass(frozen=True, slots=True)
class KalshiEndpoints:
    rest_url: str  # base, ending in /trade-api/v2, no trailing slash
    ws_url: str  # ending in /trade-api/ws/v2


def _clean(url: str, what: str) -> str:
    url = url.strip().rstrip("/")
    scheme = url.partition("://")[0]
    allowed = ("http", "https") if what == "rest" else ("ws", "wss")
    if scheme not in allowed:
        raise KalshiEnvError(
            f"kalshi {what} url must start with {' or '.join(allowed)}://: {url!r}"
        )
    return url


def resolve_endpoints(
    env: str = "prod", rest_url: str | None = None, ws_url: str | None = None
) -> KalshiEndpoints:
    """Named environment, with explicit URLs taking precedence over it one by one."""
    if env not in ENVIRONMENTS:
        raise KalshiEnvError(f"unknown kalshi env {env!r}: use one of {sorted(ENVIRONMENTS)}")
    default_rest, default_ws = ENVIRONMENTS[env]
    return KalshiEndpoints(
        rest_url=_clean(rest_url, "rest") if rest_url else default_rest,
        ws_url=_clean(ws_url, "ws") if ws_url else default_ws,
    )
