"""web/openapi.py: the description matches the app's routes, is served at /api/openapi.json,
and holds up to a property-based fuzz run of every operation against the real app."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.endpoints import HTTPEndpoint
from starlette.routing import Route

from app import create_app
from config import Settings
from tests.serving import running_app
from tests.test_app_e2e import emit, sim_settings, trades_handled
from web.openapi import OPERATIONS, spec

Json = dict[str, Any]
# The refresh polls the upstreams and is rate-limited: it is not fuzzed (tests/web/test_games.py
# and test_security.py call it).
# A paper order's ticket is a JSON body, which this fuzz run does not write: tests/trading/
# test_paper_api.py sends good and bad tickets, field by field.
# A strategy's PATCH is a JSON body too: tests/trading/test_strategy_api.py checks it.
NOT_FUZZED = {
    ("post", "/api/games/refresh"),
    ("post", "/api/paper/orders"),
    ("patch", "/api/paper/strategies/{name}"),
}
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def _openapi_path(starlette_path: str) -> str:
    return _PATH_PARAM.sub(r"{\1}", starlette_path)


def endpoint_methods(route: Route) -> set[str]:
    """The methods a class endpoint answers (it takes every method, and refuses the others)."""
    endpoint = route.endpoint
    if not (isinstance(endpoint, type) and issubclass(endpoint, HTTPEndpoint)):
        return set()
    verbs = ("get", "head", "post", "put", "patch", "delete")
    return {verb.upper() for verb in verbs if hasattr(endpoint, verb)}


def test_the_description_covers_exactly_the_apps_routes() -> None:
    app = create_app(Settings())
    served: set[tuple[str, str]] = set()
    others: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route):
            methods = route.methods or endpoint_methods(route)
            assert methods, route.path
            served |= {(m.lower(), _openapi_path(route.path)) for m in methods - {"HEAD"}}
        else:
            others.add((type(route).__name__, getattr(route, "path", "")))
    described = {(m, path) for path, item in spec()["paths"].items() for m in item}
    assert described == served, (
        f"routes not described in web/openapi.py: {sorted(served - described)}; "
        f"described but not routes: {sorted(described - served)}"
    )
    # the rest is the page: the stream's WebSocket and the static files
    assert others == {("WebSocketRoute", "/ws/stream"), ("Mount", "")}


def test_the_description_is_well_formed() -> None:
    doc = spec()
    assert doc["openapi"].startswith("3.")
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for path, item in doc["paths"].items():
        in_path = set(_PATH_PARAM.findall(path))
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            params = op["parameters"]
            assert {p["name"] for p in params if p["in"] == "path"} == in_path, where
            assert all(p["required"] for p in params if p["in"] == "path"), where
            assert all(p["in"] in ("path", "query") and "type" in p["schema"] for p in params)
            assert op["responses"] and all(r["description"] for r in op["responses"].values())
            assert "500" not in op["responses"], where
            if method != "get":
                assert {"401", "403"} <= set(op["responses"]), where
    refresh = doc["paths"]["/api/games/refresh"]["post"]["responses"]
    assert set(refresh) == {"200", "401", "403", "429", "502", "503"}


# ---- the fuzz run -------------------------------------------------------------------------------

# Values that broke or fooled parsers: Unicode digits, signs, spaces, exponents, huge integers.
NASTY = [
    "", "0", "-0", "-1", "1.5", "+1", " 1", "1 ", "1e3", "0x1F", "1_0", "nan", "inf", "null",
    "５", "٣", "①", "²", "〇", "９２２３３７２０３６８５４７７５８０８", "%", "%00", "\x00", "\n",
    str(2**63), str(2**63 - 1), str(-(2**63) - 1), "9" * 4400, "..", ".",
]  # fmt: skip


def nasty() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY),
        st.integers(-(2**80), 2**80).map(str),
        st.text(max_size=40),
        st.text(alphabet="0123456789.-", min_size=1, max_size=60),
        st.integers(200, 3000).map(lambda n: "7" * n),
    )


def valid(schema: Json, known: list[Any]) -> st.SearchStrategy[str]:
    """Text for a value ``schema`` allows; ``known`` are values that exist (tickers, game ids)."""
    found: st.SearchStrategy[str]
    if "enum" in schema:
        found = st.sampled_from([str(v) for v in schema["enum"]])
    elif schema["type"] == "integer":
        lo, hi = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1)
        found = st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi])).map(str)
    elif schema.get("format") == "date":
        found = st.dates(date(1, 1, 1), date(9999, 12, 31)).map(date.isoformat)
    elif "pattern" in schema:
        found = st.from_regex(str(schema["pattern"]), fullmatch=True)
    else:
        found = st.text(max_size=40)
    return st.one_of(found, st.sampled_from([str(k) for k in known])) if known else found


def request_for(
    path: str, op: Json, known: dict[str, list[Any]], wrong: bool
) -> st.SearchStrategy[tuple[str, dict[str, str]]]:
    """A URL path and query for ``op``: every parameter absent, valid or (``wrong``) anything."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
        url, query = path, {}
        for p in op["parameters"]:
            good = valid(p["schema"], known.get(p["name"], []))
            if p["in"] == "path":
                strategy = st.one_of(good, nasty().filter(bool)) if wrong else good
                # '.' too, so that the client leaves '..' alone
                text = quote(draw(strategy), safe="").replace(".", "%2E")
                url = url.replace("{" + p["name"] + "}", text)
            else:
                value = draw(
                    st.one_of(st.none(), good, nasty()) if wrong else st.one_of(st.none(), good)
                )
                if value is not None:
                    query[p["name"]] = value
        return url, query

    return build()


