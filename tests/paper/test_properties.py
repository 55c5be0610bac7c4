"""Properties over random histories (hypothesis): the ledger reconciles, no fill is better
than the book allowed, positions stay within their limits."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from models import PRICE_SCALE, Action, BookDelta, BookSnapshot, Side, Trade
from paper import Desk, DeskConfig, OrderRequest, RiskLimits, TimeInForce
from paper.marks import mark_mid
from paper.records import Fill, Settlement
from tests.paper.feed import T0, T, c, n, usd

LIMIT = n(30)
ACCOUNTS = ("a", "b")

TIFS = [TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK]
place = st.tuples(st.just("place"), st.sampled_from(ACCOUNTS), st.sampled_from(Side),
                  st.sampled_from(Action), st.integers(-3, 3), st.integers(1, 20),
                  st.sampled_from(TIFS))  # fmt: skip
trade = st.tuples(st.just("trade"), st.sampled_from(Side), st.integers(0, 2), st.integers(1, 150))
ops = st.one_of(
    place,
    place,
    place,
    trade,
    trade,
    trade,
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("delta"), st.sampled_from(Side), st.integers(30, 70), st.integers(-40, 40)),
    st.tuples(st.just("snap"), st.integers(0, 10**6)),
    st.tuples(st.just("wait"), st.integers(0, 400)),
)


@dataclass
class World:
    """The book as the feed shows it, and what the desk's takes leave of each level."""

    desk: Desk
    t: int = T0
    seq: int = 0
    trades: int = 0
    book: dict[Side, dict[int, int]] = field(default_factory=lambda: {Side.YES: {}, Side.NO: {}})
    taken: dict[Side, dict[int, int]] = field(default_factory=lambda: {Side.YES: {}, Side.NO: {}})
    seen: int = 0  # records checked so far

    def new_fills(self) -> list[Fill]:
        out = self.desk.outbox[self.seen :]
        self.seen = len(self.desk.outbox)
        return [r for r in out if isinstance(r, Fill)]

    def check_takers(self) -> None:
        """Fills made on arrival: each leg within the limit and within what the level had."""
        for f in self.new_fills():
            assert not f.maker
            o = self.desk.orders[f.order_id]
            for price, qty in f.legs:
                bid = price if f.action is Action.SELL else PRICE_SCALE - price
                assert bid >= o.take_min  # never past the limit
                free = self.book[o.take].get(bid, 0) - self.taken[o.take].get(bid, 0)
                assert qty <= free  # never more than the book showed, less the desk's takes
                self.taken[o.take][bid] = self.taken[o.take].get(bid, 0) + qty

    def near(self, side: Side, action: Action, offset: int) -> int:
        """A price ``offset`` cents from the price the order would take at (crossing if > 0
        for a buy, < 0 for a sell... roughly half of them cross)."""
        take = side.other if action is Action.BUY else side
        bids = self.book[take]
        top = max(bids) if bids else c(50)
        touch = PRICE_SCALE - top if action is Action.BUY else top
        price = touch + (c(offset) if action is Action.BUY else -c(offset))
        return min(max(price, c(1)), c(99))

    def snap(self, seed: int) -> None:
        self.desk.advance(self.t)  # what was due meets the book as it was
        self.check_takers()
        rng = random.Random(seed)
        yes_top = rng.randrange(30, 60)
        no_top = rng.randrange(30, PRICE_SCALE // 100 - yes_top)
        self.book = {
            Side.YES: {c(yes_top - i): n(rng.randrange(1, 60)) for i in range(5)},
            Side.NO: {c(no_top - i): n(rng.randrange(1, 60)) for i in range(5)},
        }
        self.taken = {Side.YES: {}, Side.NO: {}}
        self.seq += 1
        yes, no = tuple(self.book[Side.YES].items()), tuple(self.book[Side.NO].items())
        snap = BookSnapshot(T, yes, no, 1, self.seq, self.t, self.t)
        self.desk.on_event(snap)
        self.check_takers()  # orders that waited for a book meet it now

    def delta(self, side: Side, price: int, change: int) -> None:
        level = self.book[side].get(price, 0)
        change = max(change, -level)
        if change == 0:
            return
        self.desk.advance(self.t)
        self.check_takers()
        self.book[side][price] = level + change
        if not self.book[side][price]:
            del self.book[side][price]
        self.taken[side].pop(price, None)
        self.seq += 1
        self.desk.on_event(BookDelta(T, side, price, change, 1, self.seq, self.t, self.t))
        assert self.new_fills() == []

    def trade(self, hit: Side, index: int, share: int) -> None:
        levels = sorted(self.book[hit], reverse=True)
        if not levels:
            return
        price = levels[index % len(levels)]
        count = max(1, min(self.book[hit][price], self.book[hit][price] * share // 100))
        self.desk.advance(self.t)
        self.check_takers()
        taker = Side.NO if hit is Side.YES else Side.YES
        yes_price = price if hit is Side.YES else PRICE_SCALE - price
        self.trades += 1
        self.desk.on_event(Trade(f"t{self.trades}", T, yes_price, count, taker, self.t, self.t))
        got = self.new_fills()
        for f in got:
            o = self.desk.orders[f.order_id]
            assert f.maker and f.legs == ((o.price, f.count),)
            assert o.rest is hit and o.rest_price >= price  # at its level or traded through
        assert sum(f.count for f in got) <= count
        self.delta(hit, price, -count)  # the trade's echo on the book


def reconcile(desk: Desk) -> None:
    records = desk.outbox
    for name, acct in desk.ledger.accounts.items():
        fills = [r for r in records if isinstance(r, Fill) and r.account == name]
        settled = [r for r in records if isinstance(r, Settlement) and r.account == name]
        # in YES terms: a YES-ward fill pays the YES price, a NO-ward one receives it; a NO
        # contract held ties up the dollar that a YES contract would pay
        flows = 0
        for f in fills:
            sign = 1 if (f.side is Side.YES) is (f.action is Action.BUY) else -1
            yes_cost = sum((p if f.side is Side.YES else PRICE_SCALE - p) * q for p, q in f.legs)
            flows -= sign * yes_cost
        no_held = sum(p.no for p in acct.positions.values())
        expected = (
            acct.start
            + flows
            - sum(f.fee for f in fills)
            + sum(s.net * s.yes_value for s in settled)
            - no_held * PRICE_SCALE
        )
        assert acct.cash == expected
        assert acct.cash + acct.cost_basis() == acct.start + acct.realised - acct.fees
        marks = sum(mark_mid(p, desk.book(t)) for t, p in acct.positions.items())
        assert desk.metrics(name).equity_mid == acct.cash + marks
        for pos in acct.positions.values():
            assert abs(pos.net) <= LIMIT  # the limit holds for what filled


@settings(max_examples=400, deadline=None)
@given(st.lists(ops, min_size=5, max_size=50), st.sampled_from([0, 150]), st.booleans())
def test_random_histories_keep_the_ledger_the_book_and_the_limits(
    steps: list[tuple[object, ...]], latency: int, settle: bool
) -> None:
    limits = RiskLimits(max_contracts_per_market=LIMIT)
    desk = Desk(DeskConfig(latency_ms=latency, accounts={a: usd(200) for a in ACCOUNTS},
                           default_limits=limits))  # fmt: skip
    world = World(desk)
    world.snap(0)
    for step in steps:
        world.t += 10
        kind = step[0]
        if kind in ("place", "cancel"):
            desk.advance(world.t)  # the decision is made now, not at the last event
            world.check_takers()
        if kind == "place":
            _, account, side, action, offset, count, tif = step
            price = world.near(side, action, offset)  # type: ignore[arg-type]
            req = OrderRequest(str(account), T, side, action, price, n(count), tif)  # type: ignore[arg-type]
            desk.place(req)
            world.check_takers()
        elif kind == "cancel":
            open_ = desk.open_orders()
            if open_:
                desk.cancel(open_[int(step[1]) % len(open_)].order_id)  # type: ignore[call-overload]
                world.check_takers()
        elif kind == "trade":
            world.trade(step[1], step[2], step[3])  # type: ignore[arg-type]
        elif kind == "delta":
            world.delta(step[1], c(step[2]), n(step[3]))  # type: ignore[arg-type]
        elif kind == "snap":
            world.snap(step[1])  # type: ignore[arg-type]
        else:
            world.t += step[1]  # type: ignore[operator]
            desk.advance(world.t)
            world.check_takers()
        reconcile(desk)
    if settle:
        from models import LifecycleEvent, LifecycleKind

        desk.on_event(LifecycleEvent(T, LifecycleKind.DETERMINED, world.t, world.t + 1_000,
                                     result="yes"))  # fmt: skip
        world.check_takers()
        reconcile(desk)
        assert all(p.net == 0 for a in desk.ledger.accounts.values() for p in a.positions.values())
