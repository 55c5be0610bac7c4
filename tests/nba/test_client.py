import json
from pathlib import Path

import httpx
import pytest

from clock import ManualClock
from infra.retry import RetryConfig, RetryPolicy
from models import GameStatus
from nba.client import NbaClient
from nba.errors import NbaAuthError, NbaHttpError, NbaRateLimited, NbaWireError
from nba.wire import (
    events_from_response,
    parse_clock,
    parse_game,
    parse_live_box_score,
    parse_odds_row,
    parse_status,
)
from sim.balldontlie import SimBalldontlie
from sim.nba_games import NightSim
from tests.infra.sleeps import RecordedSleep

FIX = Path(__file__).parents[1] / "fixtures" / "nba"
T0 = 1_767_830_400_000  # 2026-01-08T00:00:00Z


@pytest.mark.parametrize(
    ("status", "period", "clock", "expected"),
    [
        ("2026-01-08T01:00:00Z", 0, None, (GameStatus.SCHEDULED, 0, 720)),
        ("1st Qtr", 1, "5:32", (GameStatus.LIVE, 1, 332)),
        ("4th Qtr", 4, "0:45.2", (GameStatus.LIVE, 4, 45)),
        ("4th Qtr", 4, "12.7", (GameStatus.LIVE, 4, 12)),
        ("Halftime", 2, "", (GameStatus.HALFTIME, 2, 0)),
        ("End of 3rd Qtr", 3, "", (GameStatus.LIVE, 3, 0)),
        ("OT", 5, "3:10", (GameStatus.LIVE, 5, 190)),
        ("2OT", 6, "0:04", (GameStatus.LIVE, 6, 4)),
        ("Final", 4, "Final", (GameStatus.FINAL, 4, 0)),
        ("Final/OT", 5, "Final", (GameStatus.FINAL, 5, 0)),
        ("Final/2OT", None, None, (GameStatus.FINAL, 6, 0)),
    ],
)
def test_status_forms(
    status: str, period: int | None, clock: str | None, expected: tuple[GameStatus, int, int]
) -> None:
    st = parse_status(status, period, clock)
    assert (st.status, st.period, st.seconds_left) == expected
    if expected[0] is GameStatus.SCHEDULED:
        assert st.start_ms == T0 + 3_600_000


def test_bad_status_and_clock() -> None:
    with pytest.raises(NbaWireError):
        parse_status("Delayed?", 1, "")
    assert parse_clock("Final") is None and parse_clock(None) is None
    assert parse_clock("11:07") == 667


def test_parse_spec_shaped_payloads() -> None:
    games = json.loads((FIX / "bdl_games_page.json").read_text())["data"]
    parsed = [parse_game(g, 5) for g in games]
    assert [g.status for g in parsed] == [GameStatus.SCHEDULED] + [GameStatus.LIVE] + [
        GameStatus.HALFTIME
    ] + [GameStatus.LIVE] * 3 + [GameStatus.FINAL] * 2
    live = parsed[1]
    assert (live.home, live.away, live.home_score, live.away_score) == ("SAS", "LAL", 14, 12)
    assert (live.period, live.seconds_left, live.date, live.ts_ms) == (1, 332, "2026-01-07", 5)
    assert parsed[0].start_ms == T0 + 3_600_000
    rows = json.loads((FIX / "bdl_odds_page.json").read_text())["data"]
    dk = parse_odds_row(rows[0], 9)
    assert [q.market for q in dk] == ["moneyline", "spread", "total"]
    assert (dk[0].home_odds, dk[0].away_odds) == (-220, 180)
    assert (dk[1].line_tenths, dk[1].home_odds) == (-55, -110)
    assert (dk[2].line_tenths, dk[2].over_odds, dk[2].under_odds) == (2275, -105, -115)
    assert dk[0].ts_ms == T0 + 80 * 60_000 and dk[0].recv_ms == 9
    assert [q.market for q in parse_odds_row(rows[1], 9)] == ["moneyline"]


def _team(tid: int, abbr: str, city: str, name: str) -> dict[str, object]:
    return {"id": tid, "conference": "West", "division": "Southwest", "city": city,
            "name": name, "full_name": f"{city} {name}", "abbreviation": abbr}  # fmt: skip


SAS = _team(27, "SAS", "San Antonio", "Spurs")
LAL = _team(14, "LAL", "Los Angeles", "Lakers")
PLAYER = {"min": "12", "pts": 6, "reb": 2, "ast": 1, "player": {"id": 1, "first_name": "A"}}


