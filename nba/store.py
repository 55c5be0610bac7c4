"""NBA storage: games, their score timeline, sportsbook odds and Kalshi event matches in SQLite.

Writes never await: ``add_*`` queue a row only when it differs from the last one stored for the
same key (so polling an unchanged game or quote writes nothing). The rows join the database's one
write batch, so the file's one writer stores them with the trades, in the same transactions.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clock import Clock
from database import Database
from models import GameState, GameStatus, OddsQuote
from storage.write_batch import statement

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
GAME_COLUMNS = (
    "game_id, date, home, away, home_score, away_score, status, period, seconds_left, "
    "start_ms, ts_ms, recv_ms"
)
ODDS_COLUMNS = (
    "game_id, vendor, market, home_odds, away_odds, line_tenths, over_odds, under_odds, "
    "ts_ms, recv_ms"
)
UPSERT_GAME = f"INSERT OR REPLACE INTO nba_games ({GAME_COLUMNS}) VALUES ({', '.join('?' * 12)})"
INSERT_SCORE = """
    INSERT OR IGNORE INTO nba_scores (game_id, home_score, away_score, status, period,
        seconds_left, ts_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?)
"""
INSERT_ODDS = f"INSERT INTO nba_odds ({ODDS_COLUMNS}) VALUES ({', '.join('?' * 10)})"
UPSERT_MATCH = """
    INSERT OR REPLACE INTO nba_matches (event_ticker, series_ticker, game_id, reason, updated_ms)
    VALUES (?, ?, ?, ?, ?)
"""


@dataclass(frozen=True, slots=True)
class ScorePoint:
    """One distinct state in a game's timeline."""

    ts_ms: int
    home_score: int
    away_score: int
    status: GameStatus
    period: int
    seconds_left: int


@dataclass(frozen=True, slots=True)
class MatchRow:
    event_ticker: str
    series_ticker: str
    game_id: int | None  # None: unmatched
    reason: str | None


def _game_key(g: GameState) -> tuple[object, ...]:
    return (g.date, g.home, g.away, g.home_score, g.away_score, str(g.status), g.period,
            g.seconds_left, g.start_ms)  # fmt: skip


def _odds_key(q: OddsQuote) -> tuple[object, ...]:
    return (q.home_odds, q.away_odds, q.line_tenths, q.over_odds, q.under_odds)


def _game(r: Any) -> GameState:
    return GameState(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5]), GameStatus(r[6]),
                     int(r[7]), int(r[8]), r[9], int(r[10]), int(r[11]))  # fmt: skip


def _quote(r: Any) -> OddsQuote:
    return OddsQuote(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8]), int(r[9]))


