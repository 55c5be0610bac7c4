"""The paper desk's tables: every order (as it stands now), fill, position change, settlement,
risk event and equity point the desk emits, and the desk's last snapshot for a restart.

Writes never await: ``add`` turns the desk's records into rows of the database's one write batch,
so they are stored with the trades, in the same transactions; the snapshot is a map row (the
newest replaces any older one still waiting). Reads are bounded: each list query walks an index
newest first and stops at its limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from database import Database
from paper.records import (
    EquityPoint,
    Fill,
    FollowRequest,
    OrderUpdate,
    PositionChange,
    Record,
    RiskEvent,
    Settlement,
)
from storage.write_batch import statement

MAX_ROWS = 1_000  # the most rows one query returns

UPSERT_ORDER = """
    INSERT INTO paper_orders (order_id, account, ticker, side, action, price, count, remaining,
        filled, status, reason, created_ms, updated_ms, signal, version)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (order_id) DO UPDATE SET remaining = excluded.remaining,
        filled = excluded.filled, status = excluded.status, reason = excluded.reason,
        count = excluded.count, updated_ms = excluded.updated_ms
"""
INSERT_FILL = """
    INSERT OR IGNORE INTO paper_fills (fill_id, order_id, account, ticker, side, action, count,
        cost, fee, maker, expected_price, legs, ts_ms, version)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_POSITION = """
    INSERT INTO paper_positions (account, ticker, net, cost, realised, cash, ts_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?)
"""
INSERT_SETTLEMENT = """
    INSERT INTO paper_settlements (account, ticker, yes_value, net, payout, pnl, ts_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?)
"""
INSERT_RISK = """
    INSERT INTO paper_risk_events (kind, account, ticker, reason, detail, ts_ms)
    VALUES (?, ?, ?, ?, ?, ?)
"""
UPSERT_EQUITY = """
    INSERT OR REPLACE INTO paper_equity (account, ts_ms, cash, equity_mid, equity_exit, at_risk)
    VALUES (?, ?, ?, ?, ?, ?)
"""
UPSERT_STATE = "INSERT OR REPLACE INTO paper_state (id, ts_ms, body) VALUES (1, ?, ?)"
INSERT_VERSION = """
    INSERT OR REPLACE INTO strategy_versions (name, version, enabled, config, note, ts_ms)
    VALUES (?, ?, ?, ?, ?, ?)
"""

FILL_COLUMNS = (
    "fill_id, order_id, account, ticker, side, action, count, cost, fee, maker, expected_price, "
    "legs, ts_ms, version"
)
ORDER_COLUMNS = (
    "order_id, account, ticker, side, action, price, count, remaining, filled, status, reason, "
    "created_ms, updated_ms, signal, version"
)


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_ROWS))


