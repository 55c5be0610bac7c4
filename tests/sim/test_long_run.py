"""The simulated catalogue outlasts long runs: markets keep turning over, tickers stay unique."""

from __future__ import annotations

import random
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import pytest

from sim.catalogue import DAY_MS, MONTHS, date_code, generate_events
from sim.market_model import LifeEv, MarketModel, SimEvent, TradeEv

START = 1_780_000_000_000
DEADLINE_S = 30.0

_DATE = rf"\d\d(?:{'|'.join(MONTHS)})(?:0[1-9]|[12]\d|3[01])"
_PAIR = rf"{_DATE}[A-Z]{{6}}"
SHAPES = {
    "KXNBAGAME": rf"KXNBAGAME-{_PAIR}-[A-Z]{{3}}",
    "KXNBASPREAD": rf"KXNBASPREAD-{_PAIR}-[A-Z]{{3}}\d+",
    "KXNBATOTAL": rf"KXNBATOTAL-{_PAIR}-\d+",
    "KXHIGHNY": rf"KXHIGHNY-{_DATE}-B\d+\.5",
    "KXBTC": rf"KXBTC-{_DATE}\d\d-B\d+",
    "KXCPI": rf"KXCPI-\d\d(?:{'|'.join(MONTHS)})-T\d\.\d",
    "KXFED": rf"KXFED-\d\d(?:{'|'.join(MONTHS)})-T\d\.\d\d",
    "KXAPPROVAL": rf"KXAPPROVAL-{_DATE}-T\d\d",
    "KXSENATE": r"KXSENATE-\d\d-[RD]",
}


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail with TimeoutError, instead of hanging, if the body is still running after
    ``seconds`` (the catalogue used to spin forever once its tickers ran out)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def first_window_dates() -> set[str]:
    """The days a catalogue that never moved on would name (its first week)."""
    return {date_code(START + DAY_MS * k) for k in range(7)}


def test_model_turns_over_millions_of_trades_without_running_out_of_tickers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """5,000,000 trades through ``MarketModel.step`` at full speed on a manual clock (2,000
    trades/s of simulated time), with a simulated night's catalogue (no NBA events of its own:
    the default ``make run``, whose catalogue used to run dry after ~181 events, ~650,000 trades).

    Only one trade in ``THIN`` is priced and booked; the others are counted and skipped. That is
    faithful for what this tests: the catalogue is consumed only by the lifecycle turnover, which
    ``step`` runs after every ``_next_life`` trade slots (drawn with mean ``LIFECYCLE_EVERY``)
    whatever the trades do, and a trade never touches the catalogue. So the 5,000,000 slots cause
    the turnovers (~3,300 lifecycle steps, ~1,300 new events) and catalogue draws that 5,000,000
    real trades cause, while the real trades, spread over the whole run, show the model keeps
    trading the markets it turns over. Full trades cost ~30 us each; this runs in ~2.5 s.

    Tickers are unique over the whole run, not just among live markets: the model keeps every
    market it ever made (``by_ticker``, ``events``, ``event_markets``, all served over REST), so a
    repeated ticker would shadow a finalized market or merge two events."""
    total, chunk, thin = 5_000_000, 50_000, 100
    model = MarketModel(seed=11, n_markets=300, start_ms=START, random_nba=False)
    real_trade = model._one_trade
    slots = 0

    def thinned(now_ms: int, out: list[SimEvent]) -> None:
        nonlocal slots
        slots += 1
        if slots % thin == 0:
            real_trade(now_ms, out)

    monkeypatch.setattr(model, "_one_trade", thinned)
    events_at_start = len(model.events)
    created = closed = 0
    now = START
    began = time.perf_counter()
    with deadline(DEADLINE_S):
        for _ in range(total // chunk):
            out = model.step(chunk, now)
            now += chunk // 2  # ms: 2,000 trades a second
            assert sum(isinstance(e, TradeEv) for e in out) == chunk // thin
            created += sum(isinstance(e, LifeEv) and e.event_type == "created" for e in out)
            closed += sum(isinstance(e, LifeEv) and e.event_type == "deactivated" for e in out)
            live = [m.ticker for m in model.markets if m.status == "active"]
            assert len(set(live)) == len(live)
    elapsed = time.perf_counter() - began

    assert slots == total
    assert len(model.history) == total // thin
    assert closed > 1_000 and created > 5_000  # turnover all along
    assert len(model.events) - events_at_start > 1_000  # the old catalogue held ~181 in all
    tickers = [m.ticker for m in model.markets]
    assert len(set(tickers)) == len(tickers) == len(model.by_ticker)
    assert sum(len(ms) for ms in model.event_markets.values()) == len(tickers)
    for et, ms in model.event_markets.items():
        assert all(m.event_ticker == et and m.ticker.startswith(f"{et}-") for m in ms)
    for m in model.markets:
        assert re.fullmatch(SHAPES[m.series_ticker], m.ticker), m.ticker
    # the dates moved on past the first week as the markets turned over
    later = {t for t in model.events if t.startswith("KXHIGHNY-")}
    assert later - {f"KXHIGHNY-{d}" for d in first_window_dates()}
    assert model.history.row(len(model.history) - 1).ts_ms == now - chunk // 2
    assert elapsed < DEADLINE_S


@pytest.mark.parametrize(("nba", "count"), [(False, 3_000), (True, 20_000)])
def test_catalogue_stream_never_runs_dry_or_repeats(nba: bool, count: int) -> None:
    """Well past what the first week's ticker space holds (~181 events without NBA games,
    ~18,450 with them), every event is new, Kalshi-shaped and the same for the same seed."""
    with deadline(DEADLINE_S):
        a = generate_events(random.Random(5), START, nba=nba)
        b = generate_events(random.Random(5), START, nba=nba)
        stream = [next(a) for _ in range(count)]
        again = [next(b)[0].event_ticker for _ in range(count)]
    events = [ev.event_ticker for ev, _ in stream]
    assert events == again
    assert len(set(events)) == count
    tickers = [d.ticker for _, defs in stream for d in defs]
    assert len(set(tickers)) == len(tickers)
    for ev, defs in stream:
        assert defs and all(d.ticker.startswith(f"{ev.event_ticker}-") for d in defs)
        for d in defs:
            assert re.fullmatch(SHAPES[ev.series_ticker], d.ticker), d.ticker
    assert {ev.series_ticker for ev, _ in stream} >= {"KXHIGHNY", "KXBTC", "KXAPPROVAL"}
    dates = {t.split("-")[1] for t in events if t.startswith("KXHIGHNY-")}
    assert dates - first_window_dates()  # the window moved on