def _box(home: dict[str, object], visitor: dict[str, object]) -> dict[str, object]:
    return {"date": "2026-01-07", "season": 2025, "status": "2nd Qtr", "period": 2,
            "time": "4:05", "postseason": False, "home_team_score": 51,
            "visitor_team_score": 47, "home_team": home, "visitor_team": visitor}  # fmt: skip


def test_live_box_score_team_nested_as_in_the_spec() -> None:
    # OpenAPI NBABoxScore: home_team = {team: NBATeam, players: [...]}
    box = _box({"team": SAS, "players": [PLAYER]}, {"team": LAL, "players": [PLAYER]})
    s = parse_live_box_score(box)
    assert (s.date, s.home, s.away, s.home_score, s.away_score) == (
        "2026-01-07", "SAS", "LAL", 51, 47)  # fmt: skip
    assert (s.status, s.period, s.seconds_left) == (GameStatus.LIVE, 2, 245)


def test_live_box_score_team_flattened_as_the_service_sends() -> None:
    # balldontlie's own SDK reads the NBATeam fields on home_team itself, beside players
    box = _box(SAS | {"players": [PLAYER]}, LAL | {"players": [PLAYER]})
    s = parse_live_box_score(box)
    assert (s.date, s.home, s.away, s.home_score, s.away_score) == (
        "2026-01-07", "SAS", "LAL", 51, 47)  # fmt: skip
    with pytest.raises(NbaWireError):
        parse_live_box_score(_box({"players": []}, LAL | {"players": []}))


def policy(sleep: RecordedSleep, *, base_s: float = 1.0, cap_s: float = 16.0,
           max_attempts: int = 6) -> RetryPolicy:  # fmt: skip
    config = RetryConfig(base_s=base_s, cap_s=cap_s, jitter=0.0, max_attempts=max_attempts)
    return RetryPolicy(config, name="balldontlie", sleep=sleep)


async def _serve(clock: ManualClock, limit: int = 600) -> SimBalldontlie:
    night = NightSim(5, "2026-01-07", T0, 15, acceleration=30.0)
    sim = SimBalldontlie("KEY", 5, clock, night, rate_limit_per_min=limit)
    await sim.start("127.0.0.1", 0)
    return sim


@pytest.mark.parametrize("prefix", ["", "/nba"])
async def test_client_pages_games_and_odds_over_loopback(prefix: str) -> None:
    clock = ManualClock(T0 + 30_000)  # x30: 15 game minutes in, 2nd quarter
    sim = await _serve(clock)
    sleeps = RecordedSleep(clock)  # moves the manual clock instead of waiting
    try:
        async with NbaClient(
            sim.url, "KEY", clock, prefix=prefix, per_page=4, retry=policy(sleeps)
        ) as client:
            games = await client.games(["2026-01-07"])
            assert len(games) == 15 and len({g.game_id for g in games}) == 15
            assert client.requests == 4  # 4 + 4 + 4 + 3
            assert all(g.status is GameStatus.LIVE and g.period == 2 for g in games)
            one = await client.game(games[0].game_id)
            assert (one.game_id, one.home, one.away) == (
                games[0].game_id,
                games[0].home,
                games[0].away,
            )
            odds = await client.odds(dates=["2026-01-07"])
            assert {q.market for q in odds} == {"moneyline", "spread", "total"}
            assert {q.vendor for q in odds} >= {"draftkings", "kalshi", "polymarket"}
            by_id = await client.odds(game_ids=[games[0].game_id])
            assert {q.game_id for q in by_id} == {games[0].game_id}
            teams = await client.teams()
            assert len(teams) == 30 and "SAS" in {t.abbreviation for t in teams}
            live = await client.live_box_scores()
            assert len(live) == 15 and {x.home for x in live} == {g.home for g in games}
            async with httpx.AsyncClient(headers={"Authorization": "KEY"}) as http:
                raw = (await http.get(f"{sim.url}{prefix}/v1/box_scores/live")).json()
            home = raw["data"][0]["home_team"]  # served flattened, as balldontlie does
            assert "team" not in home and {"id", "abbreviation", "players"} <= set(home)
            assert await client.games(["2026-01-08"]) == []
    finally:
        await sim.stop()
    assert sleeps.delays == []


