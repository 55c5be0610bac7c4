"""``ev_multi``: expected value from a blend of the sportsbook consensus and the in-game model.

The fair probability of a game-winner market is ``consensus_weight`` x the no-vig moneyline
consensus + ``model_weight`` x the win-probability model (``NbaState.fair_ppm``), weights
normalised; an input with weight 0 is not read, one with weight is checked for freshness (odds:
``min_books`` books, each quote at most ``max_odds_age_ms`` old; model: the score at most
``max_score_age_ms`` old while the game is live) and, when stale, keeps the strategy out. Buy the
side whose expected value at the ask, after the taker fee, is at least ``min_ev_cc`` a contract,
sized by fractional Kelly: ``kelly_ppm`` of the full Kelly stake of ``bankroll_dollars``, capped
at ``max_order`` per order and ``max_position`` per market. Exit at the bid when selling is worth
``exit_ev_cc`` more than holding (the price went past the fair value).
"""

from __future__ import annotations

from dataclasses import dataclass

from kalshi.orderbook import OrderBook
from models import (
    COUNT_SCALE,
    MICROS_PER_DOLLAR,
    PRICE_SCALE,
    Action,
    BookDelta,
    BookSnapshot,
    Event,
    GameState,
    OddsQuote,
    Side,
)
from nba.state import NbaState
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
    edge_cc,
    fee_cc,
    fresh_consensus,
    fresh_game,
    has_open_orders,
    held,
    usable_book,
    whole,
)


@dataclass(frozen=True, slots=True)
class EvMultiConfig:
    consensus_weight: int = 500_000  # ppm: half the consensus...
    model_weight: int = 500_000  # ...half the in-game model
    min_books: int = 3  # sportsbooks the consensus must have
    max_odds_age_ms: int = 120_000  # every book's quote at most this old
    max_score_age_ms: int = 60_000  # a live game's score at most this old
    min_ev_cc: int = 200  # buy when fair - ask - fee is at least $0.02 a contract
    exit_ev_cc: int = 200  # sell when bid - fee - fair is at least $0.02 a contract
    kelly_ppm: int = 250_000  # a quarter Kelly
    bankroll_dollars: int = 1_000  # the stake Kelly sizes from
    max_order: int = 2_000  # hundredths: at most 20 contracts an order
    max_position: int = 5_000  # hundredths: at most 50 contracts a market

    def validate(self) -> None:
        check_fraction_ppm(self, "consensus_weight", "model_weight", "kelly_ppm")
        check(
            self.consensus_weight + self.model_weight > 0,
            "model_weight",
            "the weights must not both be 0",
        )
        check_positive(self, "min_books", "max_odds_age_ms", "max_score_age_ms", "bankroll_dollars")
        check_not_negative(self, "min_ev_cc", "exit_ev_cc")
        check_whole_contracts(self, "max_order", "max_position")


def kelly_count(fair_ppm: int, cost_cc: int, fraction_ppm: int, bankroll_micros: int) -> int:
    """Hundredths to buy: the Kelly fraction of a bet paying $1 for ``cost_cc`` (fee included)
    that wins with ``fair_ppm``, f* = (p - c) / (1 - c), times ``fraction_ppm``, of the bankroll."""
    if cost_cc >= PRICE_SCALE or cost_cc <= 0:
        return 0
    p_cc = fair_ppm * PRICE_SCALE // PPM
    if p_cc <= cost_cc:
        return 0
    # stake (micros) = bankroll x fraction x (p - c) / (1 - c); contracts = stake / cost
    stake = bankroll_micros * fraction_ppm // PPM * (p_cc - cost_cc) // (PRICE_SCALE - cost_cc)
    # one contract costs cost_cc x 100 micros; hundredths = stake / (cost_cc x 100) x 100
    return stake // cost_cc


