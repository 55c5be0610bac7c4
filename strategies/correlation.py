"""``correlation``: keep a game's related markets consistent with each other.

Three facts tie a game's markets together, and each gives bundles of contracts that pay at
least $1 whatever happens:

- the two KXNBAGAME markets (one per team): exactly one YES wins, so YES on both pays $1 and
  NO on both pays $1 (their YES prices sum to about $1);
- a team's win market and its spread ladder: winning by more than N.5 implies winning, so YES
  on the win and NO on the spread pays at least $1 (the spread cannot be likelier than the win);
- a ladder (a team's spreads, the totals): over the higher strike implies over the lower, so YES
  on the lower and NO on the higher pays at least $1 (the ladder falls with the strike).

When the asks of a bundle's legs plus their taker fees come to ``min_edge_cc`` or more under $1,
buy every leg at its ask (IOC), ``count`` or what the thinnest ask shows; the bundle is held to
settlement. Legs whose market already has a position or an open order are not bought again. Every
leg's book must be usable (no gap, both sides shown) and the game not final; it reads no odds and
no scores. The legs are separate orders: one may fill and another not (leg risk, stated).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from kalshi.orderbook import OrderBook
from models import PRICE_SCALE, Action, BookDelta, BookSnapshot, Event, GameStatus, Side
from nba.match import NbaMarket
from nba.state import NbaState
from strategies.base import Context, Decision, Intent, Strategy, register
from strategies.common import (
    best_ask,
    cents,
    check_not_negative,
    check_whole_contracts,
    fee_cc,
    has_open_orders,
    usable_book,
    whole,
)

Leg = tuple[str, Side]


@dataclass(frozen=True, slots=True)
class CorrelationConfig:
    min_edge_cc: int = 100  # buy a bundle at least $0.01 a set under $1 after fees
    count: int = 500  # hundredths per leg: 5 contracts (less if an ask shows less)
    game_pair: bool = True  # the two KXNBAGAME markets
    win_vs_spread: bool = True  # a team's win market against its spreads
    ladders: bool = True  # spreads and totals monotone in the strike

    def validate(self) -> None:
        check_not_negative(self, "min_edge_cc")
        check_whole_contracts(self, "count")


def bundles(markets: list[NbaMarket], cfg: CorrelationConfig) -> list[tuple[str, list[Leg]]]:
    """Every bundle of a game's markets that pays at least $1, with what makes it so."""
    out: list[tuple[str, list[Leg]]] = []
    wins = {m.yes_team: m for m in markets if m.kind == "game" and m.yes_team}
    if cfg.game_pair and len(wins) == 2:
        a, b = sorted(wins.values(), key=lambda m: m.ticker)
        out.append(("the two winners' YES sum to $1", [(a.ticker, Side.YES), (b.ticker, Side.YES)]))
        out.append(("the two winners' NO sum to $1", [(a.ticker, Side.NO), (b.ticker, Side.NO)]))
    spreads: dict[str, list[NbaMarket]] = {}
    for m in markets:
        if m.kind == "spread" and m.yes_team and m.strike_tenths is not None:
            spreads.setdefault(m.yes_team, []).append(m)
    totals = sorted(
        (m for m in markets if m.kind == "total" and m.strike_tenths is not None),
        key=lambda m: m.strike_tenths or 0,
    )
    if cfg.win_vs_spread:
        for team, ladder in spreads.items():
            win = wins.get(team)
            for s in ladder:
                if win is not None and (s.strike_tenths or 0) >= 0:
                    why = f"{team} by more than {s.strike_tenths}/10 implies {team} wins"
                    out.append((why, [(win.ticker, Side.YES), (s.ticker, Side.NO)]))
    if cfg.ladders:
        ladders = [sorted(ls, key=lambda m: m.strike_tenths or 0) for ls in spreads.values()]
        for ladder in [*ladders, totals]:
            for lo, hi in combinations(ladder, 2):
                if (lo.strike_tenths or 0) < (hi.strike_tenths or 0):
                    why = f"over {hi.strike_tenths}/10 implies over {lo.strike_tenths}/10"
                    out.append((why, [(lo.ticker, Side.YES), (hi.ticker, Side.NO)]))
    return out


