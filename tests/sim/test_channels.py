"""The simulator's ticker and lifecycle channels, read by the real client over loopback."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from models import LifecycleEvent, LifecycleKind, TickerUpdate, Trade
from tests.kalshi.test_client_vs_sim import key, running, sim  # noqa: F401 - fixtures


async def test_ticker_updates_follow_trades_and_books(
    sim: Any,
    key: rsa.RSAPrivateKey,
) -> None:
    async with running(sim, key, ticker_channel=True) as run:
        ids = set(await sim.emit_trades(400))
        await run.until(lambda: set(run.trades) >= ids)
        last: dict[str, Trade] = {}
        for t in run.of(Trade):
            last[t.ticker] = t
        tickers = run.of(TickerUpdate)
        assert tickers, "no ticker channel messages"
        latest: dict[str, TickerUpdate] = {}
        for u in tickers:
            latest[u.ticker] = u
        for name, u in latest.items():
            assert u.price == last[name].yes_price
            if u.yes_bid is not None and u.yes_ask is not None:
                assert 0 < u.yes_bid < u.yes_ask < 10_000
            assert u.volume is not None and u.volume > 0


async def test_lifecycle_closes_and_opens_markets(
    sim: Any,
    key: rsa.RSAPrivateKey,
) -> None:
    async with running(sim, key) as run:
        ids = set(await sim.emit_trades(3_000))
        await run.until(lambda: set(run.trades) >= ids, limit_s=20)
        events = run.of(LifecycleEvent)
        kinds = [e.kind for e in events]
        assert LifecycleKind.DEACTIVATED in kinds and LifecycleKind.CLOSE_DATE_UPDATED in kinds
        closed = {e.ticker: e.ts_ms for e in events if e.kind is LifecycleKind.DEACTIVATED}
        for t in run.of(Trade):  # nothing trades after its market closed
            assert t.ticker not in closed or t.ts_ms <= closed[t.ticker]
        created = [e for e in events if e.kind is LifecycleKind.CREATED]
        assert created, "new markets are announced as they open"
