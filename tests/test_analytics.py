from __future__ import annotations

import random
from collections import defaultdict

import pytest

from analytics import Analytics, AnalyticsView, Bucket
from models import Side, Trade

H0 = 1_767_225_600_000  # an hour boundary
MIN = 60_000
HOUR = 3_600_000
_ids = iter(range(10**9))


def trade(
    ticker: str, ts: int, price: int = 5000, count: int = 100, side: Side = Side.YES
) -> Trade:
    return Trade(f"t{next(_ids)}", ticker, price, count, side, ts, ts)


def test_hour_view_is_sixty_buckets_oldest_first_zero_filled() -> None:
    an = Analytics()
    an.add_trade(trade("A", H0 + 5 * MIN + 1, price=4000, count=300, side=Side.NO))
    view = an.view("hour", H0 + 5 * MIN + 30_000)
    assert view.mode == "hour" and view.bucket_ms == MIN
    assert len(view.buckets) == 60
    assert view.buckets[-1] == Bucket(H0 + 5 * MIN, 300, 6000 * 300, 1, 0, 300, 0, 6000 * 300, 1)
    assert view.buckets[0].start_ms == H0 + 5 * MIN - 59 * MIN
    assert all(b.trades == 0 and b.markets == 0 for b in view.buckets[:-1])
    assert (view.total_volume, view.total_trades, view.active_markets) == (300, 1, 1)
    assert view.yes_share_bp == 0


def test_minute_rollover_and_eviction() -> None:
    an = Analytics()
    an.add_trade(trade("A", H0 + MIN - 1, count=10))
    an.add_trade(trade("B", H0 + MIN, count=20))
    view = an.view("hour", H0 + MIN)
    assert [b.volume for b in view.buckets[-2:]] == [10, 20]
    assert view.active_markets == 2
    view = an.view("hour", H0 + 60 * MIN - 1)
    assert view.buckets[0].volume == 10 and view.total_volume == 30
    view = an.view("hour", H0 + 60 * MIN)  # minute 0 left the hour view
    assert view.buckets[0].volume == 20 and view.total_volume == 20
    assert view.active_markets == 1
    view = an.view("hour", H0 + 61 * MIN)
    assert view.total_volume == 0 and view.active_markets == 0
    assert an.view("day", H0 + 61 * MIN).total_volume == 30


def test_day_view_hour_boundaries() -> None:
    an = Analytics()
    an.add_trade(trade("A", H0 + HOUR - 1, count=1))
    an.add_trade(trade("A", H0 + HOUR, count=2))
    an.add_trade(trade("B", H0 + HOUR + 5, count=4))
    view = an.view("day", H0 + HOUR)
    assert len(view.buckets) == 24 and view.bucket_ms == HOUR
    assert [(b.volume, b.markets) for b in view.buckets[-2:]] == [(1, 1), (6, 2)]
    assert view.active_markets == 2
    view = an.view("day", H0 + 24 * HOUR)
    assert view.total_volume == 6 and view.buckets[0].start_ms == H0 + HOUR
    assert view.active_markets == 2
    view = an.view("day", H0 + 25 * HOUR)
    assert view.total_volume == 0 and view.active_markets == 0


def test_summary_figures() -> None:
    an = Analytics()
    an.add_trade(trade("A", H0, count=100, side=Side.YES))
    an.add_trade(trade("B", H0 + MIN, count=201, side=Side.NO))
    an.add_trade(trade("C", H0 + 2 * MIN, count=201, side=Side.YES))
    view = an.view("hour", H0 + 2 * MIN)
    assert view.total_volume == 502
    assert view.peak_volume == 201 and view.peak_start_ms == H0 + MIN  # first of equal peaks
    assert view.avg_volume_per_bucket == 502 // 60
    assert view.yes_share_bp == 5996  # 301 / 502 of the volume
    assert view.active_markets == 3


def test_yes_share_rounds_half_up() -> None:
    an = Analytics()
    an.add_trade(trade("A", H0, count=1, side=Side.YES))
    an.add_trade(trade("A", H0, count=19_999, side=Side.NO))
    assert an.view("hour", H0).yes_share_bp == 1  # 0.5 bp rounds up


def test_late_and_too_old_trades() -> None:
    an = Analytics()
    an.add_trade(trade("A", H0 + 90 * MIN, count=1))
    an.add_trade(trade("B", H0 + 45 * MIN, count=2))  # late, inside the hour view
    an.add_trade(trade("C", H0 + 10 * MIN, count=4))  # too old for the hour view, fine for day
    hour = an.view("hour", H0 + 90 * MIN)
    assert hour.total_volume == 3 and hour.active_markets == 2
    assert an.view("day", H0 + 90 * MIN).total_volume == 7
    an.add_trade(trade("D", H0 - 23 * HOUR, count=8))  # too old for both
    assert an.ignored_old == 1
    assert an.view("day", H0 + 90 * MIN).active_markets == 3


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        Analytics().view("week", H0)


def test_big_numbers_stay_exact() -> None:
    an = Analytics()
    big = 987_654_321_987_654
    an.add_trade(trade("A", H0, price=9999, count=big))
    an.add_trade(trade("A", H0 + 1, price=9999, count=big + 1))
    view = an.view("day", H0)
    assert view.total_volume == 2 * big + 1
    assert view.total_notional == 9999 * (2 * big + 1)


