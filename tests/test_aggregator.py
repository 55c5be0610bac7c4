from __future__ import annotations

import random
from collections import defaultdict

import pytest

from aggregator import HOUR_MS, MINUTE_MS, WINDOWS, Aggregator, MarketWindow
from models import Side, Trade
from windows import TradeColumns

H0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, an hour boundary
_ids = iter(range(10**9))


def trade(
    ticker: str,
    ts: int,
    price: int = 5000,
    count: int = 100,
    side: Side = Side.YES,
    trade_id: str | None = None,
) -> Trade:
    return Trade(trade_id or f"t{next(_ids)}", ticker, price, count, side, ts, ts)


def feed(agg: Aggregator, *trades: Trade) -> None:
    for t in trades:
        agg.add_trade(t)


def vol(agg: Aggregator, ticker: str, window: str) -> int:
    mw = agg.market(ticker, window)
    assert mw is not None
    return mw.volume


def test_minute_rollover_keeps_current_minute_only_in_1m() -> None:
    agg = Aggregator()
    feed(agg, trade("A", H0 + 59_999, count=100), trade("A", H0 + 60_000, count=200))
    assert vol(agg, "A", "1m") == 200
    assert vol(agg, "A", "5m") == 300
    agg.advance(H0 + 119_999)
    assert vol(agg, "A", "1m") == 200
    agg.advance(H0 + 120_000)
    assert vol(agg, "A", "1m") == 0
    assert vol(agg, "A", "5m") == 300
    assert agg.hot("1m") == []
    assert [m.ticker for m in agg.hot("5m")] == ["A"]


def test_windows_evict_at_their_boundaries() -> None:
    agg = Aggregator()
    feed(agg, trade("A", H0 + 30_000, count=7))  # minute 0 of hour 0
    agg.advance(H0 + 5 * MINUTE_MS - 1)
    assert vol(agg, "A", "5m") == 7
    agg.advance(H0 + 5 * MINUTE_MS)
    assert vol(agg, "A", "5m") == 0
    assert vol(agg, "A", "15m") == 7
    agg.advance(H0 + 15 * MINUTE_MS)
    assert vol(agg, "A", "15m") == 0
    agg.advance(H0 + HOUR_MS - 1)
    assert vol(agg, "A", "1h") == 7
    agg.advance(H0 + HOUR_MS)
    assert vol(agg, "A", "1h") == 0
    assert vol(agg, "A", "24h") == 7
    agg.advance(H0 + 24 * HOUR_MS - 1)
    assert vol(agg, "A", "24h") == 7
    assert agg.market_count() == 1
    agg.advance(H0 + 24 * HOUR_MS)
    assert agg.market("A", "24h") is None
    assert agg.market_count() == 0
    assert agg.sparkline("A") == []


def test_hour_rollover_for_24h_uses_hour_buckets() -> None:
    agg = Aggregator()
    feed(agg, trade("A", H0 + HOUR_MS - 1, count=1), trade("A", H0 + HOUR_MS, count=10))
    agg.advance(H0 + 24 * HOUR_MS + HOUR_MS - 1)
    assert vol(agg, "A", "24h") == 10  # the first hour left, the second is the oldest kept
    agg.advance(H0 + 25 * HOUR_MS)
    assert agg.market_count() == 0


def test_a_freed_row_is_reused_cleanly() -> None:
    agg = Aggregator()
    feed(agg, trade("A", H0, count=5))
    agg.advance(H0 + 25 * HOUR_MS)
    feed(agg, trade("B", H0 + 25 * HOUR_MS, count=3))
    assert agg.market_count() == 1
    assert vol(agg, "B", "24h") == 3
    assert vol(agg, "B", "1m") == 3
    assert agg.sparkline("B") == [5000] * 60


