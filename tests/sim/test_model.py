"""The simulator's market model and history, without sockets."""

from __future__ import annotations

import re

import pytest

from sim.exchange import LIFECYCLE_MIN_GAP_S, SimExchange
from sim.history import TradeHistory
from sim.market_model import LIFECYCLE_EVERY, DeltaEv, LifeEv, MarketModel, TradeEv

START = 1_780_000_000_000


def test_same_seed_same_trades() -> None:
    a = MarketModel(seed=7, n_markets=200, start_ms=START)
    b = MarketModel(seed=7, n_markets=200, start_ms=START)
    c = MarketModel(seed=8, n_markets=200, start_ms=START)
    for m in (a, b, c):
        m.step(500, START)
        m.step(1500, START + 1000)
    rows = lambda m: [m.history.row(i) for i in range(len(m.history))]  # noqa: E731
    assert [m.ticker for m in a.markets] == [m.ticker for m in b.markets]
    assert rows(a) == rows(b)
    assert rows(a) != rows(c)


def test_catalogue_looks_like_kalshi() -> None:
    m = MarketModel(seed=1, n_markets=300, start_ms=START)
    assert len(m.markets) >= 300
    series = {x.series_ticker for x in m.markets}
    assert {"KXNBAGAME", "KXNBASPREAD", "KXNBATOTAL", "KXBTC"} <= series
    game = next(x for x in m.markets if x.series_ticker == "KXNBAGAME")
    assert re.fullmatch(r"KXNBAGAME-\d\d[A-Z]{3}\d\d[A-Z]{6}-[A-Z]{3}", game.ticker)
    spread = next(x for x in m.markets if x.series_ticker == "KXNBASPREAD")
    assert spread.floor_strike is not None and spread.floor_strike.endswith(".5")
    assert len({x.ticker for x in m.markets}) == len(m.markets)


def test_trades_consume_resting_size_and_books_never_cross() -> None:
    m = MarketModel(seed=3, n_markets=100, start_ms=START)
    books = {x.index: (dict(x.book_yes), dict(x.book_no)) for x in m.markets}
    events = m.step(5000, START)
    fractional = 0
    for ev in events:
        if isinstance(ev, DeltaEv):
            yes, no = books.setdefault(ev.market, ({}, {}))  # new markets: levels as deltas
            side = yes if ev.yes_side else no
            side[ev.price] = side.get(ev.price, 0) + ev.delta
            assert side[ev.price] >= 0
            if side[ev.price] == 0:
                del side[ev.price]
        elif isinstance(ev, TradeEv):
            r = m.history.row(ev.row)
            yes, no = books[r.market]
            # the taker hits the touch: a YES taker lifts the best NO bid, a NO taker the best YES
            if r.taker_yes:
                assert 10_000 - r.yes_price == max(no)
                assert r.count <= no[max(no)]
            else:
                assert r.yes_price == max(yes)
                assert r.count <= yes[max(yes)]
            fractional += r.count % 100 != 0
    assert fractional > 0
    for x in m.markets:
        assert books[x.index] == (x.book_yes, x.book_no)
        if x.book_yes and x.book_no:
            assert max(x.book_yes) + max(x.book_no) < 10_000


def test_lifecycle_closes_determines_and_settles() -> None:
    m = MarketModel(seed=5, n_markets=50, start_ms=START)
    m.step(60_000, START)
    statuses = {x.status for x in m.markets}
    assert {"active", "finalized"} <= statuses
    settled = [x for x in m.markets if x.status == "finalized"]
    assert all(x.result in ("yes", "no") for x in settled)
    assert not any(x.book_yes or x.book_no for x in settled)


def test_history_pages_newest_first_with_time_filters() -> None:
    h = TradeHistory(seed=1)
    for i in range(250):
        h.append(i % 3, 5000, 100, True, 1_000_000 + i * 100)
    ids, cur = h.query(market=None, min_ts_ms=None, max_ts_ms=None, limit=100, cursor=None)
    assert ids == list(range(249, 149, -1))
    seen = list(ids)
    while cur:
        ids, cur = h.query(market=None, min_ts_ms=None, max_ts_ms=None, limit=100, cursor=cur)
        seen += ids
    assert seen == list(range(249, -1, -1))
    ids, _ = h.query(
        market=1,
        min_ts_ms=1_000_000 + 10 * 100,
        max_ts_ms=1_000_000 + 20 * 100,
        limit=1000,
        cursor=None,
    )
    assert ids == [19, 16, 13, 10]
    assert len({h.trade_id(i) for i in range(250)}) == 250


def test_history_keeps_the_newest_trades_with_their_ids_and_cursors() -> None:
    h = TradeHistory(seed=1, keep=16)
    whole = TradeHistory(seed=1)  # keeps all: the same ids
    at = [1_000_000 + i * 100 for i in range(40)]
    for i in range(19):
        for t in (h, whole):
            t.append(i % 2, 5000, 100, True, at[i])
    assert h.trim() == 0  # three past keep: less than a quarter of it, not worth moving
    ids, cur = h.query(market=None, min_ts_ms=None, max_ts_ms=None, limit=4, cursor=None)
    assert ids == [18, 17, 16, 15] and h.trade_id(17) == whole.trade_id(17)
    for i in range(19, 40):
        h.append(i % 2, 5000, 100, True, at[i])
    assert h.trim() == 24 and (h.first, len(h)) == (24, 40)
    assert h.row(24).ts_ms == at[24] and h.row(39).trade_id == whole.trade_id(39)
    with pytest.raises(IndexError):
        h.row(23)
    # a cursor issued before the trim continues over what is still held: nothing, so it ends
    assert h.query(market=None, min_ts_ms=None, max_ts_ms=None, limit=4, cursor=cur) == ([], "")
    ids, cur = h.query(market=1, min_ts_ms=None, max_ts_ms=at[31], limit=3, cursor=None)
    assert ids == [31, 29, 27]
    assert h.query(market=1, min_ts_ms=None, max_ts_ms=None, limit=9, cursor=cur) == ([25], "")
    ids, _ = h.query(market=0, min_ts_ms=at[0], max_ts_ms=at[30], limit=99, cursor=None)
    assert ids == [30, 28, 26, 24]


def test_lifecycle_steps_come_every_so_many_trades() -> None:
    def listed(every: int) -> int:
        m = MarketModel(seed=5, n_markets=50, start_ms=START, lifecycle_every=every)
        out = m.step(30_000, START)
        return sum(isinstance(e, LifeEv) and e.event_type == "created" for e in out)

    assert listed(1_500) > 3 * listed(15_000)


def test_a_fast_exchange_turns_its_markets_over_on_a_calendar() -> None:
    slow = SimExchange(key_id="k", public_key_pem=b"", rate=50.0, require_auth=False)
    fast = SimExchange(key_id="k", public_key_pem=b"", rate=2_000.0, require_auth=False)
    assert slow._model._life_every == LIFECYCLE_EVERY  # the default rate: per trade, as ever
    assert fast._model._life_every == 2_000 * LIFECYCLE_MIN_GAP_S