@register
class Correlation(Strategy):
    name = "correlation"
    Config = CorrelationConfig
    kinds = (BookSnapshot, BookDelta)

    def __init__(self, config: CorrelationConfig) -> None:
        super().__init__(config)
        self.cfg = config
        # game -> (its markets as last seen, their bundles): rebuilt only when the markets change
        self._bundles: dict[int, tuple[tuple[NbaMarket, ...], list[tuple[str, list[Leg]]]]] = {}

    def on_event(self, event: Event, ctx: Context) -> list[Decision]:
        nba = ctx.nba
        if nba is None:
            self.status = "the NBA side is off"
            return []
        if not isinstance(event, BookSnapshot | BookDelta):
            return []
        found = nba.market_of(event.ticker)
        if found is None:
            return []
        return self._game(nba, found[0], ctx)

    def _game(self, nba: NbaState, game_id: int, ctx: Context) -> list[Decision]:
        cfg = self.cfg
        game = nba.games.get(game_id)
        if game is None or game.status is GameStatus.FINAL:
            self.status = f"game {game_id} is final or unknown"
            return []
        best: tuple[int, str, list[tuple[Leg, int, int, int]]] | None = None
        stale = ""
        # a leg's price (or why it has none) is the same in every bundle it is in: once a call
        memo: dict[Leg, tuple[Leg, int, int, int] | str] = {}
        for why, legs in self._game_bundles(game_id, nba.markets.get(game_id, [])):
            priced = self._price(legs, ctx, memo)
            if isinstance(priced, str):
                stale = stale or priced
                continue
            edge = PRICE_SCALE - sum(price + fee for _, price, fee, _ in priced)
            if best is None or edge > best[0]:
                best = (edge, why, priced)
        if best is None:
            self.status = stale or f"game {game_id}: no bundle to price"
            return []
        edge, why, priced = best
        if edge < cfg.min_edge_cc:
            self.status = (
                f"game {game_id}: consistent (best bundle {cents(edge)}){stale and '; '}{stale}"
            )
            return []
        count = min(whole(ctx, ticker, min(cfg.count, size)) for (ticker, _), _, _, size in priced)
        if count <= 0:
            return []
        said = " + ".join(f"{side} {t} @{p}" for (t, side), p, _, _ in priced)
        fees = sum(f for _, _, f, _ in priced)
        signal = f"{why}: {said} + fees {fees} = {PRICE_SCALE - edge} < $1, edge {cents(edge)}"
        self.status = f"game {game_id}: buy bundle ({signal})"
        return [
            Intent(t, side, Action.BUY, count, p, signal=signal) for (t, side), p, _, _ in priced
        ]

    def _game_bundles(self, game_id: int, markets: list[NbaMarket]) -> list[tuple[str, list[Leg]]]:
        key = tuple(markets)
        cached = self._bundles.get(game_id)
        if cached is None or cached[0] != key:
            cached = self._bundles[game_id] = (key, bundles(markets, self.cfg))
        return cached[1]

    def _price(
        self, legs: list[Leg], ctx: Context, memo: dict[Leg, tuple[Leg, int, int, int] | str]
    ) -> list[tuple[Leg, int, int, int]] | str:
        """Each leg's ask, fee and size, or why the bundle cannot be bought now (the first
        leg's reason). ``memo`` holds the legs priced already for this event."""
        out: list[tuple[Leg, int, int, int]] = []
        for leg in legs:
            priced = memo.get(leg)
            if priced is None:
                priced = memo[leg] = self._leg(leg, ctx)
            if isinstance(priced, str):
                return priced
            out.append(priced)
        return out

    def _leg(self, leg: Leg, ctx: Context) -> tuple[Leg, int, int, int] | str:
        ticker, side = leg
        if ctx.position(ticker) or has_open_orders(ctx, ticker):
            return f"{ticker}: already held or ordered"
        book: OrderBook | None
        book, why = usable_book(ctx, ticker)
        if book is None:
            return why
        ask = best_ask(book, side)
        if ask is None:
            return f"{ticker}: no {side} ask"
        return leg, ask[0], fee_cc(ctx, ticker, self.cfg.count, ask[0]), ask[1]