def test_figures_flow_and_vwap_half_up() -> None:
    agg = Aggregator()
    feed(
        agg,
        trade("A", H0 + 1, price=5000, count=100, side=Side.YES),
        trade("A", H0 + 2, price=5001, count=100, side=Side.NO),
    )
    mw = agg.market("A", "1m")
    assert mw == MarketWindow(
        ticker="A",
        window="1m",
        volume=200,
        notional=5000 * 100 + 4999 * 100,
        trades=2,
        yes_volume=100,
        no_volume=100,
        yes_notional=500_000,
        no_notional=499_900,
        net_flow=100,
        vwap=5001,  # 5000.5 rounds up
        last_price=5001,
        first_price=5000,
        last_ts_ms=H0 + 2,
    )


def test_empty_minutes_carry_the_price_forward_in_the_sparkline() -> None:
    agg = Aggregator()
    feed(agg, trade("A", H0 + 10 * MINUTE_MS, price=4000), trade("A", H0 + 12 * MINUTE_MS, 4200))
    agg.advance(H0 + 59 * MINUTE_MS)
    spark = agg.sparkline("A")
    assert len(spark) == 60
    assert spark[:10] == [4000] * 10  # before the first trade: its price
    assert spark[10:12] == [4000, 4000]
    assert spark[12:] == [4200] * 48
    agg.advance(H0 + 70 * MINUTE_MS)  # both trades are now older than the minute ring
    assert agg.sparkline("A") == [4200] * 60


def test_sparkline_starts_from_an_earlier_hour_price() -> None:
    agg = Aggregator()
    feed(agg, trade("A", H0 + 5 * MINUTE_MS, price=3000))
    feed(agg, trade("A", H0 + 2 * HOUR_MS + 30 * MINUTE_MS, price=3500))
    spark = agg.sparkline("A")
    assert spark[:59] == [3000] * 59
    assert spark[59] == 3500


def test_ranking_ties_break_by_ticker_and_limit() -> None:
    agg = Aggregator()
    for ticker in ("D", "B", "C", "A"):
        feed(agg, trade(ticker, H0, count=100))
    feed(agg, trade("E", H0, count=50), trade("E", H0 + 1, count=50), trade("E", H0 + 2, count=1))
    assert [m.ticker for m in agg.hot("1m")] == ["E", "A", "B", "C", "D"]
    assert [m.ticker for m in agg.hot("1m", limit=2)] == ["E", "A"]
    assert [m.ticker for m in agg.hot("1m", limit=3, by="trades")] == ["E", "A", "B"]
    feed(agg, trade("Z", H0 + 3, price=9000, count=100))
    assert agg.hot("1h", limit=1, by="notional")[0].ticker == "Z"
    with pytest.raises(ValueError, match="window"):
        agg.hot("2m")
    with pytest.raises(ValueError, match="ranking"):
        agg.hot("1m", by="price")


def test_late_trade_lands_in_its_bucket() -> None:
    agg = Aggregator()
    feed(agg, trade("A", H0 + 3 * MINUTE_MS + 5, price=6000, count=10))
    feed(agg, trade("A", H0 + MINUTE_MS, price=5500, count=20))  # two minutes late
    assert vol(agg, "A", "1m") == 10
    five = agg.market("A", "5m")
    assert five is not None
    assert (five.volume, five.first_price, five.last_price) == (30, 5500, 6000)
    assert five.last_ts_ms == H0 + 3 * MINUTE_MS + 5
    agg.advance(H0 + 6 * MINUTE_MS)  # minute 1 leaves the 5m window, minute 3 stays
    assert vol(agg, "A", "5m") == 10
    feed(agg, trade("A", H0 - 23 * HOUR_MS, count=1))  # late but within the 24h window
    assert vol(agg, "A", "24h") == 31
    assert vol(agg, "A", "1h") == 30
    feed(agg, trade("A", H0 - 24 * HOUR_MS, count=1))  # older than the 24h window
    assert vol(agg, "A", "24h") == 31
    assert agg.ignored_old == 1


