"""web/params.py: integers and counts to real ranges, errors that name the parameter and quote
little of it; and the same through the real app, where such values used to be HTTP 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.requests import Request

from tests.serving import running_app
from tests.test_app_e2e import sim_settings
from web.params import (
    MAX_COUNT,
    SHOWN_CHARS,
    SQLITE_MAX,
    SQLITE_MIN,
    ApiError,
    count_param,
    int_param,
    parse_int,
    path_int_param,
    shown,
)


def request(query: dict[str, str] | None = None, path: dict[str, Any] | None = None) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": [],
            "query_string": urlencode(query or {}).encode(),
            "path_params": path or {},
        }
    )


def refused(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize(
    "raw",
    ["５", "٣", "1٣", "+5", " 5", "5 ", "5\n", "1e3", "0x10", "1_000", "5.0", "", "-", "--1", "½"],
)
def test_an_integer_is_ascii_digits_only(raw: str) -> None:
    err = refused(parse_int, raw, "limit", 1, 1000)
    assert err.param == "limit" and "limit" in err.message


def test_an_integer_is_in_its_range_and_in_sqlites() -> None:
    assert parse_int("0007", "n", 1, 10) == 7
    assert parse_int(str(SQLITE_MAX), "n", 0, SQLITE_MAX) == SQLITE_MAX
    assert parse_int(str(SQLITE_MIN), "n", SQLITE_MIN, 0) == SQLITE_MIN
    assert parse_int("-5", "n", -10, 10) == -5
    for raw in (str(SQLITE_MAX + 1), "9" * 5000, "0" * 30 + "1" + "0" * 19):
        refused(parse_int, raw, "n", 0, SQLITE_MAX)
    refused(parse_int, str(SQLITE_MIN - 1), "n", SQLITE_MIN, 0)
    refused(parse_int, "-1", "n", 0, 10)  # no sign where the range has no negatives
    refused(parse_int, "11", "n", 0, 10)
    assert parse_int("0" * 40 + "5", "n", 0, 10) == 5  # leading zeros are no value


def test_a_query_integer_has_its_default_and_a_path_integer_its_range() -> None:
    assert int_param(request(), "limit", 50, 1, 1000) == 50
    assert int_param(request({"limit": ""}), "limit", 50, 1, 1000) == 50
    assert int_param(request({"limit": "7"}), "limit", 50, 1, 1000) == 7
    assert path_int_param(request(path={"id": "42"}), "id") == 42
    assert path_int_param(request(path={"id": str(SQLITE_MAX)}), "id") == SQLITE_MAX
    for raw in ("0", "-3", str(SQLITE_MAX + 1), "12x", "４２"):
        err = refused(path_int_param, request(path={"id": raw}), "id")
        assert err.param == "id"
    assert path_int_param(request(path={"id": "0"}), "id", lo=0) == 0


def test_a_count_is_a_bounded_plain_decimal() -> None:
    def count(raw: str) -> int | None:
        return count_param(request({"min_count": raw}), "min_count")

    assert count("") is None
    assert count("10") == 1000 and count("0.5") == 50 and count(".25") == 25
    assert count("1000000000") == MAX_COUNT
    for raw in ("1000000000.01", "92233720368547759", "9" * 5000, "-1", "+1", " 1", "1.234",
                "５", "1e3", "nan", "inf", "1,5", "."):  # fmt: skip
        err = refused(count_param, request({"min_count": raw}), "min_count")
        assert err.param == "min_count", raw


def test_an_error_quotes_a_short_prefix_of_the_value() -> None:
    long = "x" * 100_000
    assert shown(long) == repr("x" * SHOWN_CHARS + "…")
    assert shown("abc") == "'abc'"
    for call, args in (
        (parse_int, (long, "limit", 1, 10)),
        (parse_int, ("9" * 100_000, "limit", 1, 10)),
        (count_param, (request({"min_count": long}), "min_count")),
    ):
        err = refused(call, *args)
        assert len(err.message) < 120, err.message


async def test_out_of_range_values_are_400s_through_the_app(tmp_path: Path) -> None:
    settings = sim_settings(tmp_path, sim_games=1, sim_tipoff_s=3600)  # the NBA side on
    async with (
        running_app(settings) as app,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        for path, params, param in (
            ("/api/trades/recent", {"min_count": "92233720368547759"}, "min_count"),
            ("/api/trades/recent", {"min_count": "1" * 400}, "min_count"),
            ("/api/games/9223372036854775808", {}, "id"),
            ("/api/games/-1", {}, "id"),
            ("/api/trades/recent", {"limit": "５"}, "limit"),
            ("/api/markets/hot", {"limit": "٣"}, "limit"),
            ("/api/gaps", {"limit": "99999999999999999999999"}, "limit"),
            ("/api/markets/KXÅ-1", {}, "ticker"),
        ):
            r = await http.get(path, params=params)
            assert r.status_code == 400, (path, params, r.text)
            assert r.json()["param"] == param, (path, params)
        # a 400 does not echo a long value back whole
        r = await http.get("/api/markets/hot", params={"window": "w" * 8000})
        assert r.status_code == 400 and len(r.content) < 300 and "…" in r.json()["error"]
        r = await http.get("/api/games/" + "7" * 8000)
        assert r.status_code == 400 and len(r.content) < 300