async def test_429_backs_off_on_the_injected_sleeper() -> None:
    clock = ManualClock(T0 + 10_000)  # 50 s left in this clock minute
    sim = await _serve(clock, limit=2)
    sleeps = RecordedSleep(clock)
    try:
        retry = policy(sleeps, base_s=20.0, cap_s=40.0, max_attempts=3)
        async with NbaClient(sim.url, "KEY", clock, retry=retry) as client:
            await client.teams()
            await client.teams()
            teams = await client.teams()  # 3rd in the minute: 429, then retried
            assert len(teams) == 30
            assert sim.rejected_429 >= 1 and client.retries == len(sleeps.delays) >= 1
            # Retry-After (seconds to the next minute) lengthens the first delay to 50 s
            assert sleeps.delays[0] == 50.0
        clock.advance(60_000)  # a fresh clock minute: two requests allowed again
        held = RecordedSleep()  # no time passes

        retry = policy(held, base_s=0.001, max_attempts=2)
        async with NbaClient(sim.url, "KEY", clock, retry=retry) as client:
            await client.teams()
            await client.teams()
            with pytest.raises(NbaRateLimited):
                await client.teams()
            assert len(held.delays) == 1
    finally:
        await sim.stop()


async def test_auth_failure_names_the_env_var_and_does_not_retry() -> None:
    clock = ManualClock(T0)
    sim = await _serve(clock)
    sleeps = RecordedSleep(clock)
    try:
        async with NbaClient(sim.url, "WRONG", clock, retry=policy(sleeps)) as client:
            with pytest.raises(NbaAuthError, match="BALLDONTLIE_API_KEY"):
                await client.games(["2026-01-07"])
            assert client.requests == 1 and sleeps.delays == []
        assert sim.rejected_401 == 1
    finally:
        await sim.stop()


@pytest.mark.parametrize(
    ("answer", "status", "attempts"),
    [
        (httpx.ConnectError("refused"), 0, 3),  # network errors: retried, then status 0
        (httpx.Response(502), 0, 3),  # 5xx: retried, then status 0 as before
        (httpx.Response(404, text="no such game"), 404, 1),  # other 4xx: at once
    ],
)
async def test_failures_after_retries_become_http_errors(
    answer: httpx.Response | Exception, status: int, attempts: int
) -> None:
    calls: list[str] = []

    def handle(req: httpx.Request) -> httpx.Response:
        calls.append(req.url.path)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sleeps = RecordedSleep()
    retry, transport = policy(sleeps, max_attempts=3), httpx.MockTransport(handle)
    async with NbaClient(
        "http://bdl.test", "KEY", ManualClock(T0), retry=retry, transport=transport
    ) as client:
        with pytest.raises(NbaHttpError) as ei:
            await client.game(7)
    assert ei.value.status == status and len(calls) == attempts
    assert sleeps.delays == [1.0, 2.0][: attempts - 1]


@pytest.mark.parametrize("prefix", ["", "/nba"])
async def test_recorded_responses_replay_into_the_same_events(prefix: str) -> None:
    """Every good response reaches ``on_response``; parsing the recorded bytes again gives the
    games and quotes the client returned, page by page."""
    clock = ManualClock(T0 + 30_000)
    sim = await _serve(clock)
    recorded: list[tuple[int, str, bytes]] = []
    try:
        async with NbaClient(
            sim.url, "KEY", clock, prefix=prefix, per_page=4, retry=policy(RecordedSleep(clock)),
            on_response=lambda ms, path, body: recorded.append((ms, path, body)),
        ) as client:  # fmt: skip
            games = await client.games(["2026-01-07"])
            clock.advance(1_000)
            odds = await client.odds(dates=["2026-01-07"])
            await client.teams()
    finally:
        await sim.stop()
    paths = [p for _, p, _ in recorded]
    assert len(paths) == client.requests == 4 + len(paths) - 4
    assert paths[0].startswith(f"{prefix}/v1/games?") and "dates%5B%5D=2026-01-07" in paths[0]
    assert "cursor=" in paths[1] and paths[-1] == f"{prefix}/v1/teams"
    replayed = [e for ms, path, body in recorded for e in events_from_response(path, body, ms)]
    assert replayed == [*games, *odds]
    assert {e.recv_ms for e in games} == {T0 + 30_000}
    assert {e.recv_ms for e in odds} == {T0 + 31_000}


def test_events_from_response_rejects_what_is_not_a_page() -> None:
    assert events_from_response("/v1/teams", b'{"data": []}', T0) == []
    with pytest.raises(NbaWireError):
        events_from_response("/v1/games?dates[]=2026-01-07", b"<html>", T0)
    with pytest.raises(NbaWireError):
        events_from_response("/v2/odds?dates[]=2026-01-07", b'{"rows": []}', T0)
    body = b'{"data": [], "meta": {"per_page": 25}}'
    assert events_from_response("/nba/v2/odds?game_ids[]=1", body, T0) == []
