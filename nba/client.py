"""balldontlie NBA REST client: requests, paging, retries and typed errors (``nba.wire`` parses).

Auth: the key goes in ``Authorization`` as is, with no ``Bearer`` (balldontlie OpenAPI,
securitySchemes.ApiKeyAuth). Paths are ``/v1/...`` and ``/v2/odds``, optionally under a prefix
such as ``/nba`` (the official spec lists ``/nba/v1/*`` and ``/nba/v2/odds``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

from clock import Clock
from infra.retry import RetryConfig, RetryPolicy
from models import GameState, OddsQuote
from nba.errors import NbaAuthError, NbaHttpError, NbaRateLimited, NbaWireError
from nba.wire import (
    LiveScore,
    Team,
    events_from_response,
    parse_game,
    parse_live_box_score,
    parse_team,
)

Sleeper = Callable[[int], Awaitable[None]]
"""Waits the given number of milliseconds (the poller's schedule)."""

ResponseHook = Callable[[int, str, bytes], None]
"""Called with (recv_ms, request path with its query, body bytes) for each good response."""

# 1, 2, 4, 8, 16 s between six attempts; a Retry-After up to a minute (the rate-limit window)
BALLDONTLIE_RETRY = RetryConfig(base_s=1.0, cap_s=16.0, factor=2.0, jitter=0.1, max_attempts=6)
PER_PAGE_MAX = 100  # PerPageParam: maximum 100


# ----- client ------------------------------------------------------------------------------------


class NbaClient:
    """Async balldontlie client. ``retry`` (the balldontlie upstream's policy, shared by its
    clients) retries 429, 5xx and transport errors; 401/403 raise ``NbaAuthError`` at once.
    ``on_response`` sees every successful response as received (a recorder's hook); games and
    odds are parsed from those same bytes by ``nba.wire.events_from_response``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        clock: Clock,
        *,
        prefix: str = "",
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        per_page: int = PER_PAGE_MAX,
        transport: httpx.AsyncBaseTransport | None = None,
        on_response: ResponseHook | None = None,
    ) -> None:
        self._on_response = on_response
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            headers={"Authorization": api_key},
            transport=transport,
        )
        self._clock = clock
        self._prefix = prefix.rstrip("/")
        self._per_page = min(PER_PAGE_MAX, max(1, per_page))
        self._retry = retry or RetryPolicy(BALLDONTLIE_RETRY, name="balldontlie")
        self.requests = 0
        self.retries = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> NbaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, params: list[tuple[str, str | int]]) -> Any:
        return (await self._get_raw(path, params))[3]

    async def _get_raw(
        self, path: str, params: list[tuple[str, str | int]]
    ) -> tuple[int, str, bytes, Any]:
        """(recv_ms, request path with query, body, decoded body) of one successful GET."""
        url = f"{self._prefix}{path}"
        tries = 0

        async def attempt() -> httpx.Response:
            nonlocal tries
            if tries:
                self.retries += 1
            tries += 1
            self.requests += 1
            return await self._http.get(url, params=tuple(params))

        try:
            resp = await self._retry.send(attempt, what=f"GET {url}")
        except httpx.TransportError as exc:
            raise NbaHttpError(0, f"{url}: transport error: {exc!r}") from exc
        status = resp.status_code
        if status == 200:
            recv_ms = self._clock.now_ms()
            target = resp.request.url.raw_path.decode("ascii")
            body = resp.content
            if self._on_response is not None:
                self._on_response(recv_ms, target, body)
            try:
                return recv_ms, target, body, resp.json()
            except ValueError as exc:
                raise NbaWireError(f"{url}: not JSON: {body[:200]!r}") from exc
        if status in (401, 403):
            raise NbaAuthError(
                f"balldontlie rejected the API key (HTTP {status}) for {url}: "
                "check BALLDONTLIE_API_KEY (and that its tier includes this endpoint)"
            )
        if status == 429:
            raise NbaRateLimited(f"balldontlie still rate-limits {url} after retries")
        if status >= 500:
            raise NbaHttpError(0, f"{url}: HTTP {status}")
        raise NbaHttpError(status, resp.text)

    async def _paged(
        self, path: str, params: list[tuple[str, str | int]]
    ) -> list[GameState | OddsQuote]:
        """Every page's events, following ``meta.next_cursor``."""
        out: list[GameState | OddsQuote] = []
        cursor: int | None = None
        while True:
            page = [*params, ("per_page", self._per_page)]
            if cursor is not None:
                page.append(("cursor", cursor))
            recv_ms, target, raw, body = await self._get_raw(path, page)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise NbaWireError(f"{path}: no data list in {str(body)[:200]}")
            # the very parser a replay of this response uses
            out.extend(events_from_response(target, raw, recv_ms))
            nxt = (body.get("meta") or {}).get("next_cursor")
            if nxt is None or nxt == cursor:
                return out
            cursor = int(nxt)

    async def teams(self) -> list[Team]:
        body = await self._get("/v1/teams", [])
        return [parse_team(t) for t in body["data"]]

    async def games(self, dates: Iterable[str]) -> list[GameState]:
        """Every game on the given dates (YYYY-MM-DD), following ``meta.next_cursor``."""
        params: list[tuple[str, str | int]] = [("dates[]", d) for d in dates]
        return [e for e in await self._paged("/v1/games", params) if isinstance(e, GameState)]

    async def game(self, game_id: int) -> GameState:
        body = await self._get(f"/v1/games/{int(game_id)}", [])
        return parse_game(body["data"], self._clock.now_ms())

    async def live_box_scores(self) -> list[LiveScore]:
        body = await self._get("/v1/box_scores/live", [])
        return [parse_live_box_score(r) for r in body["data"]]

    async def odds(
        self, *, dates: Iterable[str] = (), game_ids: Iterable[int] = ()
    ) -> list[OddsQuote]:
        """v2 odds by dates or by game ids (the spec requires one of the two)."""
        params: list[tuple[str, str | int]] = [("dates[]", d) for d in dates]
        params += [("game_ids[]", int(g)) for g in game_ids]
        if not params:
            raise ValueError("odds() needs dates or game_ids")
        return [e for e in await self._paged("/v2/odds", params) if isinstance(e, OddsQuote)]
