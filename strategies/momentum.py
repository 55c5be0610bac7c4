"""``momentum``: a price move over a short window, confirmed by taker flow and volume.

Over the last ``window_ms`` of a market's trades (markets whose ticker starts with
``ticker_prefix``): when the YES price moved at least ``min_move_cc``, at least
``min_flow_ppm`` of the volume was taken on the side of the move (net taker flow) and at least
``min_volume`` traded, buy the side of the move at the ask, if the spread is at most
``max_spread_cc``. Exit at the bid on a take-profit (``take_profit_cc`` over the entry price), a
stop-loss (``stop_loss_cc`` under it) or a time stop (``hold_ms`` after entry). Its window holds
the trades it needs and nothing else; the entry price and time are remembered from the intent
(a position it does not know is measured from the first price and time it sees).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from kalshi.orderbook import OrderBook
from models import Action, BookDelta, BookSnapshot, Event, Side, Trade
from strategies.base import Context, Decision, Intent, Strategy, register
from strategies.common import (
    PPM,
    best_ask,
    best_bid,
    cents,
    check,
    check_fraction_ppm,
    check_not_negative,
    check_positive,
    check_whole_contracts,
    has_open_orders,
    held,
    usable_book,
    whole,
)


@dataclass(frozen=True, slots=True)
class MomentumConfig:
    ticker_prefix: str = "KXNBA"  # markets it trades ("" for every followed book)
    window_ms: int = 60_000  # the move is measured over the last minute of trades
    min_move_cc: int = 300  # at least $0.03 of YES price
    min_flow_ppm: int = 600_000  # at least 60% of the window's volume taken with the move
    min_volume: int = 2_000  # hundredths: at least 20 contracts traded in the window
    max_spread_cc: int = 300  # do not chase through a spread wider than $0.03
    take_profit_cc: int = 500  # exit $0.05 above the entry price
    stop_loss_cc: int = 300  # exit $0.03 below it
    hold_ms: int = 300_000  # time stop: five minutes after entry
    count: int = 500  # hundredths per entry: 5 contracts

    def validate(self) -> None:
        check_positive(
            self, "window_ms", "min_move_cc", "hold_ms", "take_profit_cc", "stop_loss_cc"
        )
        check_not_negative(self, "min_volume", "max_spread_cc")
        check_fraction_ppm(self, "min_flow_ppm")
        check_whole_contracts(self, "count")
        check(len(self.ticker_prefix) <= 64, "ticker_prefix", "at most 64 characters")


@register
class Momentum(Strategy):
    name = "momentum"
    Config = MomentumConfig
    kinds = (Trade, BookSnapshot, BookDelta)

    def __init__(self, config: MomentumConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.trades: dict[str, deque[tuple[int, int, int]]] = {}  # ts, yes price, signed count
        self.entry: dict[str, tuple[int, int]] = {}  # ticker -> (own-side price, time)

    def on_event(self, event: Event, ctx: Context) -> list[Decision]:
        if not isinstance(event, Trade | BookSnapshot | BookDelta):
            return []
        ticker = event.ticker
        if not ticker.startswith(self.cfg.ticker_prefix):
            return []
        if isinstance(event, Trade):
            self._add(event)
        side, count = held(ctx, ticker)
        book, why = usable_book(ctx, ticker)
        if book is None:
            if side is not None or isinstance(event, Trade):
                self.status = why
            return []
        if side is not None:
            return self._exit(ticker, side, count, book, ctx)
        if isinstance(event, Trade) and not has_open_orders(ctx, ticker):
            return self._enter(ticker, book, ctx)
        return []

    def _add(self, t: Trade) -> None:
        window = self.trades.setdefault(t.ticker, deque())
        signed = t.count if t.taker_side is Side.YES else -t.count
        window.append((t.ts_ms, t.yes_price, signed))
        while window and window[0][0] < t.ts_ms - self.cfg.window_ms:
            window.popleft()

    def _enter(self, ticker: str, book: OrderBook, ctx: Context) -> list[Decision]:
        cfg = self.cfg
        window = self.trades.get(ticker)
        if not window:
            return []
        move = window[-1][1] - window[0][1]
        volume = sum(abs(c) for _, _, c in window)
        flow = sum(c for _, _, c in window)
        if abs(move) < cfg.min_move_cc or volume < max(cfg.min_volume, 1):
            self.status = f"{ticker}: move {cents(move)}, volume {volume // 100}: no signal"
            return []
        share = flow * PPM // volume
        up = move > 0
        if (share if up else -share) < cfg.min_flow_ppm:
            self.status = f"{ticker}: move {cents(move)} not confirmed by flow ({share} ppm)"
            return []
        spread = book.spread()
        if spread is None or spread > cfg.max_spread_cc:
            self.status = f"{ticker}: spread {spread} too wide to chase"
            return []
        side = Side.YES if up else Side.NO
        ask = best_ask(book, side)
        count = whole(ctx, ticker, cfg.count)
        if ask is None or count <= 0:
            return []
        self.entry[ticker] = (ask[0], ctx.now_ms)
        signal = (
            f"move {cents(move)} in {cfg.window_ms // 1000} s, taker flow "
            f"{abs(share) // 10_000}% {'yes' if up else 'no'}, volume {volume // 100}"
        )
        self.status = f"{ticker}: buy {side} at {ask[0]} ({signal})"
        return [Intent(ticker, side, Action.BUY, count, ask[0], signal=signal)]

    def _exit(
        self, ticker: str, side: Side, count: int, book: OrderBook, ctx: Context
    ) -> list[Decision]:
        if has_open_orders(ctx, ticker):
            return []
        bid = best_bid(book, side)
        if bid is None:
            return []
        cfg = self.cfg
        price, since = self.entry.setdefault(ticker, (bid[0], ctx.now_ms))
        if bid[0] >= price + cfg.take_profit_cc:
            why = f"take-profit: bid {bid[0]} >= entry {price} + {cfg.take_profit_cc}"
        elif bid[0] <= price - cfg.stop_loss_cc:
            why = f"stop-loss: bid {bid[0]} <= entry {price} - {cfg.stop_loss_cc}"
        elif ctx.now_ms - since >= cfg.hold_ms:
            why = f"time stop: held {(ctx.now_ms - since) // 1000} s"
        else:
            self.status = f"{ticker}: holding {side} from {price}, bid {bid[0]}"
            return []
        del self.entry[ticker]
        self.status = f"{ticker}: sell {side} ({why})"
        return [Intent(ticker, side, Action.SELL, count, bid[0], signal=why)]