class PaperStore:
    """The paper tables of the database's file, on its connection and its write batch."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn = db.conn
        batch = db.batch
        batch.add(
            lists=[
                ("paper_fills", statement(INSERT_FILL)),
                ("paper_positions", statement(INSERT_POSITION)),
                ("paper_settlements", statement(INSERT_SETTLEMENT)),
                ("paper_risk", statement(INSERT_RISK)),
                ("strategy_versions", statement(INSERT_VERSION)),
            ],
            maps=[
                ("paper_orders", statement(UPSERT_ORDER)),
                ("paper_equity", statement(UPSERT_EQUITY)),
                ("paper_state", statement(UPSERT_STATE)),
            ],
        )
        self._fills = batch.lists["paper_fills"]
        self._positions = batch.lists["paper_positions"]
        self._settlements = batch.lists["paper_settlements"]
        self._risk = batch.lists["paper_risk"]
        self._versions = batch.lists["strategy_versions"]
        self._orders = batch.maps["paper_orders"]
        self._equity = batch.maps["paper_equity"]
        self._state = batch.maps["paper_state"]
        self._created: dict[int, int] = {}  # order id -> when it was accepted (first record)

    # ---- writes: never await -------------------------------------------------------------

    def add(self, records: Iterable[Record]) -> None:
        for r in records:
            t = type(r)
            if t is OrderUpdate:
                assert isinstance(r, OrderUpdate)
                created = self._created.setdefault(r.order_id, r.ts_ms)
                self._orders[r.order_id] = (
                    r.order_id, r.account, r.ticker, str(r.side), str(r.action), r.price,
                    r.count, r.remaining, r.filled, str(r.kind), r.reason, created, r.ts_ms,
                    r.signal, r.version,
                )  # fmt: skip
                if r.remaining == 0 or r.kind in ("canceled", "executed"):
                    self._created.pop(r.order_id, None)
            elif t is Fill:
                assert isinstance(r, Fill)
                self._fills.append((
                    r.fill_id, r.order_id, r.account, r.ticker, str(r.side), str(r.action),
                    r.count, r.cost, r.fee, int(r.maker), r.expected_price,
                    orjson.dumps(r.legs).decode(), r.ts_ms, r.version,
                ))  # fmt: skip
            elif t is PositionChange:
                assert isinstance(r, PositionChange)
                self._positions.append((r.account, r.ticker, r.net, r.cost, r.realised, r.cash,
                                        r.ts_ms))  # fmt: skip
            elif t is Settlement:
                assert isinstance(r, Settlement)
                self._settlements.append((r.account, r.ticker, r.yes_value, r.net, r.payout,
                                          r.pnl, r.ts_ms))  # fmt: skip
            elif t is RiskEvent:
                assert isinstance(r, RiskEvent)
                self._risk.append((str(r.kind), r.account, r.ticker, r.reason, r.detail, r.ts_ms))
            elif t is EquityPoint:
                assert isinstance(r, EquityPoint)
                self._equity[(r.account, r.ts_ms)] = (r.account, r.ts_ms, r.cash, r.equity_mid,
                                                      r.equity_exit, r.at_risk)  # fmt: skip
            elif t is not FollowRequest:  # a request to the edge, not a record to keep
                raise TypeError(f"unknown paper record {r!r}")

    def add_version(self, name: str, version: int, enabled: bool, config: dict[str, Any],
                    note: str, ts_ms: int) -> None:  # fmt: skip
        """One new version of a strategy's config (and whether it runs), in the write batch."""
        self._versions.append((name, version, int(enabled), orjson.dumps(config).decode(), note,
                               ts_ms))  # fmt: skip

    def save_state(self, ts_ms: int, snapshot: dict[str, Any]) -> None:
        """The desk's state as of ``ts_ms``, written with the records that led to it."""
        self._state[1] = (ts_ms, orjson.dumps(snapshot).decode())

    # ---- reads ---------------------------------------------------------------------------

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows as of now: what the desk emitted is written first (a client that saw a fill on
        the stream finds it here)."""
        if (self._fills or self._positions or self._settlements or self._risk or self._orders
                or self._equity or self._versions):  # fmt: skip
            await self._db.flush()
        async with self._conn.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def load_state(self) -> dict[str, Any] | None:
        rows = await self._all("SELECT body FROM paper_state WHERE id = 1")
        if not rows:
            return None
        state: dict[str, Any] = orjson.loads(rows[0][0])
        return state

    async def versions(self, name: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        """Stored strategy versions, newest first (one strategy's, or every one's)."""
        sql = "SELECT name, version, enabled, config, note, ts_ms FROM strategy_versions"
        params: list[Any] = []
        if name is not None:
            sql += " WHERE name = ?"
            params.append(name)
        rows = await self._all(sql + " ORDER BY ts_ms DESC, version DESC LIMIT ?",
                               (*params, _limit(limit)))  # fmt: skip
        names = ("name", "version", "enabled", "config", "note", "ts_ms")
        out = []
        for r in rows:
            d = dict(zip(names, r, strict=True))
            d["enabled"] = bool(d["enabled"])
            d["config"] = orjson.loads(d["config"])
            out.append(d)
        return out

    async def latest_versions(self) -> dict[str, dict[str, Any]]:
        """Each strategy's newest stored version (its config as JSON), by name."""
        rows = await self._all(
            "SELECT name, version, enabled, config FROM strategy_versions AS v"
            " WHERE version = (SELECT MAX(version) FROM strategy_versions WHERE name = v.name)"
        )
        return {n: {"version": ver, "enabled": bool(e), "config": orjson.loads(c)}
                for n, ver, e, c in rows}  # fmt: skip

    async def _newest(
        self, columns: str, table: str, key: str, filters: dict[str, Any], limit: int
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` matching ``filters`` (column -> value; None: any), newest ``key``
        first, at most ``limit`` (capped), as dicts of ``columns``."""
        where = [(c, v) for c, v in filters.items() if v is not None]
        sql = f"SELECT {columns} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(f"{c} = ?" for c, _ in where)
        sql += f" ORDER BY {key} DESC LIMIT ?"
        rows = await self._all(sql, (*(v for _, v in where), _limit(limit)))
        names = [c.strip() for c in columns.split(",")]
        return [dict(zip(names, r, strict=True)) for r in rows]

    async def fills(
        self, *, account: str | None = None, ticker: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        out = await self._newest(FILL_COLUMNS, "paper_fills", "fill_id",
                                 {"account": account, "ticker": ticker}, limit)  # fmt: skip
        for d in out:
            d["maker"] = bool(d["maker"])
            d["liquidity"] = "maker" if d["maker"] else "taker"
            d["legs"] = orjson.loads(d["legs"])
        return out

    async def orders(
        self, *, status: str | None = None, account: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return await self._newest(ORDER_COLUMNS, "paper_orders", "order_id",
                                  {"status": status, "account": account}, limit)  # fmt: skip

    async def risk_events(self, *, limit: int = 100) -> list[dict[str, Any]]:
        return await self._newest("kind, account, ticker, reason, detail, ts_ms",
                                  "paper_risk_events", "id", {}, limit)  # fmt: skip

    async def equity(self, *, account: str, limit: int = 1_000) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT ts_ms, cash, equity_mid, equity_exit, at_risk FROM paper_equity"
            " WHERE account = ? ORDER BY ts_ms DESC LIMIT ?",
            (account, _limit(limit)),
        )
        names = ("ts_ms", "cash", "equity_mid", "equity_exit", "at_risk")
        return [dict(zip(names, r, strict=True)) for r in reversed(rows)]

    async def settlements(
        self, *, account: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        columns = "account, ticker, yes_value, net, payout, pnl, ts_ms"
        return await self._newest(columns, "paper_settlements", "id", {"account": account}, limit)
