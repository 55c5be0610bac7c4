"""NBA storage: round trips, one row per change, restart keeps the dedupe."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import aiosqlite
import pytest

from clock import ManualClock
from database import Database
from models import GameState, GameStatus, OddsQuote
from nba.store import NbaStore

T0 = 1_780_000_000_000


def game(**changes: object) -> GameState:
    base = GameState(18_000_001, "2026-06-13", "SAS", "NYK", 0, 0, GameStatus.SCHEDULED, 0, 720,
                     T0 + 60_000, T0, T0)  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def quote(vendor: str = "draftkings", **changes: object) -> OddsQuote:
    base = OddsQuote(18_000_001, vendor, "moneyline", -150, 130, None, None, None, T0, T0)
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_games_scores_odds_and_matches_round_trip(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    db = await Database.open(tmp_path / "nba.db", clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    try:
        g0 = game()
        g1 = game(status=GameStatus.LIVE, period=1, seconds_left=700, home_score=2, ts_ms=T0 + 1)
        g2 = game(status=GameStatus.FINAL, period=4, seconds_left=0, home_score=101,
                  away_score=99, ts_ms=T0 + 2)  # fmt: skip
        for g in (g0, g1, g2):
            assert store.add_game(g)
        spread = OddsQuote(18_000_001, "fanduel", "spread", -110, -110, -55, None, None, T0, T0)
        total = OddsQuote(18_000_001, "fanduel", "total", None, None, 2215, -108, -112, T0, T0)
        for q in (quote(), spread, total):
            assert store.add_quote(q)
        assert store.set_match("KXNBAGAME-26JUN13NYKSAS", "KXNBAGAME", 18_000_001, None)
        assert store.set_match("KXNBATOTAL-26JUN13BOSLAL", "KXNBATOTAL", None, "no game")
        assert await store.flush() == 1 + 3 + 3 + 2

        assert await store.games_on("2026-06-13") == [g2]
        assert await store.game(18_000_001) == g2
        assert await store.game(5) is None
        points = await store.timeline(18_000_001)
        assert [(p.status, p.home_score, p.away_score) for p in points] == [
            (GameStatus.SCHEDULED, 0, 0),
            (GameStatus.LIVE, 2, 0),
            (GameStatus.FINAL, 101, 99),
        ]
        assert set(await store.odds(18_000_001)) == {quote(), spread, total}
        matches = {m.event_ticker: m for m in await store.matches()}
        assert matches["KXNBAGAME-26JUN13NYKSAS"].game_id == 18_000_001
        assert matches["KXNBATOTAL-26JUN13BOSLAL"].game_id is None
        assert matches["KXNBATOTAL-26JUN13BOSLAL"].reason == "no game"
    finally:
        await db.close()


async def test_nothing_changed_means_no_new_rows_even_after_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    path = tmp_path / "nba.db"
    db = await Database.open(path, clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    try:
        live = game(status=GameStatus.LIVE, period=2, seconds_left=300, home_score=50)
        assert store.add_game(live)
        assert store.add_quote(quote())
        assert store.set_match("KXNBAGAME-26JUN13NYKSAS", "KXNBAGAME", 1, None)
        for _ in range(5):  # polled again: same state, new receive times
            assert not store.add_game(replace(live, ts_ms=T0 + 9, recv_ms=T0 + 9))
            assert not store.add_quote(quote(ts_ms=T0 + 9, recv_ms=T0 + 9))
            assert not store.set_match("KXNBAGAME-26JUN13NYKSAS", "KXNBAGAME", 1, None)
        assert await store.flush() == 4
        assert await store.flush() == 0
        before = await store.counts()
    finally:
        await db.close()
    db = await Database.open(path, clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    try:
        assert not store.add_game(live)
        assert not store.add_quote(quote(ts_ms=T0 + 20))
        assert not store.set_match("KXNBAGAME-26JUN13NYKSAS", "KXNBAGAME", 1, None)
        assert store.add_quote(quote(home_odds=-160, ts_ms=T0 + 30))  # a real change
        assert await store.flush() == 1
        after = await store.counts()
        assert after == {**before, "nba_odds": before["nba_odds"] + 1}
        assert [q.home_odds for q in await store.latest_odds([18_000_001])] == [-160]
    finally:
        await db.close()


async def test_a_failed_flush_keeps_the_rows_for_the_next_one(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    path = tmp_path / "nba.db"
    db = await Database.open(path, clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    blocker = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        await blocker.execute("PRAGMA busy_timeout=0")
        store.add_game(game())
        await blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        await store._conn.execute("PRAGMA busy_timeout=0")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await store.flush()
        assert db.stats.errors == 1 and db.stats.pending == 2
        await blocker.execute("ROLLBACK")
        assert await store.flush() == 2
        assert await store.games_on("2026-06-13") == [game()]
    finally:
        await blocker.close()
        await db.close()


async def test_retention_prunes_old_games_with_their_scores_and_odds(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    db = await Database.open(tmp_path / "nba.db", clock=clock)
    store = await NbaStore.attach(db, clock=clock)
    try:
        old, new = 18_000_001, 18_000_002
        store.add_game(game(game_id=old))
        store.add_game(game(game_id=old, status=GameStatus.FINAL, home_score=9, ts_ms=T0 + 5))
        store.add_quote(quote(game_id=old))
        store.set_match("KXNBAGAME-26JUN13NYKSAS", "KXNBAGAME", old, None)
        await store.flush()
        day = 86_400_000
        clock.advance(day)
        store.add_game(game(game_id=new, date="2026-06-14", ts_ms=T0 + day))
        store.add_quote(quote(game_id=new, ts_ms=T0 + day))
        store.set_match("KXNBAGAME-26JUN14NYKSAS", "KXNBAGAME", new, None)
        await store.flush()

        assert await store.prune(T0 + day // 2) == 1
        assert await store.game(old) is None and await store.timeline(old) == []
        assert await store.odds(old) == [] and await store.game(new) is not None
        assert len(await store.timeline(new)) == 1 and len(await store.odds(new)) == 1
        assert [m.event_ticker for m in await store.matches()] == ["KXNBAGAME-26JUN14NYKSAS"]
        assert await store.prune(T0 + day // 2) == 0
        assert store.add_game(game(game_id=old))  # forgotten: a new sighting is stored again
    finally:
        await db.close()
