"""The NBA service on a ManualClock against the simulated balldontlie server over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clock import ManualClock
from database import Database
from infra.retry import RetryConfig, RetryPolicy
from kalshi_client import KalshiHTTPError, KalshiRest
from models import (
    Event,
    EventInfo,
    GameStatus,
    LifecycleEvent,
    LifecycleKind,
    MarketInfo,
    Side,
    Trade,
)
from nba.client import NbaClient
from nba.kalshi_markets import KalshiSide
from nba.service import NbaService
from nba.store import NbaStore
from sim.balldontlie import SimBalldontlie
from sim.exchange import SimExchange
from sim.nba_games import NightSim
from tests.infra.sleeps import RecordedSleep

DATE = "2026-06-13"
T0 = 1_781_391_600_000  # 2026-06-13 23:00 UTC = 19:00 ET
KEY = "test-key"


def direct(**kw: Any) -> NbaService:
    """A service whose events are handled at once, as the pipeline would: stored, then applied."""
    built: list[NbaService] = []

    def emit(event: Event) -> None:
        built[0].on_event(event)
        built[0].state.on_event(event)

    built.append(NbaService(emit=emit, **kw))
    return built[0]


def once() -> RetryPolicy:
    """Each balldontlie request tried once: a failure reaches the service as it happens."""
    return RetryPolicy(RetryConfig(max_attempts=1), name="balldontlie", sleep=RecordedSleep())


MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def event_code(date: str, away: str, home: str) -> str:
    y, m, d = date.split("-")
    return f"{y[2:]}{MONTHS[int(m) - 1]}{d}{away}{home}"


def market(ticker: str, event: str, series: str, strike: str | None = None) -> MarketInfo:
    return MarketInfo(ticker, event, series, ticker, "", "active", T0, T0 + 86_400_000, strike)


def night_events(night: NightSim, skip_game: int | None, extra: str | None) -> list[EventInfo]:
    """Kalshi's three NBA events per game of the night, as its REST API lists them."""
    out: list[EventInfo] = []
    for g in night.games.values():
        code = event_code(g.date, g.away, g.home)
        line = -g.home_spread_tenths
        fav = g.home if line > 0 else g.away
        games = [market(f"KXNBAGAME-{code}-{t}", f"KXNBAGAME-{code}", "KXNBAGAME")
                 for t in (g.away, g.home)]  # fmt: skip
        spreads = [market(f"KXNBASPREAD-{code}-{fav}{n}", f"KXNBASPREAD-{code}", "KXNBASPREAD",
                          f"{n}.5") for n in (1, 4, 7)]  # fmt: skip
        totals = [market(f"KXNBATOTAL-{code}-{n}", f"KXNBATOTAL-{code}", "KXNBATOTAL", f"{n}.5")
                  for n in (g.total_tenths // 10 - 5, g.total_tenths // 10 + 5)]  # fmt: skip
        for series, ms in (("KXNBAGAME", games), ("KXNBASPREAD", spreads),
                           ("KXNBATOTAL", totals)):  # fmt: skip
            if series == "KXNBAGAME" and g.game_id == skip_game:
                continue
            out.append(EventInfo(f"{series}-{code}", series, "", "", tuple(ms)))
    if extra is not None:
        out.append(
            EventInfo(
                extra,
                extra.split("-")[0],
                "",
                "",
                (market(f"{extra}-{extra[-3:]}", extra, extra.split("-")[0]),),
            )
        )
    return out


@dataclass
class NightRest:
    events_list: list[EventInfo]
    calls: int = 0

    async def events(self, *, limit: int = 200, with_nested_markets: bool = True,
                     **filters: Any) -> list[EventInfo]:  # fmt: skip
        self.calls += 1
        return [e for e in self.events_list if e.series_ticker == filters["series_ticker"]]

    async def markets(self, *, limit: int = 1000, **filters: Any) -> list[MarketInfo]:
        return [m for e in self.events_list for m in e.markets
                if e.event_ticker == filters.get("event_ticker")]  # fmt: skip


@dataclass
class Recorder:
    messages: list[dict[str, Any]] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)

    def publish(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)

    def of(self, kind: str) -> list[dict[str, Any]]:
        out = [m for m in self.messages if m["type"] == kind]
        self.messages = [m for m in self.messages if m["type"] != kind]
        return out

    async def follow(self, tickers: list[str]) -> None:
        self.followed += tickers


@dataclass
class Setup:
    clock: ManualClock
    night: NightSim
    service: NbaService
    store: NbaStore
    hub: Recorder
    rest: NightRest
    server: SimBalldontlie


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = ManualClock(T0)
    night = NightSim(7, DATE, T0 + 60_000, 15, acceleration=200.0)
    server = SimBalldontlie(KEY, 7, clock, games=night)
    await server.start()
    client = NbaClient(server.url, KEY, clock, retry=once())
    db = await Database.open(tmp_path / "nba.db", clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    missing = min(night.games)
    rest = NightRest(night_events(night, missing, f"KXNBAGAME-{event_code(DATE, 'LAL', 'LAC')}"))
    hub = Recorder()
    kalshi = KalshiSide(rest=rest, follow=hub.follow)
    service = direct(client=client, store=store, hub=hub, clock=clock,
                         kalshi=kalshi, dates=lambda: [DATE])  # fmt: skip
    try:
        yield Setup(clock, night, service, store, hub, rest, server)
    finally:
        await client.aclose()
        await db.close()
        await server.stop()


async def test_refresh_matches_every_game_and_reports_what_does_not(setup: Setup) -> None:
    s = setup
    summary = await s.service.refresh()
    missing = min(s.night.games)
    assert summary["games"] == 15
    assert summary["matched"] == 15 * 3 - 1
    assert summary["games_matched"] == 15
    assert summary["unmatched"] == [{"event_ticker": "KXNBAGAME-26JUN13LALLAC",
                                     "reason": f"no game LAL@LAC on {DATE}"}]  # fmt: skip
    assert s.service.markets.unmatched_for(missing, DATE)["missing_series"] == ["KXNBAGAME"]
    other = max(s.night.games)
    assert s.service.markets.unmatched_for(other, DATE)["missing_series"] == []
    # every matched market's book is followed; the unmatched event's is not
    assert len(s.hub.followed) == 14 * 2 + 15 * 3 + 15 * 2
    assert not any("LALLAC" in t for t in s.hub.followed)
    await s.store.flush()
    rows = {m.event_ticker: m for m in await s.store.matches()}
    assert rows["KXNBAGAME-26JUN13LALLAC"].game_id is None
    assert sum(1 for m in rows.values() if m.game_id is not None) == 44


async def test_messages_are_published_on_change_at_most_once_a_second(setup: Setup) -> None:
    s = setup
    await s.service.refresh()
    s.service.tick()
    games, odds = s.hub.of("game"), s.hub.of("odds")
    assert len(games) == 15 and len(odds) == 15
    g = games[0]["game"]
    assert g["status"] == "scheduled" and g["clock"] == "19:01 ET"
    assert g["consensus"]["books"] == 4  # kalshi and polymarket quotes are not sportsbooks
    assert 0 < g["fair"]["home_win_ppm"] < 1_000_000
    assert len(g["history"]) == 1
    assert {q["vendor"] for q in odds[0]["quotes"]} >= {"draftkings", "kalshi"}
    # nothing changed: nothing sent
    s.clock.advance(1_000)
    s.service.tick()
    assert s.hub.of("game") == []
    # tip-off; a change within the same second waits for the next one
    s.clock.set(T0 + 60_000 + 2_000)
    await s.service.poll()
    s.service.tick()
    live = [m["game"] for m in s.hub.of("game")]
    assert live and all(v["status"] == "live" for v in live)
    s.clock.advance(500)
    await s.service.refresh()
    s.service.tick()
    assert s.hub.of("game") == []
    s.clock.advance(500)
    s.service.tick()
    again = [m["game"] for m in s.hub.of("game")]
    assert again
    for v in again:  # only the points added since the previous message
        assert len(v["history"]) == 1 and v["history"][0][0] == s.clock.now_ms()


async def test_a_night_played_to_the_end(setup: Setup) -> None:
    s = setup
    await s.service.refresh()
    for _ in range(400):
        s.clock.advance(5_000)
        await s.service.poll()
        s.service.tick()
        if all(g.status is GameStatus.FINAL for g in s.service.state.games.values()):
            break
    for gid, sim in s.night.games.items():
        view = s.service.view(gid)
        assert view is not None
        assert (view["home_score"], view["away_score"]) == (sim.home_score, sim.away_score)
        assert view["status"] == "final" and view["clock"] == "Final"
        home_won = sim.home_score > sim.away_score
        assert view["fair"]["home_win_ppm"] == (1_000_000 if home_won else 0)
        assert 2 <= len(view["history"]) <= 720
        assert view["freshness_ms"]["scores"] == 0
    await s.store.flush()
    gid = next(iter(s.night.games))
    timeline = await s.store.timeline(gid)
    states = [(p.home_score, p.away_score, p.status, p.period, p.seconds_left) for p in timeline]
    assert len(states) == len(set(states)) and timeline[-1].status is GameStatus.FINAL
    before = await s.store.counts()
    for _ in range(3):  # polling a finished night stores nothing more
        s.clock.advance(10_000)
        await s.service.refresh()
    await s.store.flush()
    assert await s.store.counts() == before


async def test_kalshi_trades_and_settlement_reach_the_view(setup: Setup) -> None:
    s = setup
    await s.service.refresh()
    gid = max(s.night.games)
    sim = s.night.games[gid]
    code = event_code(DATE, sim.away, sim.home)
    home_ticker = f"KXNBAGAME-{code}-{sim.home}"
    s.service.state.on_event(Trade("t1", home_ticker, 6_100, 500, Side.YES, T0, T0))
    s.service.state.on_event(Trade("t2", "KXOTHER-X", 100, 500, Side.YES, T0, T0))
    s.service.state.on_event(LifecycleEvent(home_ticker, LifecycleKind.DETERMINED, T0, T0,
                                      result="yes"))  # fmt: skip
    s.service.state.on_event(LifecycleEvent(home_ticker, LifecycleKind.SETTLED, T0, T0))
    view = s.service.view(gid)
    assert view is not None
    assert view["kalshi"]["home_win_ppm"] == 610_000
    home = next(m for m in view["markets"] if m["ticker"] == home_ticker)
    assert (home["last_cc"], home["status"], home["result"]) == (6_100, "finalized", "yes")
    kinds = sorted(m["kind"] for m in view["markets"])
    assert kinds == ["game"] * 2 + ["spread"] * 3 + ["total"] * 2
    assert {m["strike_tenths"] for m in view["markets"] if m["kind"] == "spread"} == {15, 45, 75}


async def test_a_rejected_key_stops_the_nba_side_with_a_reason(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    server = SimBalldontlie(KEY, 1, clock, games=NightSim(1, DATE, T0, 2))
    await server.start()
    client = NbaClient(server.url, "wrong-key", clock, retry=once())
    db = await Database.open(tmp_path / "nba.db", clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    try:
        service = direct(client=client, store=store, hub=Recorder(),
                             clock=clock, dates=lambda: [DATE])  # fmt: skip
        await service.run()  # returns instead of raising
        assert service.disabled_reason is not None
        assert "BALLDONTLIE_API_KEY" in service.disabled_reason
    finally:
        await client.aclose()
        await db.close()
        await server.stop()


class _Stop(Exception):
    pass


async def test_the_loop_polls_on_schedule_and_survives_kalshi_errors(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    night = NightSim(3, DATE, T0 + 10_000, 2, acceleration=50.0)
    server = SimBalldontlie(KEY, 3, clock, games=night)
    await server.start()
    client = NbaClient(server.url, KEY, clock, retry=once())
    db = await Database.open(tmp_path / "nba.db", clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    waits: list[int] = []

    class FailingRest(NightRest):
        async def events(self, **filters: Any) -> list[EventInfo]:
            self.calls += 1
            raise KalshiHTTPError("GET /events: ConnectError")

    async def sleeper(ms: int) -> None:
        waits.append(ms)
        if len(waits) == 30:
            raise _Stop
        clock.advance(ms)

    rest = FailingRest([])
    try:
        service = direct(client=client, store=store, hub=Recorder(),
                             clock=clock, kalshi=KalshiSide(rest=rest), sleeper=sleeper,
                             dates=lambda: [DATE], discover_every_ms=60_000)  # fmt: skip
        with pytest.raises(_Stop):
            await service.run()
        # goat tier: scores every 5 s, odds every 10 s; discovery retried every minute
        assert set(waits) == {5_000}
        assert clock.now_ms() == T0 + 29 * 5_000
        assert rest.calls == 3
        assert all(g.status is not GameStatus.SCHEDULED for g in service.state.games.values())
        assert server.requests == 30 + 15
    finally:
        await client.aclose()
        await db.close()
        await server.stop()


async def test_the_simulated_exchange_s_night_is_matched_and_settles(tmp_path: Path) -> None:
    """Kalshi's side from the simulated exchange over loopback: its night has a 15th game that
    balldontlie does not list, so that game's three events stay unmatched."""
    clock = ManualClock(T0)
    exchange_night = NightSim(5, DATE, T0 + 5_000, 15, acceleration=400.0)
    scores_night = NightSim(5, DATE, T0 + 5_000, 14, acceleration=400.0)
    exchange = SimExchange(key_id="k", public_key_pem=b"", require_auth=False, seed=5, rate=0,
                           n_markets=30, clock=clock, night=exchange_night)  # fmt: skip
    await exchange.start()
    server = SimBalldontlie(KEY, 5, clock, games=scores_night)
    await server.start()
    client = NbaClient(server.url, KEY, clock, retry=once())
    rest = KalshiRest(exchange.rest_url, signer=None, clock=clock)
    db = await Database.open(tmp_path / "nba.db", clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    try:
        service = direct(client=client, store=store, hub=Recorder(),
                             clock=clock, kalshi=KalshiSide(rest=rest),
                             dates=lambda: [DATE])  # fmt: skip
        summary = await service.refresh()
        assert (summary["games"], summary["games_matched"]) == (14, 14)
        assert summary["matched"] == 14 * 3
        extra = exchange_night.games[max(exchange_night.games)]
        code = event_code(DATE, extra.away, extra.home)
        assert summary["unmatched"] == [
            {
                "event_ticker": f"{s}-{code}",
                "reason": f"no game {extra.away}@{extra.home} on {DATE}",
            }
            for s in ("KXNBAGAME", "KXNBASPREAD", "KXNBATOTAL")
        ]
        while not all(g.status is GameStatus.FINAL for g in service.state.games.values()):
            clock.advance(5_000)
            await exchange.emit_trades(0)  # the exchange steps its night: markets settle
            await service.poll()
        await service.refresh()  # REST now lists the results
        for gid in scores_night.games:
            view = service.view(gid)
            assert view is not None and view["status"] == "final"
            home_won = view["home_score"] > view["away_score"]
            game_markets = [m for m in view["markets"] if m["kind"] == "game"]
            assert len(game_markets) == 2
            for m in game_markets:
                assert m["result"] == ("yes" if (m["yes_team"] == view["home"]) == home_won
                                       else "no"), m  # fmt: skip
            assert all(m["result"] in ("yes", "no") for m in view["markets"])
    finally:
        await db.close()
        await rest.aclose()
        await client.aclose()
        await server.stop()
        await exchange.stop()