def test_big_numbers_stay_exact() -> None:
    agg = Aggregator()
    big = 123_456_789_012_345  # hundredths of a contract
    feed(
        agg,
        trade("A", H0, price=9999, count=big, side=Side.YES),
        trade("A", H0 + 1, price=1, count=big + 1, side=Side.NO),
    )
    mw = agg.market("A", "1h")
    assert mw is not None
    assert mw.volume == 2 * big + 1
    assert mw.notional == 9999 * big + 9999 * (big + 1)
    assert mw.net_flow == 9999 * big - 9999 * (big + 1)
    assert mw.vwap == (2 * (9999 * big + big + 1) + mw.volume) // (2 * mw.volume)


def test_large_trades_newest_first_and_bounded() -> None:
    agg = Aggregator(large_trade_min_notional=1_000_000, large_trades_kept=3)
    feed(agg, trade("A", H0 + 5, price=5000, count=199))  # 995_000: too small
    bigs = [trade("A", H0 + i, price=5000, count=200) for i in (10, 30, 20, 40)]
    feed(agg, *bigs)
    assert [t.ts_ms for t in agg.large_trades()] == [H0 + 40, H0 + 30, H0 + 20]
    assert [t.ts_ms for t in agg.large_trades(limit=1)] == [H0 + 40]


