"""The controls every strategy is reported beside, each trading its own paper account:

- **reverse**: every order the strategy places, placed on the other side (YES <-> NO), the same
  action, count, time in force and expiry, at the same moment. Its limit is as aggressive
  against the other side's touch as the strategy's was against its own: a buy at the YES ask
  becomes a buy at the NO ask (a sale at the YES bid), a bid a tick inside the YES spread a bid
  a tick inside the NO spread. So on a market that settles its gross P&L is minus the
  strategy's less the spread it crosses too: it shows whether the signal beats what trading it
  costs. Its cancels follow the strategy's.
- **random**: the same number of orders, of the same counts, actions and time in force, at the
  same moments, on a market and side drawn at random (``random.Random`` seeded from the run's
  parameters and the strategy's name) among the markets whose books are usable then; each market
  the strategy trades is paired with one drawn the first time, and a side flip drawn with it, so
  that its exits stay exits. Its limits keep the strategy's aggressiveness against the touch.

Prices: centicents of the order's own side. A YES bid at b is a NO ask at 1 - b: the touch an
order takes from is ``ask`` for a buy (1 - the best bid of the other side), ``bid`` for a sale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from random import Random

from kalshi.orderbook import OrderBook
from models import PRICE_SCALE, Action, Side
from strategies.base import Intent

REVERSE = "reverse"
RANDOM = "random"


def control_account(strategy: str, kind: str) -> str:
    return f"{strategy}~{kind}"


def _best(bids: dict[int, int]) -> int | None:
    return max((p for p, q in bids.items() if q > 0), default=None)


def touch(book: OrderBook | None, side: Side, action: Action) -> int | None:
    """The price (own side) an order of ``side`` and ``action`` takes at: the ask for a buy,
    the bid for a sale; None if the book shows nothing there."""
    if book is None:
        return None
    if action is Action.BUY:
        other = _best(book.no if side is Side.YES else book.yes)
        return None if other is None else PRICE_SCALE - other
    return _best(book.yes if side is Side.YES else book.no)


def aggression(book: OrderBook | None, intent: Intent) -> int:
    """How far past the touch the intent's limit reaches (centicents; negative: inside the
    spread, resting); 0 when its touch is empty."""
    t = touch(book, intent.side, intent.action)
    if t is None:
        return 0
    return intent.price - t if intent.action is Action.BUY else t - intent.price


def transfer(book: OrderBook | None, intent: Intent, side: Side, reach: int) -> int | None:
    """The limit for an order of ``side`` (the intent's action) reaching ``reach`` past its
    touch; None when that touch is empty. Clamped to 1..9999."""
    t = touch(book, side, intent.action)
    if t is None:
        return None
    price = t + reach if intent.action is Action.BUY else t - reach
    return min(PRICE_SCALE - 1, max(1, price))


def reverse(book: OrderBook | None, intent: Intent) -> Intent:
    """The reverse control's order for ``intent`` (see the module docstring). With the other
    side's touch empty it takes the mirrored price: a buy of YES at p becomes a buy of NO at
    1 - p, the same trade the other way round at the same price."""
    side = intent.side.other
    price = transfer(book, intent, side, aggression(book, intent))
    if price is None:
        price = PRICE_SCALE - intent.price
    # no stated probability: the complement's Brier score would be the strategy's own
    return replace(intent, side=side, price=price, probability_ppm=None,
                   signal=f"reverse: {intent.signal}")  # fmt: skip


@dataclass(slots=True)
class RandomEntries:
    """The random baseline's draws: one market and side flip per market the strategy trades."""

    rng: Random
    paired: dict[str, tuple[str, bool]]

    @classmethod
    def seeded(cls, seed: int) -> RandomEntries:
        return cls(Random(seed), {})

    def order(
        self,
        intent: Intent,
        candidates: Callable[[], Sequence[str]],
        book_of: Callable[[str], OrderBook | None],
        own_book: OrderBook | None,
    ) -> Intent | None:
        """The baseline's order for ``intent``; None when no market is usable (nothing placed).
        ``candidates`` lists the usable markets in a stable order (drawn from on first use)."""
        pair = self.paired.get(intent.ticker)
        if pair is None:
            pool = candidates()
            if not pool:
                return None
            pair = (pool[self.rng.randrange(len(pool))], self.rng.random() < 0.5)
            self.paired[intent.ticker] = pair
        ticker, flip = pair
        side = intent.side.other if flip else intent.side
        price = transfer(book_of(ticker), intent, side, aggression(own_book, intent))
        if price is None:
            return None
        return replace(intent, ticker=ticker, side=side, price=price, probability_ppm=None,
                       signal=f"random for {intent.ticker}")  # fmt: skip
