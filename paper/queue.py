"""Resting paper orders in one market, queued behind the size displayed at their price.

An order that rests joins the back of its level: ``ahead`` is the size the book displayed there
when it arrived. It fills only as that queue is consumed, never on a quote alone:

- a public trade at its level consumes the queue ahead first; what the trade had beyond the
  queue fills the order (and paper orders at one level share that excess in arrival order);
- a trade at a worse price *trades through* it: the taker would have met the paper order first,
  so it fills up to the trade's size, best price first;
- a decrease of the level that is not a trade's own echo is a cancellation. Who cancelled is
  unknown: ``CancelModel`` states the assumption, pessimistic (``BEHIND``: never ahead of you)
  by default. Whatever the model, ``ahead`` never exceeds what the level displays.

A trade and the decrease it causes reach the desk as two events (Kalshi's and the simulator's
order: the trade, then its delta). The trade's volume is kept per level as an *echo* that the
next decreases there use up before any of the rest counts as a cancellation, so the queue is
consumed once, not twice. A snapshot clears the echoes and clamps every queue to the new book.
"""

from __future__ import annotations

from enum import StrEnum

from kalshi.orderbook import OrderBook
from models import PRICE_SCALE, Side, Trade
from paper.orders import Order


class CancelModel(StrEnum):
    BEHIND = "behind"  # cancellations come from behind the paper order: pessimistic
    PROPORTIONAL = "proportional"  # in proportion to the share of the level ahead of it
    AHEAD = "ahead"  # all ahead of it: optimistic


class MarketQueue:
    __slots__ = ("echo", "no", "size", "yes")

    def __init__(self) -> None:
        # bid price -> resting paper orders there, in arrival order
        self.yes: dict[int, list[Order]] = {}
        self.no: dict[int, list[Order]] = {}
        self.echo: dict[tuple[Side, int], int] = {}  # traded hundredths whose delta is due
        self.size = 0

    def _side(self, side: Side) -> dict[int, list[Order]]:
        return self.yes if side is Side.YES else self.no

    def add(self, order: Order, displayed: int) -> None:
        order.ahead = displayed
        self._side(order.rest).setdefault(order.rest_price, []).append(order)
        self.size += 1

    def restore(self, order: Order) -> None:
        """Put back an order with its own ``ahead`` (a desk rebuilt from a snapshot)."""
        self._side(order.rest).setdefault(order.rest_price, []).append(order)
        self.size += 1

    def remove(self, order: Order) -> None:
        levels = self._side(order.rest)
        queue = levels.get(order.rest_price)
        if queue is None or order not in queue:
            return
        queue.remove(order)
        self.size -= 1
        if not queue:
            del levels[order.rest_price]
            self.echo.pop((order.rest, order.rest_price), None)

    def orders(self) -> list[Order]:
        return [o for levels in (self.yes, self.no) for q in levels.values() for o in q]

    def on_trade(self, trade: Trade) -> list[tuple[Order, int]]:
        """The fills one public trade gives resting paper orders: (order, hundredths)."""
        # a YES taker bought from NO bidders at 1 - p; a NO taker from YES bidders at p
        if trade.taker_side is Side.YES:
            side, hit, levels = Side.NO, PRICE_SCALE - trade.yes_price, self.no
        else:
            side, hit, levels = Side.YES, trade.yes_price, self.yes
        if not levels:
            return []
        fills: list[tuple[Order, int]] = []
        budget = trade.count
        for price in sorted((p for p in levels if p > hit), reverse=True):
            for order in levels[price]:  # traded through: met before the real book
                order.ahead = 0  # the real level was empty, or the trade would be there
                if budget == 0:
                    continue
                qty = min(order.remaining, budget)
                fills.append((order, qty))
                budget -= qty
        queue = levels.get(hit)
        if queue is None:
            return fills
        key = (side, hit)
        self.echo[key] = self.echo.get(key, 0) + trade.count
        absorbed = 0
        for order in queue:
            beyond = budget - order.ahead  # what reached the order's place in the queue
            order.ahead -= min(order.ahead, trade.count)  # the real queue saw the whole trade
            qty = min(order.remaining, beyond - absorbed)
            if qty > 0:
                fills.append((order, qty))
                absorbed += qty
        return fills

    def on_delta(self, side: Side, price: int, change: int, after: int, model: CancelModel) -> None:
        """A level moved by ``change`` to ``after``: use up the echo, then apply the model."""
        queue = self._side(side).get(price)
        if queue is None or change >= 0:
            return
        drop = -change
        key = (side, price)
        echo = self.echo.get(key, 0)
        if echo:
            used = min(echo, drop)
            drop -= used
            if echo == used:
                del self.echo[key]
            else:
                self.echo[key] = echo - used
        before = after - change
        for order in queue:
            if drop and model is not CancelModel.BEHIND:
                if model is CancelModel.AHEAD:
                    cut = min(order.ahead, drop)
                else:
                    cut = drop * order.ahead // before
                order.ahead -= cut
            if order.ahead > after:
                order.ahead = after

    def on_snapshot(self, book: OrderBook) -> None:
        self.echo.clear()
        for side, levels in ((Side.YES, self.yes), (Side.NO, self.no)):
            shown = book.yes if side is Side.YES else book.no
            for price, queue in levels.items():
                displayed = shown.get(price, 0)
                for order in queue:
                    if order.ahead > displayed:
                        order.ahead = displayed