@register
class EvMulti(Strategy):
    name = "ev_multi"
    Config = EvMultiConfig
    kinds = (OddsQuote, GameState, BookSnapshot, BookDelta)

    def __init__(self, config: EvMultiConfig) -> None:
        super().__init__(config)
        self.cfg = config

    def on_event(self, event: Event, ctx: Context) -> list[Decision]:
        nba = ctx.nba
        if nba is None:
            self.status = "the NBA side is off"
            return []
        if isinstance(event, OddsQuote | GameState):
            game_id = event.game_id
        elif isinstance(event, BookSnapshot | BookDelta):
            found = nba.market_of(event.ticker)
            if found is None or found[1].kind != "game":
                return []
            game_id = found[0]
        else:
            return []
        fair, why = self.fair_home(nba, game_id, ctx.now_ms)
        if fair is None:
            self.status = why
            return []
        game = nba.games[game_id]
        out: list[Decision] = []
        notes: list[str] = []  # each market's note joins the status
        for m in nba.markets.get(game_id, ()):
            if m.kind != "game":
                continue
            self.status = ""
            yes_fair = fair if m.yes_team == game.home else PPM - fair
            out += self._market(m.ticker, yes_fair, why, ctx)
            if self.status:
                notes.append(self.status)
        self.status = "; ".join(notes)
        return out

    def fair_home(self, nba: NbaState, game_id: int, now_ms: int) -> tuple[int | None, str]:
        """The blended home-win probability and how it was made, or None and why not."""
        cfg = self.cfg
        # the score matters only to the model: without it, any age will do
        score_age = cfg.max_score_age_ms if cfg.model_weight else 1 << 62
        g, why = fresh_game(nba, game_id, now_ms, score_age)
        if g is None:
            return None, why
        parts: list[tuple[int, int]] = []
        said: list[str] = []
        if cfg.consensus_weight:
            c, why = fresh_consensus(
                nba, game_id, "moneyline", now_ms, cfg.min_books, cfg.max_odds_age_ms
            )
            if c is None:
                return None, why
            parts.append((cfg.consensus_weight, c.fair_ppm))
            said.append(f"consensus {c.fair_ppm} ({len(c.books)} books)")
        if cfg.model_weight:
            model = nba.home_win_ppm(game_id)
            if model is None:
                return None, f"no model value for game {game_id} (no line yet)"
            parts.append((cfg.model_weight, model))
            said.append(f"model {model}")
        total = sum(w for w, _ in parts)
        fair = (sum(w * p for w, p in parts) + total // 2) // total
        return fair, f"home fair {fair} ppm = " + " + ".join(said)

    def _market(self, ticker: str, yes_fair: int, how: str, ctx: Context) -> list[Decision]:
        cfg = self.cfg
        book, why = usable_book(ctx, ticker)
        if book is None:
            self.status = why
            return []
        if has_open_orders(ctx, ticker):
            return []
        side, count = held(ctx, ticker)
        if side is not None:
            fair = yes_fair if side is Side.YES else PPM - yes_fair
            bid = best_bid(book, side)
            if bid is not None:
                fee = fee_cc(ctx, ticker, count, bid[0])
                gain = bid[0] - fee - fair // 100
                if gain >= cfg.exit_ev_cc:
                    self.status = f"{ticker}: sell {side} at {bid[0]}, {cents(gain)} over fair"
                    return [
                        Intent(
                            ticker,
                            side,
                            Action.SELL,
                            count,
                            bid[0],
                            probability_ppm=fair,
                            signal=f"{how}; bid {bid[0]} beats fair by {cents(gain)}",
                        )
                    ]
        return self._buy(ticker, yes_fair, side, count, book, how, ctx)

    def _buy(
        self,
        ticker: str,
        yes_fair: int,
        side_held: Side | None,
        count_held: int,
        book: OrderBook,
        how: str,
        ctx: Context,
    ) -> list[Decision]:
        cfg = self.cfg
        for side in (Side.YES, Side.NO):
            if side_held is not None and side is not side_held:
                continue
            ask = best_ask(book, side)
            if ask is None:
                continue
            fair = yes_fair if side is Side.YES else PPM - yes_fair
            fee = fee_cc(ctx, ticker, COUNT_SCALE, ask[0])
            ev = edge_cc(fair, ask[0], fee)
            if ev < cfg.min_ev_cc:
                continue
            sized = kelly_count(
                fair, ask[0] + fee, cfg.kelly_ppm, cfg.bankroll_dollars * MICROS_PER_DOLLAR
            )
            room = cfg.max_position - count_held
            count = whole(ctx, ticker, min(sized, cfg.max_order, room))
            if count <= 0:
                self.status = f"{ticker}: EV {cents(ev)} but Kelly or the caps size it to 0"
                return []
            self.status = f"{ticker}: buy {count / 100:g} {side} at {ask[0]}, EV {cents(ev)}"
            return [
                Intent(
                    ticker,
                    side,
                    Action.BUY,
                    count,
                    ask[0],
                    probability_ppm=fair,
                    signal=f"{how}; EV {cents(ev)} at ask {ask[0]} after fee; "
                    f"Kelly {sized / 100:g}",
                )
            ]
        self.status = f"{ticker}: no side with EV >= {cents(cfg.min_ev_cc)}"
        return []
