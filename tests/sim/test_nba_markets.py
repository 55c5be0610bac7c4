"""The simulator's NBA markets follow a simulated night: prices, books, settlement, REST, WS."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import websockets

from clock import ManualClock, SystemClock
from kalshi_client import KalshiRest
from models import GameState, GameStatus, MarketInfo
from nba.match import SERIES_KIND, match_events, parse_market, parse_nba_ticker
from sim.exchange import SimExchange
from sim.history import TradeRow
from sim.market_model import DeltaEv, LifeEv, MarketModel, TradeEv
from sim.nba_games import NightSim
from sim.nba_markets import NbaMarkets, kalshi_date

T0 = 1_780_000_000_000
DATE = "2026-06-12"
STEP_MS = 100


def _settles_yes(info: MarketInfo, final: GameState) -> bool:
    """The contract, read from the ticker and floor_strike as the app reads them."""
    nm = parse_market(info)
    if nm.kind == "total":
        assert nm.strike_tenths is not None
        return (final.home_score + final.away_score) * 10 > nm.strike_tenths
    lead = final.home_score - final.away_score
    if nm.yes_team == final.away:
        lead = -lead
    if nm.kind == "game":
        return lead > 0
    assert nm.strike_tenths is not None
    return lead * 10 > nm.strike_tenths


class Run:
    """A night played through the pure model, recording what a trader would have seen."""

    def __init__(
        self, seed: int, *, acceleration: float = 60.0, per_step: int = 30, until_ms: int = 200_000
    ) -> None:
        self.night = NightSim(
            seed, DATE, T0 + 5_000, 15, acceleration=acceleration, stagger_ms=3_000
        )
        self.model = MarketModel(seed=seed, n_markets=150, start_ms=T0, random_nba=False)
        self.nba = NbaMarkets(self.model, self.night, seed=seed, now_ms=T0)
        self.trades: list[TradeRow] = []
        self.events: list[tuple[int, Any]] = []
        self.truth_at_trade: dict[int, tuple[int, int]] = {}  # trade -> (truth now, 20 s ago)
        self.start_books = {
            m.index: (dict(m.book_yes), dict(m.book_no)) for m in self.model.markets
        }
        truth_log: dict[str, list[int]] = {}
        self._log_truth(truth_log)
        now = T0
        while now < T0 + until_ms:
            now += STEP_MS
            evs = self.model.step(per_step, now)
            for ev in evs:
                self.events.append((now, ev))
                if type(ev) is TradeEv:
                    r = self.model.history.row(ev.row)
                    self.trades.append(r)
                    ticker = self.model.markets[r.market].ticker
                    if ticker.startswith("KXNBAGAME"):
                        log = truth_log[ticker]
                        self.truth_at_trade[r.index] = (log[-1], log[-201] if len(log) > 200 else 0)
            self._log_truth(truth_log)

    def _log_truth(self, truth_log: dict[str, list[int]]) -> None:
        for gid in self.night.games:
            for t in self.nba.tickers(gid)[:2]:  # the two KXNBAGAME markets
                team = t.rsplit("-", 1)[1]
                truth_log.setdefault(t, []).append(self.night.true_yes_ppm(gid, team))

    def nba_markets(self) -> list[Any]:
        return [m for m in self.model.markets if m.series_ticker in SERIES_KIND]


@pytest.fixture(scope="module")
def run() -> Run:
    return Run(5)


def test_catalogue_is_the_nights_games(run: Run) -> None:
    markets = run.nba_markets()
    events = {m.event_ticker for m in markets}
    assert len(events) == 45
    per_series = Counter(m.series_ticker for m in markets)
    assert per_series["KXNBAGAME"] == 30
    assert per_series["KXNBASPREAD"] >= 15 * 3 and per_series["KXNBATOTAL"] == 15 * 5
    games = run.night.states()
    for series in SERIES_KIND:
        report = match_events([e for e in events if e.startswith(series + "-")], games)
        assert len(report.matched) == 15 and not report.unmatched
        assert not report.games_without_events
    for m in markets:
        info = run.model.info(m)
        nm = parse_market(info)  # every ticker and floor_strike parses as the app reads them
        assert nm.date == DATE and m.ticker.split("-")[1].startswith(kalshi_date(DATE))
        if nm.kind != "game":
            assert m.floor_strike is not None and m.floor_strike.endswith(".5")
    generic_nba = [
        m
        for m in run.model.markets
        if m.series_ticker in SERIES_KIND and m.index not in run.model._managed
    ]
    assert not generic_nba  # no random-team NBA events beside the night's


def test_markets_settle_on_the_final_scores(run: Run) -> None:
    finals = {(s.away, s.home): s for s in run.night.states()}
    assert all(s.status is GameStatus.FINAL for s in finals.values())
    lifecycle: dict[int, list[str]] = {}
    for _, ev in run.events:
        if type(ev) is LifeEv:
            lifecycle.setdefault(ev.market, []).append(ev.event_type)
    for m in run.nba_markets():
        info = run.model.info(m)
        nm = parse_market(info)
        final = finals[(nm.away, nm.home)]
        assert m.status == "finalized" and not m.book_yes and not m.book_no
        assert m.result == ("yes" if _settles_yes(info, final) else "no"), m.ticker
        assert m.settlement_value == (10_000 if m.result == "yes" else 0)
        assert lifecycle[m.index] == ["close_date_updated", "deactivated", "determined", "settled"]
    results = Counter(m.result for m in run.nba_markets())
    assert results["yes"] > 20 and results["no"] > 20


def test_books_stay_consistent_with_trades_and_nothing_trades_after_close(run: Run) -> None:
    books = {i: (dict(y), dict(n)) for i, (y, n) in run.start_books.items()}
    closed: set[int] = set()
    nba = {m.index for m in run.nba_markets()}
    nba_trades = 0
    for _, ev in run.events:
        if type(ev) is DeltaEv:
            yes, no = books.setdefault(ev.market, ({}, {}))
            side = yes if ev.yes_side else no
            side[ev.price] = side.get(ev.price, 0) + ev.delta
            assert side[ev.price] >= 0
            if side[ev.price] == 0:
                del side[ev.price]
            if yes and no:
                assert max(yes) + max(no) < 10_000  # never crossed
        elif type(ev) is TradeEv:
            r = run.model.history.row(ev.row)
            assert r.market not in closed
            nba_trades += r.market in nba
            yes, no = books[r.market]
            if r.taker_yes:
                assert 10_000 - r.yes_price == max(no) and r.count <= no[max(no)]
            else:
                assert r.yes_price == max(yes) and r.count <= yes[max(yes)]
        elif type(ev) is LifeEv and ev.event_type == "deactivated":
            closed.add(ev.market)
    for m in run.model.markets:
        assert books[m.index] == (m.book_yes, m.book_no)
    assert closed >= nba
    assert nba_trades > 0.15 * len(run.trades)


def test_prices_track_the_truth(run: Run) -> None:
    late: list[int] = []
    errors: list[int] = []
    for r in run.trades:
        truth = run.truth_at_trade.get(r.index)
        if truth is None:
            continue
        now, before = truth
        errors.append(abs(r.yes_price - now // 100))
        if now >= 980_000 and before >= 980_000:
            # a decided game, and already for 20 s of wall time: over 3 of the crowd's lags
            late.append(r.yes_price)
    assert len(errors) > 2_000
    assert statistics.median(errors) <= 600  # within 6c most of the time, despite the lag
    assert len(late) > 50 and min(late) > 9_000


def test_same_seed_same_trades_different_seed_differs() -> None:
    a = Run(9, acceleration=240.0, per_step=10, until_ms=30_000)
    b = Run(9, acceleration=240.0, per_step=10, until_ms=30_000)
    c = Run(10, acceleration=240.0, per_step=10, until_ms=30_000)
    assert a.trades == b.trades and len(a.trades) == 3_000
    assert [m.ticker for m in a.model.markets] == [m.ticker for m in b.model.markets]
    assert [r.yes_price for r in a.trades] != [r.yes_price for r in c.trades]


async def test_exchange_same_seed_same_clock_steps_same_trades() -> None:
    async def play(seed: int) -> list[tuple[str, str, int, int]]:
        clock = ManualClock(T0)
        night = NightSim(seed, DATE, T0 + 1_000, 4, acceleration=200.0)
        ex = SimExchange(key_id="k", public_key_pem=b"", seed=seed, rate=0, n_markets=40,
                         clock=clock, require_auth=False, night=night)  # fmt: skip
        for _ in range(300):
            clock.advance(STEP_MS)
            await ex.emit_trades(15)
        hist = ex._model.history
        markets = ex._model.markets
        return [(r.trade_id, markets[r.market].ticker, r.yes_price, r.count)
                for r in map(hist.row, range(len(hist)))]  # fmt: skip

    a, b, c = await play(4), await play(4), await play(5)
    assert a == b and len(a) == 4_500
    assert sum(t.startswith("KXNBA") for _, t, _, _ in a) > 300
    assert a != c


# -- over the wire ---------------------------------------------------------------------------


async def _recv(ws: Any) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return json.loads(await ws.recv())


async def test_night_over_rest_and_ws_settles_and_matches() -> None:
    clock = ManualClock(T0)
    night = NightSim(21, DATE, T0 + 2_000, 15, acceleration=400.0, stagger_ms=500)
    ex = SimExchange(
        key_id="k",
        public_key_pem=b"",
        seed=21,
        rate=0,
        n_markets=60,
        clock=clock,
        require_auth=False,
        rate_limit_per_s=10_000,
        rate_limit_burst=10_000,
        night=night,
    )
    await ex.start()
    try:
        assert ex.nba is not None
        tickers = [t for gid in night.games for t in ex.nba.tickers(gid)]
        async with websockets.connect(ex.ws_url) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": 1,
                        "cmd": "subscribe",
                        "params": {
                            "channels": ["trade", "market_lifecycle_v2"],
                            "market_tickers": tickers,
                        },
                    }
                )
            )
            acks = [await _recv(ws), await _recv(ws)]
            assert all(a["type"] == "subscribed" for a in acks)
            async with httpx.AsyncClient() as http:
                r = await http.get(
                    ex.rest_url + "/markets", params={"series_ticker": "KXNBATOTAL", "limit": 1000}
                )
                live = r.json()["markets"]
                assert len(live) == 75 and all(m["status"] == "active" for m in live)
                assert all(isinstance(m["floor_strike"], float) for m in live)
                while not all(s.status is GameStatus.FINAL for s in night.states()):
                    clock.advance(STEP_MS)
                    await ex.emit_trades(20)
                clock.advance(20_000)
                await ex.emit_trades(0)  # past the settlement delay
                await ex.emit_trades(0)
                settled = await http.get(
                    ex.rest_url + "/markets", params={"status": "settled", "limit": 1000}
                )
                ev = await http.get(
                    ex.rest_url + "/events", params={"series_ticker": "KXNBASPREAD"}
                )
            frames: list[dict[str, Any]] = []
            while True:
                f = await _recv(ws)
                frames.append(f)
                if (
                    f["type"] == "market_lifecycle_v2"
                    and f["msg"]["event_type"] == "settled"
                    and f["msg"]["market_ticker"] == tickers[-1]
                ):
                    break
        assert {e["event_ticker"] for e in ev.json()["events"]} == {
            f"KXNBASPREAD-{kalshi_date(DATE)}{g.away}{g.home}" for g in night.games.values()
        }
        by_ticker = {m["ticker"]: m for m in settled.json()["markets"]}
        assert set(tickers) <= set(by_ticker)

        async with KalshiRest(ex.rest_url, signer=None, clock=SystemClock()) as rest:
            infos = [m for s in SERIES_KIND for m in await rest.markets(series_ticker=s)]
        assert len(infos) == len(tickers)
        finals = {(s.away, s.home): s for s in night.states()}
        for series in SERIES_KIND:
            report = match_events(
                [i.event_ticker for i in infos if i.series_ticker == series], night.states()
            )
            assert len(report.matched) == 15 and not report.unmatched
        for info in infos:
            nm = parse_market(info)
            want = "yes" if _settles_yes(info, finals[(nm.away, nm.home)]) else "no"
            assert info.status == "finalized" and info.result == want, info.ticker
            assert by_ticker[info.ticker]["result"] == want

        determined: dict[str, str] = {}
        traded = 0
        for f in frames:
            msg = f["msg"]
            if f["type"] == "trade":
                assert msg["market_ticker"] not in determined  # nothing trades once closed
                traded += 1
            elif f["type"] == "market_lifecycle_v2" and msg["event_type"] == "determined":
                determined[msg["market_ticker"]] = msg["result"]
        assert traded > 100
        assert determined == {i.ticker: i.result for i in infos}
    finally:
        await ex.stop()


def test_cli_serves_a_night(tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    pem.write_text("unused with --no-auth")
    days = {_et_day()}
    cmd = [sys.executable, "-m", "sim.exchange", "--port", "0", "--key-id", "k",
           "--public-key", str(pem), "--no-auth", "--rate", "5", "--nba-games", "3"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[2])  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        rest = line.split()[1].removeprefix("rest=")
        r = httpx.get(rest + "/events", params={"series_ticker": "KXNBAGAME"}, timeout=5)
        days.add(_et_day())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    events = [e["event_ticker"] for e in r.json()["events"]]
    assert len(events) == 3
    assert {parse_nba_ticker(e).date for e in events} <= days


def _et_day() -> str:
    return datetime.now(ZoneInfo("America/New_York")).date().isoformat()
