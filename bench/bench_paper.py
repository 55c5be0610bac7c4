"""The paper desk's cost per book event, with 1,000 resting orders over 100 markets.

`python -m bench.bench_paper [--events N] [--runs N]`

100 markets each hold ten resting paper orders (YES bids and NO bids inside their books, behind
the displayed size); a stream of deltas (with a trade every twentieth event, and its echo) moves
those books, nearly half of them at the orders' own levels, so the queue accounting runs. Another
100 followed markets with nothing open get the same stream: their events should cost no more
than the book update itself. Events are built before timing; each run replays them into a fresh
desk through ``Desk.on_event``, as the pipeline would.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

from bench.common import H0, median, report
from models import Action, BookDelta, BookSnapshot, Event, Side, Trade
from paper import Desk, DeskConfig, OrderRequest

MARKETS = 100
PER_MARKET = 10
GOAL = 200_000


@dataclass(frozen=True, slots=True)
class PaperBench:
    events: int
    resting: int
    busy_per_s: float  # events on markets with orders
    idle_per_s: float  # events on followed markets with nothing open
    fills: int


def tickers(prefix: str) -> list[str]:
    return [f"KX{prefix}-26JAN01-M{i:03d}" for i in range(MARKETS)]


def snapshots(names: list[str], ts: int) -> list[BookSnapshot]:
    # YES bids 0.30..0.40 and NO bids 0.50..0.60 (YES asks 0.40..0.50), 500 each level
    yes = tuple((p * 100, 50_000) for p in range(30, 41))
    no = tuple((p * 100, 50_000) for p in range(50, 61))
    return [BookSnapshot(t, yes, no, 1, 1, ts, ts) for t in names]


def stream(names: list[str], count: int, ts: int, seed: int) -> list[Event]:
    """Deltas that keep every level between 100 and 900 contracts, and every twentieth event a
    trade at the level (then its echo), all valid against the snapshots above. Trades below the
    best bid are not realistic books, but they are what the queue accounting must handle."""
    rng = random.Random(seed)
    sizes = {(t, s, p): 50_000 for t in names for s in Side for p in range(30, 61)}
    seq = dict.fromkeys(names, 1)
    out: list[Event] = []
    while len(out) < count:
        t = rng.choice(names)
        ts += 1
        side = rng.choice((Side.YES, Side.NO))
        cents = rng.randrange(30, 41) if side is Side.YES else rng.randrange(50, 61)
        key = (t, side, cents)
        if len(out) % 20 == 19:  # a trade at that level, then its echo
            qty = rng.randrange(1, 20) * 100
            yes_price = cents * 100 if side is Side.YES else 10_000 - cents * 100
            taker = Side.NO if side is Side.YES else Side.YES
            out.append(Trade(f"b{len(out)}", t, yes_price, qty, taker, ts, ts))
            change = -qty
        else:
            change = rng.randrange(-50, 51) * 100 or 100
        if not 10_000 <= sizes[key] + change <= 90_000:
            change = -change
        sizes[key] += change
        seq[t] += 1
        out.append(BookDelta(t, key[1], key[2] * 100, change, 1, seq[t], ts, ts))
    return out[:count]


def desk_with_orders(busy: list[str], idle: list[str]) -> Desk:
    desk = Desk(DeskConfig(latency_ms=0, accounts={f"s{i}": 10**12 for i in range(PER_MARKET)}))
    for snap in snapshots(busy + idle, H0):
        desk.on_event(snap)
    for t in busy:
        for i in range(PER_MARKET):
            # five YES bids at 0.31..0.35, five YES sells resting as NO bids at 0.51..0.55
            if i < 5:
                req = OrderRequest(f"s{i}", t, Side.YES, Action.BUY, 3100 + 100 * i, 1_000)
            else:
                req = OrderRequest(f"s{i}", t, Side.YES, Action.SELL, 4900 - 100 * (i - 5), 1_000)
            assert desk.place(req).accepted
    assert sum(q.size for q in desk.queues.values()) == len(busy) * PER_MARKET
    desk.drain()
    return desk


def run_paper_bench(events: int = 200_000, runs: int = 5) -> PaperBench:
    busy, idle = tickers("PBUSY"), tickers("PIDLE")
    busy_events = stream(busy, events, H0 + 1, seed=7)
    idle_events = stream(idle, events, H0 + 1, seed=7)
    busy_rates, idle_rates, fills = [], [], 0
    for _ in range(runs):
        desk = desk_with_orders(busy, idle)
        on_event = desk.on_event
        t0 = time.perf_counter()
        for e in busy_events:
            on_event(e)
        busy_rates.append(events / (time.perf_counter() - t0))
        fills = sum(1 for r in desk.drain() if type(r).__name__ == "Fill")
        t0 = time.perf_counter()
        for e in idle_events:
            on_event(e)
        idle_rates.append(events / (time.perf_counter() - t0))
    return PaperBench(events, MARKETS * PER_MARKET, median(busy_rates), median(idle_rates), fills)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    r = run_paper_bench(args.events, args.runs)
    print(f"{r.resting} resting orders over {MARKETS} markets; {r.events} events a run, "
          f"medians of {args.runs} runs; {r.fills} maker fills a run")  # fmt: skip
    report("desk.on_event, markets with resting orders", r.busy_per_s, "events/s",
           f">= {GOAL:,}")  # fmt: skip
    report("  per event", 1e6 / r.busy_per_s, "us")
    report("desk.on_event, followed markets with nothing open", r.idle_per_s, "events/s")


if __name__ == "__main__":
    main()
