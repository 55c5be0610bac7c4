"""``mean_reversion``: fade a move of a game-winner price that the score does not explain.

What the score explains is the in-game model's fair value (``NbaState.fair_ppm``); what it does
not is the residual, the book's mid less that fair value. The strategy samples each market's
residual at most once every ``sample_ms`` and keeps the last ``window_ms`` of samples; when the
latest is ``entry_z`` standard deviations from their mean (with at least ``min_samples``), it buys
the side that gains if the residual comes back (a price too high for the score: NO). It exits
at the bid when the residual is back within ``exit_z`` of the mean, or at a stop: the bid
``stop_cc`` under the entry price. It needs a fresh score (``max_score_age_ms`` while live).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from kalshi.orderbook import OrderBook
from models import PRICE_SCALE, Action, BookDelta, BookSnapshot, Event, GameState, Side, Trade
from nba.state import NbaState
from strategies.base import Context, Decision, Intent, Strategy, register
from strategies.common import (
    CC_PER_PPM,
    best_ask,
    best_bid,
    check,
    check_positive,
    check_whole_contracts,
    fresh_game,
    has_open_orders,
    held,
    usable_book,
    whole,
)


@dataclass(frozen=True, slots=True)
class MeanReversionConfig:
    window_ms: int = 600_000  # the rolling mean and deviation of the last ten minutes...
    sample_ms: int = 5_000  # ...of residuals sampled at most every five seconds
    min_samples: int = 20  # no signal before this many samples
    entry_z: float = 2.0  # fade a residual two standard deviations from the mean
    exit_z: float = 0.25  # exit when it is back within a quarter of one
    min_std_cc: int = 50  # a deviation under $0.005 is noise, not a band to trade
    stop_cc: int = 600  # exit when the bid is $0.06 under the entry price
    max_score_age_ms: int = 60_000  # a live game's score at most this old
    count: int = 500  # hundredths per entry: 5 contracts

    def validate(self) -> None:
        check_positive(
            self,
            "window_ms",
            "sample_ms",
            "min_samples",
            "stop_cc",
            "max_score_age_ms",
            "min_std_cc",
        )
        check(math.isfinite(self.entry_z) and self.entry_z > 0, "entry_z", "must be > 0")
        check(
            math.isfinite(self.exit_z) and 0 <= self.exit_z < self.entry_z,
            "exit_z",
            "must be from 0 to below entry_z",
        )
        check(self.sample_ms < self.window_ms, "sample_ms", "must be shorter than window_ms")
        check_whole_contracts(self, "count")


@register
class MeanReversion(Strategy):
    name = "mean_reversion"
    Config = MeanReversionConfig
    kinds = (Trade, BookSnapshot, BookDelta, GameState)

    def __init__(self, config: MeanReversionConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.samples: dict[str, deque[tuple[int, int]]] = {}  # ticker -> (ts, residual cc)
        self.entry: dict[str, int] = {}  # ticker -> own-side price entered at

    def on_event(self, event: Event, ctx: Context) -> list[Decision]:
        nba = ctx.nba
        if nba is None:
            self.status = "the NBA side is off"
            return []
        if isinstance(event, GameState):
            tickers = [m.ticker for m in nba.markets.get(event.game_id, ()) if m.kind == "game"]
        elif isinstance(event, Trade | BookSnapshot | BookDelta):
            tickers = [event.ticker]
        else:
            return []
        out: list[Decision] = []
        notes: list[str] = []  # each market's note joins the status
        for ticker in tickers:
            self.status = ""
            out += self._market(nba, ticker, ctx)
            if self.status:
                notes.append(self.status)
        if notes:
            self.status = "; ".join(notes)
        return out

    def _market(self, nba: NbaState, ticker: str, ctx: Context) -> list[Decision]:
        cfg = self.cfg
        found = nba.market_of(ticker)
        if found is None or found[1].kind != "game":
            return []
        game, why = fresh_game(nba, found[0], ctx.now_ms, cfg.max_score_age_ms)
        fair = nba.fair_ppm(ticker) if game is not None else None
        book, bad_book = usable_book(ctx, ticker)
        if game is None or fair is None or book is None:
            self.status = why or bad_book or f"{ticker}: no model value yet"
            return []
        bid, ask = book.best_yes_bid(), book.best_yes_ask()
        assert bid is not None and ask is not None  # a usable book shows both sides
        residual = (bid[0] + ask[0]) // 2 - fair // CC_PER_PPM
        z, mean = self._sample(ticker, ctx.now_ms, residual)
        side, count = held(ctx, ticker)
        if has_open_orders(ctx, ticker):
            return []
        if side is not None:
            return self._exit(ticker, side, count, book, z)
        if z is None or abs(z) < cfg.entry_z:
            self.status = f"{ticker}: residual z {z if z is None else round(z, 2)}"
            return []
        buy = Side.NO if z > 0 else Side.YES  # too high for the score: NO gains on the way back
        price = best_ask(book, buy)
        n = whole(ctx, ticker, cfg.count)
        if price is None or n <= 0:
            return []
        self.entry[ticker] = price[0]
        value_yes = fair // CC_PER_PPM + mean  # where the price should come back to
        value = value_yes if buy is Side.YES else PRICE_SCALE - value_yes
        value = min(max(value, 0), PRICE_SCALE)
        signal = (
            f"residual {residual / 100:+.1f}c vs mean {mean / 100:+.1f}c: z {z:+.2f}, "
            f"model {fair} ppm"
        )
        self.status = f"{ticker}: buy {buy} at {price[0]} ({signal})"
        return [
            Intent(
                ticker,
                buy,
                Action.BUY,
                n,
                price[0],
                probability_ppm=value * CC_PER_PPM,
                signal=signal,
            )
        ]

    def _sample(self, ticker: str, now_ms: int, residual: int) -> tuple[float | None, int]:
        """Adds the residual (at most one sample per ``sample_ms``); the latest one's z-score
        against the window's samples (None before ``min_samples``) and their mean."""
        cfg = self.cfg
        window = self.samples.setdefault(ticker, deque())
        if window and now_ms - window[-1][0] < cfg.sample_ms:
            window[-1] = (window[-1][0], residual)  # the newest sample holds the latest value
        else:
            window.append((now_ms, residual))
        while window and window[0][0] < now_ms - cfg.window_ms:
            window.popleft()
        n = len(window)
        values = [r for _, r in window]
        mean = sum(values) // n
        if n < cfg.min_samples:
            return None, mean
        mu = sum(values) / n
        std = math.sqrt(sum((r - mu) ** 2 for r in values) / (n - 1))
        std = max(std, float(cfg.min_std_cc))
        return (residual - mu) / std, mean

    def _exit(
        self, ticker: str, side: Side, count: int, book: OrderBook, z: float | None
    ) -> list[Decision]:
        cfg = self.cfg
        bid = best_bid(book, side)
        if bid is None:
            return []
        entry = self.entry.setdefault(ticker, bid[0])
        # entered on a high residual holding NO (low: YES): out once it is back past exit_z
        back = z is not None and (z <= cfg.exit_z if side is Side.NO else z >= -cfg.exit_z)
        if back:
            why = f"back at the mean: z {z:+.2f}"
        elif bid[0] <= entry - cfg.stop_cc:
            why = f"stop: bid {bid[0]} <= entry {entry} - {cfg.stop_cc}"
        else:
            self.status = f"{ticker}: holding {side} from {entry}, bid {bid[0]}"
            return []
        del self.entry[ticker]
        self.status = f"{ticker}: sell {side} ({why})"
        return [Intent(ticker, side, Action.SELL, count, bid[0], signal=why)]
