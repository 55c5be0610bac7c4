"""A small strategy for the backtest's tests, registered under a test-only name: it buys the
side the NBA model's fair value favours when the book's ask is ``edge_ppm`` below it, one
order per market, and holds to settlement. It states its probability (Brier, calibration)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from models import Action, BookDelta, BookSnapshot, Event, GameState, Side
from paper.orders import TimeInForce
from strategies.base import REGISTRY, Context, Decision, Intent, Strategy, register

NAME = "test_fair_edge"


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    edge_ppm: int = 50_000  # how far below the fair value the ask must be
    count: int = 100  # hundredths a trade

    def validate(self) -> None:
        if not 0 <= self.edge_ppm <= 1_000_000:
            raise ValueError(f"edge_ppm must be 0..1000000, not {self.edge_ppm}")
        if self.count <= 0:
            raise ValueError(f"count must be positive, not {self.count}")


class FairEdge(Strategy):
    name: ClassVar[str] = NAME
    Config: ClassVar[type] = EdgeConfig
    kinds: ClassVar[tuple[type, ...]] = (GameState, BookSnapshot, BookDelta)

    def __init__(self, config: EdgeConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.tried: set[str] = set()

    def on_event(self, event: Event, ctx: Context) -> list[Decision]:
        nba = ctx.nba
        if nba is None:
            return []
        if isinstance(event, GameState):
            tickers = [m.ticker for m in nba.markets.get(event.game_id, ())]
        elif isinstance(event, BookSnapshot | BookDelta):
            tickers = [event.ticker]
        else:
            return []
        out: list[Decision] = []
        for ticker in tickers:
            if ticker in self.tried or not nba.is_followed(ticker):
                continue
            fair = nba.fair_ppm(ticker)
            book = ctx.book(ticker)
            if fair is None or book is None or book.stale:
                continue
            for side, ask in ((Side.YES, book.best_yes_ask()), (Side.NO, book.best_no_ask())):
                own_fair = fair if side is Side.YES else 1_000_000 - fair
                if ask is not None and own_fair - ask[0] * 100 >= self.cfg.edge_ppm:
                    self.tried.add(ticker)
                    self.status = f"bought {side} on {ticker}"
                    out.append(
                        Intent(
                            ticker,
                            side,
                            Action.BUY,
                            self.cfg.count,
                            ask[0],
                            TimeInForce.IOC,
                            probability_ppm=own_fair,
                            signal=f"fair {own_fair} vs ask {ask[0] * 100}",
                        )
                    )
                    break
        return out


if NAME not in REGISTRY:
    register(FairEdge)
