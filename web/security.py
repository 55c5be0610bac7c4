"""Who may change things, and the headers every HTTP answer carries.

A page on any other site can make a browser send a POST here: a ``text/plain`` body needs no
CORS preflight, and the answer need not be readable for the harm to be done. So a request that
is not GET, HEAD or OPTIONS (a *mutating* one) passes only by these rules, in order:

1. **Origin.** An ``Origin`` header, when there is one, must be this app's own: the scheme and
   ``Host`` the request came with, or ``localhost``, ``127.0.0.1`` or ``[::1]`` on the port that
   accepted it. Without ``Origin``, ``Sec-Fetch-Site`` must say ``same-origin`` or ``none``; with
   neither, the client is no browser (curl, a bot) and passes. Refused: 403.
2. **Host, on loopback.** Listening on loopback, a mutating request must name a loopback host in
   ``Host``: a site whose name is re-pointed at 127.0.0.1 (DNS rebinding) is same-origin with
   itself, and only the Host it sends gives it away. Refused: 403.
3. **Token.** With ``api_token`` set (it must be, to listen beyond loopback), the request carries
   it as ``Authorization: Bearer TOKEN`` or ``X-Flowboard-Token: TOKEN``. Refused: 401.

``/ws/stream`` refuses foreign origins by rule 1 too (:func:`foreign_origin`, called by its route:
a browser's WebSocket is not held to the same-origin policy, so its ``Origin`` is all there is).

Every HTTP response gets ``nosniff``, a Content-Security-Policy that allows only the page's own
scripts, styles and its WebSocket, no framing, no referrer, and ``Cache-Control: no-store`` under
/api and /metrics (:func:`response_headers`). ``Security`` is plain ASGI: it touches only the
response's start message, so streamed bodies and WebSockets pass through it untouched.
"""

from __future__ import annotations

import hmac
import logging
import re
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import is_loopback_host
from web.params import json_response, shown

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NO_STORE_PREFIXES = ("/api/", "/metrics/")
_NO_STORE_PATHS = ("/api", "/metrics")
# a Host fit to go into the CSP as it is: a name or an IPv4 address, or a bracketed IPv6 one,
# and a port
_CSP_HOST = re.compile(rb"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")

_Origin = tuple[str, str, int]  # scheme, host (lowercase, IPv6 without brackets), port
_Headers = list[tuple[bytes, bytes]]

_FIXED: _Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The first ``name`` header (ASGI servers give header names in lowercase)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _scheme(scope: Scope) -> str:
    """http or https, also for a WebSocket (ws, wss) so that it compares with an Origin."""
    scheme = str(scope.get("scheme", "http"))
    return {"ws": "http", "wss": "https"}.get(scheme, scheme)


def _split_host(text: str, scheme: str) -> tuple[str, int] | None:
    """``host[:port]`` (a Host header, an Origin's authority) as (host, port)."""
    try:
        parts = urlsplit("//" + text)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.path or parts.query or parts.fragment or parts.username:
        return None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
        if port is None:
            return None
    return parts.hostname, port


def _parse_origin(text: str) -> _Origin | None:
    scheme, sep, authority = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        return None  # "null" (sandboxed frames, file: pages) among others
    host = _split_host(authority, scheme)
    return None if host is None else (scheme, *host)


def own_origins(scope: Scope) -> set[_Origin]:
    """The origins this request may come from: the one its Host names, and the loopback names
    on the port that accepted it."""
    scheme = _scheme(scope)
    found: set[_Origin] = set()
    host = _header(scope, b"host")
    if host is not None and (split := _split_host(host.decode("latin-1"), scheme)) is not None:
        found.add((scheme, *split))
    server = scope.get("server")
    if server and server[1] is not None:
        found.update((scheme, name, int(server[1])) for name in _LOOPBACK_NAMES)
    return found


def foreign_origin(scope: Scope) -> str | None:
    """Why this request comes from a browser on another origin, or None when it comes from the
    app's own page or from a client that is not a browser (rule 1 of the module docstring)."""
    origin = _header(scope, b"origin")
    if origin is not None:
        text = origin.decode("latin-1")
        if _parse_origin(text) in own_origins(scope):
            return None
        return f"cross-origin request refused: Origin {shown(text)} is not this app's"
    site = _header(scope, b"sec-fetch-site")
    if site is None or site in (b"same-origin", b"none"):
        return None
    return f"cross-origin request refused: Sec-Fetch-Site is {shown(site.decode('latin-1'))}"


def response_headers(scope: Scope) -> _Headers:
    """The security headers of the response to ``scope``."""
    headers = [*_FIXED, (b"content-security-policy", _csp(_header(scope, b"host")))]
    path = str(scope.get("path", ""))
    if path in _NO_STORE_PATHS or path.startswith(_NO_STORE_PREFIXES):
        headers.append((b"cache-control", b"no-store"))
    return headers


@lru_cache(maxsize=64)
def _csp(host: bytes | None) -> bytes:
    # 'self' covers ws: only in browsers that follow CSP level 3 on that point: name the
    # socket's own host. The page has no inline script or style, no eval, no frames.
    connect = b"'self'"
    if host is not None and _CSP_HOST.fullmatch(host):
        connect += b" ws://" + host + b" wss://" + host
    return (
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src " + connect + b"; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'"
    )


class Security:
    """ASGI middleware: refuses mutating requests that break the module's rules, and adds
    :func:`response_headers` to every HTTP response. ``token`` None: none is asked for;
    ``loopback``: the app listens on loopback only (rule 2 applies)."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback: bool) -> None:
        self.app = app
        self._token = token.encode("ascii") if token else None
        self._loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _adding_headers(scope, send)
        if scope["method"] not in SAFE_METHODS:
            refused = self._refusal(scope)
            if refused is not None:
                status, message = refused
                log.info("refused %s %s: %s", scope["method"], scope["path"], message)
                extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                await json_response({"error": message}, status, extra)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        why = foreign_origin(scope)
        if why is not None:
            return 403, why
        if self._loopback:
            host = _header(scope, b"host")
            split = None if host is None else _split_host(host.decode("latin-1"), _scheme(scope))
            if host is not None and (split is None or not is_loopback_host(split[0])):
                text = shown(host.decode("latin-1"))
                return 403, f"request refused: Host {text} is not this machine's loopback"
        if self._token is not None and not self._token_given(scope):
            return 401, "this request needs the API token (Authorization: Bearer TOKEN)"
        return None

    def _token_given(self, scope: Scope) -> bool:
        assert self._token is not None
        given = _header(scope, b"x-flowboard-token")
        if given is None:
            auth = _header(scope, b"authorization")
            if auth is None or auth[:7].lower() != b"bearer ":
                return False
            given = auth[7:].strip()
        return hmac.compare_digest(given, self._token)


def _adding_headers(scope: Scope, send: Send) -> Send:
    extra = response_headers(scope)
    names = {name for name, _ in extra}

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in names]
            message = {**message, "headers": [*kept, *extra]}
        await send(message)

    return sender
