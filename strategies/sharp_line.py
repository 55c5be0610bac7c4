"""``sharp_line``: Kalshi's game-winner price against the no-vig sportsbook consensus.

The books are the sharper line: when the moneyline consensus (at least ``min_books`` books, every
quote fresh) says a team wins more often than Kalshi's ask implies, by more than ``min_edge_cc``
after the taker fee, buy that side at the ask (the spread is crossed: the ask is what is paid).
One position per game. Exit at the bid when the price has converged (the bid is within
``exit_edge_cc`` of the fair value) or at a stop (the bid ``stop_cc`` below the entry price).
The entry price is remembered from the intent; after a restart, a position it does not know is
measured from the price first seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from kalshi.orderbook import OrderBook
from models import Action, BookDelta, BookSnapshot, Event, OddsQuote, Side
from nba.state import NbaState
from strategies.base import Context, Decision, Intent, Strategy, register
from strategies.common import (
    PPM,
    best_ask,
    best_bid,
    cents,
    check_not_negative,
    check_positive,
    check_whole_contracts,
    edge_cc,
    fee_cc,
    fresh_consensus,
    has_open_orders,
    held,
    usable_book,
    whole,
)


@dataclass(frozen=True, slots=True)
class SharpLineConfig:
    min_books: int = 3  # sportsbooks the consensus must have (sim: four books)
    max_odds_age_ms: int = 120_000  # every book's quote at most this old
    min_edge_cc: int = 300  # enter when fair - ask - fee is at least $0.03 a contract
    exit_edge_cc: int = 0  # exit when fair - bid is at most this (converged)
    stop_cc: int = 800  # exit when the bid is $0.08 below the entry price
    count: int = 500  # hundredths per entry: 5 contracts

    def validate(self) -> None:
        check_positive(self, "min_books", "max_odds_age_ms")
        check_not_negative(self, "min_edge_cc", "stop_cc")
        check_whole_contracts(self, "count")


@register
class SharpLine(Strategy):
    name = "sharp_line"
    Config = SharpLineConfig
    kinds = (OddsQuote, BookSnapshot, BookDelta)

    def __init__(self, config: SharpLineConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.entry: dict[str, int] = {}  # ticker -> own-side price entered at

    def on_event(self, event: Event, ctx: Context) -> list[Decision]:
        nba = ctx.nba
        if nba is None:
            self.status = "the NBA side is off"
            return []
        if isinstance(event, OddsQuote):
            game_id = event.game_id
        elif isinstance(event, BookSnapshot | BookDelta):
            found = nba.market_of(event.ticker)
            if found is None or found[1].kind != "game":
                return []
            game_id = found[0]
        else:
            return []
        return self._game(nba, game_id, ctx)

    def _game(self, nba: NbaState, game_id: int, ctx: Context) -> list[Decision]:
        cfg = self.cfg
        game = nba.games.get(game_id)
        markets = [m for m in nba.markets.get(game_id, ()) if m.kind == "game"]
        if game is None or not markets:
            return []
        c, why = fresh_consensus(
            nba, game_id, "moneyline", ctx.now_ms, cfg.min_books, cfg.max_odds_age_ms
        )
        if c is None:
            self.status = why
            return []
        busy = any(ctx.position(m.ticker) or has_open_orders(ctx, m.ticker) for m in markets)
        out: list[Decision] = []
        notes: list[str] = []  # each market's note joins the status
        self.status = ""
        for m in markets:
            if self.status:
                notes.append(self.status)
            self.status = ""
            yes_fair = c.fair_ppm if m.yes_team == game.home else PPM - c.fair_ppm
            book, why = usable_book(ctx, m.ticker)
            if book is None:
                self.status = why
                continue
            side, count = held(ctx, m.ticker)
            if side is not None:
                out += self._exit(m.ticker, side, count, yes_fair, book, ctx)
            elif not busy:
                entry = self._enter(m.ticker, yes_fair, book, ctx, len(c.books))
                if entry is not None:
                    busy = True
                    out.append(entry)
        self.status = "; ".join([*notes, self.status] if self.status else notes)
        return out

    def _enter(
        self, ticker: str, yes_fair: int, book: OrderBook, ctx: Context, books: int
    ) -> Intent | None:
        cfg = self.cfg
        best: tuple[int, Side, int, int] | None = None
        for side in (Side.YES, Side.NO):
            ask = best_ask(book, side)
            if ask is None:
                continue
            fair = yes_fair if side is Side.YES else PPM - yes_fair
            fee = fee_cc(ctx, ticker, cfg.count, ask[0])
            edge = edge_cc(fair, ask[0], fee)
            if best is None or edge > best[0]:
                best = (edge, side, ask[0], fair)
        if best is None:
            return None
        edge, side, price, fair = best
        if edge < cfg.min_edge_cc:
            self.status = f"{ticker}: best edge {cents(edge)} < {cents(cfg.min_edge_cc)}"
            return None
        count = whole(ctx, ticker, cfg.count)
        if count <= 0:
            return None
        self.entry[ticker] = price
        self.status = f"{ticker}: buy {side} at {price}, edge {cents(edge)}"
        return Intent(
            ticker,
            side,
            Action.BUY,
            count,
            price,
            probability_ppm=fair,
            signal=f"consensus {fair} ppm of {books} books vs ask {price}: "
            f"edge {cents(edge)} after fee",
        )

    def _exit(
        self, ticker: str, side: Side, count: int, yes_fair: int, book: OrderBook, ctx: Context
    ) -> list[Decision]:
        if has_open_orders(ctx, ticker):
            return []
        bid = best_bid(book, side)
        if bid is None:
            return []
        cfg = self.cfg
        fair = yes_fair if side is Side.YES else PPM - yes_fair
        entry = self.entry.setdefault(ticker, bid[0])
        gap = fair // 100 - bid[0]
        if gap <= cfg.exit_edge_cc:
            why = f"converged: bid {bid[0]} vs fair {fair} ppm"
        elif bid[0] <= entry - cfg.stop_cc:
            why = f"stop: bid {bid[0]} <= entry {entry} - {cfg.stop_cc}"
        else:
            self.status = f"{ticker}: holding {side}, fair - bid {cents(gap)}"
            return []
        del self.entry[ticker]
        self.status = f"{ticker}: sell {side} ({why})"
        return [Intent(ticker, side, Action.SELL, count, bid[0], probability_ppm=fair, signal=why)]