class NbaStore:
    """The NBA tables of the database's file, on its connection and its write batch."""

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._conn = db.conn
        self._clock = clock
        batch = db.batch
        batch.add(
            maps=[("games", statement(UPSERT_GAME)), ("matches", statement(UPSERT_MATCH))],
            lists=[("scores", statement(INSERT_SCORE)), ("odds", statement(INSERT_ODDS))],
        )
        self._games = batch.maps["games"]
        self._matches = batch.maps["matches"]
        self._scores = batch.lists["scores"]
        self._odds = batch.lists["odds"]
        self._last_game: dict[int, tuple[object, ...]] = {}
        self._last_odds: dict[tuple[int, str, str], tuple[object, ...]] = {}
        self._last_match: dict[str, tuple[int | None, str | None]] = {}
        self._lock = batch.lock

    @classmethod
    async def attach(cls, db: Database, *, clock: Clock) -> NbaStore:
        """The store on ``db``, with what was stored last per key loaded."""
        store = cls(db, clock=clock)
        await store._load_last()
        return store

    async def _load_last(self) -> None:
        """What was stored last per key, so a restart does not store unchanged rows again."""
        since = self._clock.now_ms() - 3 * DAY_MS
        for r in await self._all(f"SELECT {GAME_COLUMNS} FROM nba_games WHERE ts_ms >= ?",
                                 (since,)):  # fmt: skip
            g = _game(r)
            self._last_game[g.game_id] = _game_key(g)
        rows = await self._all(
            f"SELECT {ODDS_COLUMNS} FROM nba_odds WHERE id IN (SELECT MAX(id) FROM nba_odds"
            " WHERE ts_ms >= ? GROUP BY game_id, vendor, market)",
            (since,),
        )
        for r in rows:
            q = _quote(r)
            self._last_odds[(q.game_id, q.vendor, q.market)] = _odds_key(q)
        for m in await self.matches():
            self._last_match[m.event_ticker] = (m.game_id, m.reason)

    # ---- writes: never await -------------------------------------------------------------

    def add_game(self, g: GameState) -> bool:
        """Queue the game's state if it changed; True when queued."""
        key = _game_key(g)
        if self._last_game.get(g.game_id) == key:
            return False
        self._last_game[g.game_id] = key
        self._games[g.game_id] = (g.game_id, g.date, g.home, g.away, g.home_score, g.away_score,
                                  str(g.status), g.period, g.seconds_left, g.start_ms, g.ts_ms,
                                  g.recv_ms)  # fmt: skip
        self._scores.append((g.game_id, g.home_score, g.away_score, str(g.status), g.period,
                             g.seconds_left, g.ts_ms))  # fmt: skip
        self._queued()
        return True

    def add_quote(self, q: OddsQuote) -> bool:
        """Queue a sportsbook quote if its odds or line changed; True when queued."""
        k, key = (q.game_id, q.vendor, q.market), _odds_key(q)
        if self._last_odds.get(k) == key:
            return False
        self._last_odds[k] = key
        row = (q.game_id, q.vendor, q.market, q.home_odds, q.away_odds, q.line_tenths,
               q.over_odds, q.under_odds, q.ts_ms, q.recv_ms)  # fmt: skip
        self._odds.append(row)
        self._queued()
        return True

    def set_match(
        self, event_ticker: str, series_ticker: str, game_id: int | None, reason: str | None
    ) -> bool:
        if self._last_match.get(event_ticker) == (game_id, reason):
            return False
        self._last_match[event_ticker] = (game_id, reason)
        self._matches[event_ticker] = (event_ticker, series_ticker, game_id, reason,
                                       self._clock.now_ms())  # fmt: skip
        self._queued()
        return True

    def _queued(self) -> None:
        self._db.queued(1)

    async def flush(self) -> int:
        """The database's flush: everything pending, the trades included, in one transaction."""
        return await self._db.flush()

    async def prune(self, older_than_ms: int) -> int:
        """Delete the games last updated before the cutoff with their score timelines and odds,
        and matches not updated since; returns the games deleted."""
        old = "SELECT game_id FROM nba_games WHERE ts_ms < ?"
        async with self._lock:
            conn = self._conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                gone = [r[0] for r in await self._all(old, (older_than_ms,))]
                for table in ("nba_scores", "nba_odds"):
                    await conn.execute(f"DELETE FROM {table} WHERE game_id IN ({old})",
                                       (older_than_ms,))  # fmt: skip
                await conn.execute("DELETE FROM nba_games WHERE ts_ms < ?", (older_than_ms,))
                await conn.execute("DELETE FROM nba_matches WHERE updated_ms < ?", (older_than_ms,))
                await conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise
        for game_id in gone:
            self._last_game.pop(game_id, None)
        for key in [k for k in self._last_odds if k[0] in set(gone)]:
            del self._last_odds[key]
        return len(gone)

    # ---- reads ---------------------------------------------------------------------------

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self._conn.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def games_on(self, date: str) -> list[GameState]:
        rows = await self._all(
            f"SELECT {GAME_COLUMNS} FROM nba_games WHERE date = ? ORDER BY start_ms, game_id",
            (date,),
        )
        return [_game(r) for r in rows]

    async def game(self, game_id: int) -> GameState | None:
        rows = await self._all(f"SELECT {GAME_COLUMNS} FROM nba_games WHERE game_id = ?",
                               (game_id,))  # fmt: skip
        return _game(rows[0]) if rows else None

    async def timeline(self, game_id: int) -> list[ScorePoint]:
        """The game's distinct states, oldest first."""
        rows = await self._all(
            "SELECT ts_ms, home_score, away_score, status, period, seconds_left FROM nba_scores"
            " WHERE game_id = ? ORDER BY ts_ms, id",
            (game_id,),
        )
        return [ScorePoint(int(r[0]), int(r[1]), int(r[2]), GameStatus(r[3]), int(r[4]),
                           int(r[5])) for r in rows]  # fmt: skip

    async def odds(self, game_id: int, *, limit: int = 1000) -> list[OddsQuote]:
        """Stored quotes of a game, oldest first (the newest ``limit``)."""
        rows = await self._all(
            f"SELECT {ODDS_COLUMNS} FROM (SELECT * FROM nba_odds WHERE game_id = ?"
            " ORDER BY ts_ms DESC, id DESC LIMIT ?) ORDER BY ts_ms, id",
            (game_id, limit),
        )
        return [_quote(r) for r in rows]

    async def latest_odds(self, game_ids: Iterable[int]) -> list[OddsQuote]:
        """The newest quote per (game, vendor, market) for the given games."""
        ids = list(dict.fromkeys(game_ids))
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = await self._all(
            f"SELECT {ODDS_COLUMNS} FROM nba_odds WHERE id IN (SELECT MAX(id) FROM nba_odds"
            f" WHERE game_id IN ({marks}) GROUP BY game_id, vendor, market)"
            " ORDER BY game_id, vendor, market",
            ids,
        )
        return [_quote(r) for r in rows]

    async def matches(self, game_id: int | None = None) -> list[MatchRow]:
        sql = "SELECT event_ticker, series_ticker, game_id, reason FROM nba_matches"
        params: tuple[Any, ...] = ()
        if game_id is not None:
            sql += " WHERE game_id = ?"
            params = (game_id,)
        rows = await self._all(sql + " ORDER BY event_ticker", params)
        return [MatchRow(r[0], r[1], r[2], r[3]) for r in rows]

    async def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for table in ("nba_games", "nba_scores", "nba_odds", "nba_matches"):
            rows = await self._all(f"SELECT COUNT(*) FROM {table}")
            out[table] = int(rows[0][0])
        return out