def _reference(trades: list[Trade], now: int) -> dict[tuple[str, str], tuple[int, ...]]:
    """Every market's windows computed from scratch."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 6 + [-1, -1])
    for t in trades:
        for name, span in WINDOWS.items():
            unit = HOUR_MS if name == "24h" else MINUTE_MS
            n = span // unit
            if not now // unit - n < t.ts_ms // unit <= now // unit:
                continue
            r = out[(t.ticker, name)]
            yes = t.taker_side is Side.YES
            r[0] += t.count
            r[1] += t.notional
            r[2] += 1
            r[3] += t.count if yes else 0
            r[4] += t.notional if yes else 0
            r[5] += t.yes_price * t.count
            key = t.ts_ms * 16384 + t.yes_price
            r[6] = key if r[6] < 0 else min(r[6], key)
            r[7] = max(r[7], key)
    return {k: tuple(v) for k, v in out.items()}


def _observed(agg: Aggregator, tickers: set[str]) -> dict[tuple[str, str], tuple[int, ...]]:
    out: dict[tuple[str, str], tuple[int, ...]] = {}
    for ticker in tickers:
        for name in WINDOWS:
            mw = agg.market(ticker, name)
            if mw is None or mw.trades == 0:
                continue
            assert mw.vwap is not None
            assert mw.first_price is not None and mw.last_price is not None
            assert mw.no_volume == mw.volume - mw.yes_volume
            assert mw.net_flow == mw.yes_notional - mw.no_notional
            out[(ticker, name)] = (
                mw.volume,
                mw.notional,
                mw.trades,
                mw.yes_volume,
                mw.yes_notional,
                mw.vwap,
                mw.first_price,
                mw.last_price,
            )
    return out


def test_matches_a_from_scratch_reference_and_restart_is_identical() -> None:
    rng = random.Random(7)
    tickers = [f"M{i}" for i in range(12)]
    trades: list[Trade] = []
    now = H0
    for _ in range(3000):
        now += rng.randrange(0, 90_000)
        late = rng.random() < 0.1
        ts = now - rng.randrange(0, 3 * HOUR_MS) if late else now
        trades.append(
            trade(rng.choice(tickers), ts, rng.randrange(1, 10_000), rng.randrange(1, 10_000),
                  rng.choice([Side.YES, Side.NO]))
        )  # fmt: skip
    agg = Aggregator()
    checkpoints = set(range(0, len(trades), 250))
    for i, t in enumerate(trades):
        agg.add_trade(t)
        if i in checkpoints:
            now_ms = max(x.ts_ms for x in trades[: i + 1])
            _compare(agg, trades[: i + 1], now_ms, set(tickers))
    end = max(t.ts_ms for t in trades) + 20 * MINUTE_MS
    agg.advance(end)
    _compare(agg, trades, end, set(tickers))

    # warm restart: the same trades fed in time order to a fresh instance
    fresh = Aggregator()
    for t in sorted(trades, key=lambda t: t.ts_ms):
        fresh.add_trade(t)
    fresh.advance(end)
    for name in WINDOWS:
        assert fresh.hot(name, 100) == agg.hot(name, 100)
    for ticker in tickers:
        assert fresh.sparkline(ticker) == agg.sparkline(ticker)


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_reference_across_silences_of_minutes_hours_and_days(seed: int) -> None:
    """Quiet spells of every length move buckets across several bands in one roll (and past
    the minute ring's length), with late trades landing in every band."""
    rng = random.Random(seed)
    tickers = [f"Q{i}" for i in range(6)]
    trades: list[Trade] = []
    agg = Aggregator()
    now = H0
    for i in range(600):
        now += rng.choice(
            [rng.randrange(0, 30_000), rng.randrange(MINUTE_MS, 70 * MINUTE_MS),
             rng.randrange(HOUR_MS, 30 * HOUR_MS), 59 * MINUTE_MS, 60 * MINUTE_MS]
        )  # fmt: skip
        late = rng.random() < 0.3
        ts = now - rng.randrange(0, 26 * HOUR_MS) if late else now
        t = trade(rng.choice(tickers), ts, rng.randrange(1, 10_000), rng.randrange(1, 10_000),
                  rng.choice([Side.YES, Side.NO]))  # fmt: skip
        trades.append(t)
        agg.add_trade(t)
        if i % 40 == 0:
            _compare(agg, trades, max(x.ts_ms for x in trades), set(tickers))
        if i % 97 == 0:
            now += rng.randrange(0, 3 * HOUR_MS)
            agg.advance(now)
            _compare(agg, trades, now, set(tickers))


def _compare(agg: Aggregator, trades: list[Trade], now: int, tickers: set[str]) -> None:
    ref = _reference(trades, now)
    expected = {
        k: (*v[:5], (2 * v[5] + v[0]) // (2 * v[0]), v[6] % 16384, v[7] % 16384)
        for k, v in ref.items()
    }
    assert _observed(agg, tickers) == expected
    for name in WINDOWS:
        ranked = sorted(((-v[0], k[0]) for k, v in expected.items() if k[1] == name))
        assert [(-m.volume, m.ticker) for m in agg.hot(name, 100)] == ranked


def test_sparse_markets_stay_exact_minute_by_minute() -> None:
    rng = random.Random(5)
    trades = [
        trade(f"S{i % 5}", H0 + rng.randrange(0, 3 * HOUR_MS), rng.randrange(1, 10_000))
        for i in range(40)
    ]
    trades.sort(key=lambda t: t.ts_ms)
    agg = Aggregator()
    fed: list[Trade] = []
    pending = list(trades)
    for minute in range(0, 27 * 60, 7):
        now = H0 + minute * MINUTE_MS + 59_999
        while pending and pending[0].ts_ms <= now:
            fed.append(pending.pop(0))
            agg.add_trade(fed[-1])
        agg.advance(now)
        _compare(agg, fed, now, {f"S{i}" for i in range(5)})
    assert agg.market_count() == 0


def test_changed_at_moves_with_every_trade_of_that_market_only() -> None:
    agg = Aggregator()
    assert agg.changed_at("KXA") == -1
    feed(agg, trade("KXA", H0 + 65_000), trade("KXB", H0 + 66_000))
    a, b = agg.changed_at("KXA"), agg.changed_at("KXB")
    spark = agg.sparkline("KXA")
    feed(agg, trade("KXB", H0 + 67_000))
    assert agg.changed_at("KXA") == a and agg.changed_at("KXB") != b
    feed(agg, trade("KXA", H0 + 5_000, price=7_000))  # late, in an earlier minute
    assert agg.changed_at("KXA") != a
    assert agg.sparkline("KXA") != spark
    agg.advance(H0 + 25 * HOUR_MS)  # the market left the board
    assert agg.changed_at("KXA") == -1


def _state(agg: Aggregator) -> tuple[object, ...]:
    """Everything the aggregator holds: rings, sums, rows, expiry heap, stamps, large trades."""
    return (
        agg.now_ms,
        agg._index,
        agg._names,
        agg._free,
        agg._min.data,
        agg._hour.data,
        agg._sums.data,
        agg._meta,
        agg._heap,
        agg._adds,
        agg._large,
        agg.ignored_old,
    )


def _night(rng: random.Random, n: int, markets: int) -> list[Trade]:
    """Bursts of trades, most at the latest time, some late (a few older than a day), with
    silences of seconds to days between them."""
    tickers = [f"B{i}" for i in range(markets)]
    out: list[Trade] = []
    now = H0
    while len(out) < n:
        now += rng.choice([rng.randrange(0, 2_000), rng.randrange(0, 3 * MINUTE_MS),
                           rng.randrange(MINUTE_MS, 90 * MINUTE_MS),
                           rng.randrange(HOUR_MS, 30 * HOUR_MS)])  # fmt: skip
        for _ in range(rng.choice([1, 5, 70, 300])):
            ts = now + rng.randrange(0, 900)
            if rng.random() < 0.15:
                ts -= rng.randrange(0, 26 * HOUR_MS)
            count = rng.choice([rng.randrange(1, 10_000), 10**8])  # some large trades
            out.append(trade(rng.choice(tickers), ts, rng.randrange(1, 10_000), count,
                             rng.choice([Side.YES, Side.NO])))  # fmt: skip
    return out


@pytest.mark.parametrize("seed", range(8))
def test_a_batch_adds_up_exactly_as_its_trades_one_by_one(seed: int) -> None:
    """Batches of every length (short ones go one by one, long ones in array steps) across
    minute and hour boundaries, late and too-old trades, markets leaving and rows reused."""
    rng = random.Random(seed)
    trades = _night(rng, 6_000, rng.choice([3, 40, 400]))
    one, batched = Aggregator(large_trades_kept=50), Aggregator(large_trades_kept=50)
    i = 0
    released: list[int] = []  # rows of markets that left the board
    in_batches = 0  # of those, inside add_trades
    release = batched._release

    def counted(row: int) -> None:
        released.append(row)
        release(row)

    batched._release = counted  # type: ignore[method-assign]
    while i < len(trades):
        batch = trades[i : i + rng.choice([1, 2, 63, 64, 65, 500, 2_000])]
        i += len(batch)
        feed(one, *batch)
        before = len(released)
        batched.add_trades(batch)
        in_batches += len(released) - before
        assert _state(batched) == _state(one)
        if rng.random() < 0.2:
            later = one.now_ms + rng.randrange(0, 2 * HOUR_MS)
            one.advance(later)
            batched.advance(later)
    assert _state(batched) == _state(one)
    tickers = set(one._index)
    for name in WINDOWS:
        assert batched.hot(name, 100) == one.hot(name, 100)
    for ticker in tickers:
        assert batched.sparkline(ticker) == one.sparkline(ticker)
    assert batched.large_trades(50) == one.large_trades(50)
    assert one.ignored_old > 0 and in_batches > 0  # the batches went through those cases


def test_columns_of_batches_put_together_are_the_columns_of_the_whole() -> None:
    rng = random.Random(3)
    trades = _night(rng, 300, 20)
    whole = TradeColumns.of(trades)
    parts = TradeColumns.concat([TradeColumns.of(trades[:7]), TradeColumns.of(trades[7:150]),
                                 TradeColumns.of(trades[150:])])  # fmt: skip
    assert parts.keys == whole.keys == list(dict.fromkeys(t.ticker for t in trades))
    for name in ("market", "ts", "price", "count", "yes", "notional"):
        assert (getattr(parts, name) == getattr(whole, name)).all(), name
    assert [whole.keys[i] for i in whole.market.tolist()] == [t.ticker for t in trades]