def conforms(schema: Json, value: Any, where: str = "$") -> None:
    """``value`` against the small schemas the description uses: type, enum, required keys,
    properties and items."""
    kinds = schema.get("type")
    if kinds is not None:
        names = kinds if isinstance(kinds, list) else [kinds]
        ok = {
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "null": value is None,
        }
        assert any(ok[n] for n in names), f"{where}: {value!r:.80} is not {kinds}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{where}: no {key!r}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                conforms(sub, value[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            conforms(schema["items"], item, f"{where}[{i}]")


def check(http: httpx.Client, method: str, op: Json, url: str, query: dict[str, str]) -> int:
    r = http.request(method.upper(), url, params=query)
    what = f"{method.upper()} {r.request.url} -> {r.status_code} {r.text[:300]}"
    assert r.status_code != 500, what
    answer = op["responses"].get(str(r.status_code))
    assert answer is not None, f"undocumented status: {what}"
    assert r.headers.get("x-content-type-options") == "nosniff", what
    ((media, content),) = answer["content"].items()
    assert r.headers["content-type"].split(";")[0] == media, what
    if media == "application/json":
        conforms(content["schema"], orjson.loads(r.content))
    return r.status_code


def fuzz(base_url: str, doc: Json, known: dict[str, list[Any]]) -> dict[str, set[int]]:
    """Runs in a thread (Hypothesis is synchronous) while the app serves on the test's loop;
    returns the statuses each operation answered."""
    operations = [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if (method, path) not in NOT_FUZZED
    ]
    seen: dict[str, set[int]] = {}
    fuzzing = settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    with httpx.Client(base_url=base_url, timeout=10) as http:

        @fuzzing
        @given(st.data())
        def anything_goes(data: st.DataObject) -> None:
            path, method, op = data.draw(st.sampled_from(operations))
            url, query = data.draw(request_for(path, op, known, wrong=True))
            status = check(http, method, op, url, query)
            seen.setdefault(f"{method.upper()} {path}", set()).add(status)

        @fuzzing
        @given(st.data())
        def valid_values_are_never_refused(data: st.DataObject) -> None:
            path, method, op = data.draw(st.sampled_from(operations))
            url, query = data.draw(request_for(path, op, known, wrong=False))
            status = check(http, method, op, url, query)
            assert status != 400, f"{method.upper()} {url} {query} is valid by the description"

        anything_goes()
        valid_values_are_never_refused()
    return seen


async def test_every_operation_survives_a_fuzz_run(tmp_path: Path) -> None:
    settings_ = sim_settings(tmp_path, sim_games=1, sim_tipoff_s=3600)  # a small NBA night
    async with running_app(settings_) as app:
        nba = app.runtime.nba
        assert nba is not None
        await nba.refresh()
        await app.runtime.source.sim.wait_clients(1)
        ids = await emit(app, 30)
        await asyncio.wait_for(trades_handled(app, ids), 10)
        await app.runtime.db.flush()
        known: dict[str, list[Any]] = {
            "ticker": sorted({t.ticker for t in await app.runtime.db.recent_trades(limit=30)}),
            "id": [g["id"] for g in nba.views(history=False)],
        }
        assert known["ticker"] and known["id"]
        async with httpx.AsyncClient(base_url=app.url) as http:
            doc = (await http.get("/api/openapi.json")).json()
        assert doc == orjson.loads(orjson.dumps(spec()))
        seen = await asyncio.to_thread(fuzz, app.url, doc, known)
    fuzzed = {f"{op.method} {op.path}" for op in OPERATIONS} - {
        f"{m.upper()} {p}" for m, p in NOT_FUZZED
    }
    assert set(seen) == fuzzed
    statuses = set().union(*seen.values())
    assert {200, 400, 404} <= statuses  # it reached the routes, with good values and bad