def _reference(trades: list[Trade], mode: str, now: int) -> AnalyticsView:
    unit, n = (MIN, 60) if mode == "hour" else (HOUR, 24)
    cur = now // unit
    sums: dict[int, list[int]] = defaultdict(lambda: [0] * 7)
    names: dict[int, set[str]] = defaultdict(set)
    for t in trades:
        b = t.ts_ms // unit
        if cur - n < b <= cur:
            yes = t.taker_side is Side.YES
            s = sums[b]
            for i, v in enumerate(
                (t.count, t.notional, 1, t.count * yes, t.count * (not yes),
                 t.notional * yes, t.notional * (not yes))
            ):  # fmt: skip
                s[i] += v
            names[b].add(t.ticker)
    buckets = tuple(
        Bucket(b * unit, *sums[b][:7], len(names[b]))  # type: ignore[call-arg]
        for b in range(cur - n + 1, cur + 1)
    )
    vol = sum(b.volume for b in buckets)
    yes_vol = sum(b.yes_volume for b in buckets)
    peak = max(buckets, key=lambda b: b.volume)
    return AnalyticsView(
        mode=mode,
        bucket_ms=unit,
        buckets=buckets,
        total_volume=vol,
        total_notional=sum(b.notional for b in buckets),
        total_trades=sum(b.trades for b in buckets),
        peak_volume=peak.volume,
        peak_start_ms=peak.start_ms,
        avg_volume_per_bucket=vol // n,
        yes_share_bp=(yes_vol * 20_000 + vol) // (2 * vol) if vol else 0,
        active_markets=len(set().union(*names.values())),
    )


def test_matches_a_from_scratch_reference_and_restart_is_identical() -> None:
    rng = random.Random(11)
    trades: list[Trade] = []
    now = H0
    an = Analytics()
    for i in range(4000):
        now += rng.randrange(0, 60_000)
        ts = now - rng.randrange(0, 2 * HOUR) if rng.random() < 0.1 else now
        t = trade(f"M{rng.randrange(30)}", ts, rng.randrange(1, 10_000), rng.randrange(1, 5000),
                  rng.choice([Side.YES, Side.NO]))  # fmt: skip
        trades.append(t)
        an.add_trade(t)
        if i % 400 == 0:
            latest = max(x.ts_ms for x in trades)
            for mode in ("hour", "day"):
                assert an.view(mode, latest) == _reference(trades, mode, latest)
    fresh = Analytics()
    for t in sorted(trades, key=lambda t: t.ts_ms):
        fresh.add_trade(t)
    end = max(t.ts_ms for t in trades) + 30 * MIN
    for mode in ("hour", "day"):
        assert fresh.view(mode, end) == an.view(mode, end) == _reference(trades, mode, end)


def test_market_ids_are_recycled_after_a_day() -> None:
    an = Analytics()
    an.add_trade(trade("A", H0))
    an.add_trade(trade("B", H0 + 1))
    an.advance(H0 + 25 * HOUR)
    an.add_trade(trade("C", H0 + 25 * HOUR))
    an.add_trade(trade("A", H0 + 25 * HOUR + 1))
    day = an.view("day", H0 + 25 * HOUR + 1)
    assert day.active_markets == 2
    assert day.buckets[-1].markets == 2
    an.advance(H0 + 26 * HOUR + 1)
    an.add_trade(trade("B", H0 + 26 * HOUR + 2))
    hour = an.view("hour", H0 + 26 * HOUR + 2)
    assert (hour.active_markets, hour.buckets[-1].markets) == (1, 1)
    assert an.view("day", H0 + 26 * HOUR + 2).active_markets == 3


def _state(an: Analytics) -> tuple[object, ...]:
    """Everything the analytics hold: each ring's buckets, bitmaps and counts, the market ids."""
    rings = [(r.keys, r.sums, r.maps, r.distinct, r.refs, r.active, r.zeroed, r.current)
             for r in an._rings.values()]  # fmt: skip
    return (an._now, rings, an._ids, an._names, an._free, an.ignored_old)


@pytest.mark.parametrize("seed", range(8))
def test_a_batch_adds_up_exactly_as_its_trades_one_by_one(seed: int) -> None:
    """Batches of every length across minute and hour boundaries, with late and too-old
    trades, ids recycled after a day and hundreds of markets (bitmaps of several bytes)."""
    rng = random.Random(seed)
    tickers = [f"M{i}" for i in range(rng.choice([2, 50, 700]))]
    trades: list[Trade] = []
    now = H0
    while len(trades) < 6_000:
        # silences of up to 20 h: a longer one leaves day buckets behind (see _add_minute)
        # whose drop, late, frees ids still in use (as one by one: a flaw of its own)
        now += rng.choice(
            [
                rng.randrange(0, 2_000),
                rng.randrange(0, 3 * MIN),
                rng.randrange(MIN, 3 * HOUR),
                rng.randrange(HOUR, 20 * HOUR),
            ]
        )
        for _ in range(rng.choice([1, 5, 70, 300])):
            ts = now + rng.randrange(0, 900)
            if rng.random() < 0.15:
                ts -= rng.randrange(0, 26 * HOUR)
            trades.append(
                trade(
                    rng.choice(tickers),
                    ts,
                    rng.randrange(1, 10_000),
                    rng.randrange(1, 5_000),
                    rng.choice([Side.YES, Side.NO]),
                )
            )
    one, batched = Analytics(), Analytics()
    i = 0
    holders: dict[int, set[str]] = defaultdict(set)  # the markets each id has been given to
    while i < len(trades):
        batch = trades[i : i + rng.choice([1, 2, 63, 64, 65, 500, 2_000])]
        i += len(batch)
        for t in batch:
            one.add_trade(t)
        batched.add_trades(batch)
        assert _state(batched) == _state(one)
        for ticker, market in batched._ids.items():
            holders[market].add(ticker)
    end = one._now + 30 * MIN
    for mode in ("hour", "day"):
        assert batched.view(mode, end) == one.view(mode, end)
    recycled = any(len(names) > 1 for names in holders.values())
    assert one.ignored_old > 0 and (recycled or len(tickers) == 2)  # the cases went through
