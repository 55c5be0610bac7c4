"""A simulated night's NBA games as Kalshi markets inside the market model (pure, seeded).

Every game of a ``NightSim`` becomes a KXNBAGAME event (one market per team), a KXNBASPREAD event
(strikes around the line for the favourite, two for the underdog) and a KXNBATOTAL event (five
strikes around the total), with ``floor_strike`` set as Kalshi does. Their prices follow the
night's truth the way a crowd would (``sim.nba_crowd``): late, with noise and, now and then, an
overreaction to a scoring run (or to nothing) that decays. Makers re-centre the book on that
target and pull quotes left far through it; takers trade at the touch, leaning toward the
target, so every trade takes resting size and books never cross. When a game is final its
markets close, are determined on the final score and settle ``settle_after_ms`` later; a market
that is not active is never traded.
"""

from __future__ import annotations

import bisect
import logging
import random
from dataclasses import dataclass

from models import GameStatus
from sim.catalogue import MONTHS, EventDef, Market, MarketDef
from sim.market_model import MarketModel, SimEvent, TickerEv
from sim.nba_crowd import Crowd
from sim.nba_games import TEAM_BY_ABBR, NightSim, SimGame

log = logging.getLogger(__name__)

PPM = 1_000_000
SAMPLE_MS = 250  # how often the crowd looks at the game (wall ms)
SLACK_TICKS = 3  # quotes further than this through the target are pulled
SETTLE_AFTER_MS = 10_000  # determined -> settled
GAME_WALL_S = 4_200  # a game's length in game seconds, breaks included (for close_time)
MAX_SHARE = 0.35  # of all trades, once FULL_GAMES games are live
FULL_GAMES = 4.0
STATUS_WEIGHT = {
    GameStatus.SCHEDULED: 0.1,
    GameStatus.LIVE: 1.0,
    GameStatus.HALFTIME: 0.3,
    GameStatus.FINAL: 0.0,
}
KIND_WEIGHT = {"game": 4.0, "spread": 1.0, "total": 1.0}


def kalshi_date(date: str) -> str:
    """'2026-01-07' -> '26JAN07', the date part of Kalshi's NBA tickers (the US game date)."""
    y, m, d = date.split("-")
    return f"{y[2:]}{MONTHS[int(m) - 1]}{d}"


def _points(tenths: int) -> str:
    return f"{tenths // 10}.{tenths % 10}"


def _cc(ppm: float, tick: int) -> int:
    """A probability in ppm to a price on the tick grid, kept inside (0, 1)."""
    cc = round(ppm / 100 / tick) * tick
    return max(tick, min(10_000 - tick, cc))


@dataclass(frozen=True, slots=True)
class Spec:
    """What a market's YES means: ``team`` wins (game), ``team`` wins by more than ``strike``
    tenths (spread), or the total is over ``strike`` tenths (total)."""

    kind: str
    team: str | None
    strike: int | None


def _settles_yes(spec: Spec, home: str, home_score: int, away_score: int) -> bool:
    if spec.kind == "total":
        assert spec.strike is not None
        return (home_score + away_score) * 10 > spec.strike
    lead = home_score - away_score if spec.team == home else away_score - home_score
    if spec.kind == "game":
        return lead > 0
    assert spec.strike is not None
    return lead * 10 > spec.strike


def _spread_strikes(g: SimGame) -> list[tuple[str, int]]:
    fav, dog = (g.home, g.away) if g.home_spread_tenths <= 0 else (g.away, g.home)
    line = abs(g.home_spread_tenths)
    base = line if line % 10 == 5 else line + 5
    fav_strikes = sorted({s for s in (base - 30, base, base + 30) if s >= 15})
    return [(fav, s) for s in fav_strikes] + [(dog, 15), (dog, 45)]


def game_events(night: NightSim, g: SimGame) -> list[tuple[EventDef, list[MarketDef], list[Spec]]]:
    """The three Kalshi events of one game, their markets (mid = the truth now) and specs."""
    pair = f"{kalshi_date(g.date)}{g.away}{g.home}"
    away_city, home_city = TEAM_BY_ABBR[g.away][2], TEAM_BY_ABBR[g.home][2]
    matchup = f"{away_city} at {home_city}"
    sub = f"{g.away} at {g.home} ({MONTHS[int(g.date[5:7]) - 1].title()} {int(g.date[8:])})"
    out: list[tuple[EventDef, list[MarketDef], list[Spec]]] = []

    ev = EventDef(f"KXNBAGAME-{pair}", "KXNBAGAME", f"{matchup} Winner?", sub, "Sports", True)
    defs, specs = [], []
    for team in (g.away, g.home):
        city = TEAM_BY_ABBR[team][2]
        defs.append(
            MarketDef(
                f"{ev.event_ticker}-{team}",
                ev.title,
                city,
                city,
                None,
                "structured",
                100,
                _cc(night.true_yes_ppm(g.game_id, team), 100),
            )
        )
        specs.append(Spec("game", team, None))
    out.append((ev, defs, specs))

    ev = EventDef(f"KXNBASPREAD-{pair}", "KXNBASPREAD", f"{matchup}: Spread", sub, "Sports", False)
    defs, specs = [], []
    for team, strike in _spread_strikes(g):
        text = f"{TEAM_BY_ABBR[team][2]} wins by over {_points(strike)} Points"
        defs.append(
            MarketDef(
                f"{ev.event_ticker}-{team}{strike // 10}",
                f"{text}?",
                text,
                text,
                _points(strike),
                "greater",
                100,
                _cc(night.true_spread_ppm(g.game_id, team, strike), 100),
            )
        )
        specs.append(Spec("spread", team, strike))
    out.append((ev, defs, specs))

    ev = EventDef(
        f"KXNBATOTAL-{pair}", "KXNBATOTAL", f"{matchup}: Total Points", sub, "Sports", False
    )
    base = g.total_tenths if g.total_tenths % 10 == 5 else g.total_tenths + 5
    defs, specs = [], []
    for strike in range(base - 100, base + 101, 50):
        text = f"Over {_points(strike)} points scored"
        defs.append(
            MarketDef(
                f"{ev.event_ticker}-{strike // 10}",
                f"{text}?",
                text,
                text,
                _points(strike),
                "greater",
                100,
                _cc(night.true_total_ppm(g.game_id, strike), 100),
            )
        )
        specs.append(Spec("total", None, strike))
    out.append((ev, defs, specs))
    return out


@dataclass(slots=True)
class _Quote:
    """One market: what its YES means and the price the crowd aims at."""

    market: Market
    spec: Spec
    target: int  # centicents
    quoted: int = -1  # the target the book was last centred on


@dataclass(slots=True)
class _Game:
    game_id: int
    home: str
    crowd: Crowd
    quotes: list[_Quote]
    status: GameStatus
    settle_at: int | None = None  # set when closed and determined
    settled: bool = False


def _sign(spec: Spec, home: str) -> int:
    """+1 when YES is the home team doing well, -1 the away team, 0 a total."""
    return 0 if spec.team is None else 1 if spec.team == home else -1


class NbaMarkets:
    """The night's markets, attached to ``model`` as its managed markets."""

    def __init__(
        self,
        model: MarketModel,
        night: NightSim,
        *,
        seed: int,
        now_ms: int,
        settle_after_ms: int = SETTLE_AFTER_MS,
    ) -> None:
        self._model = model
        self._night = night
        self._rng = random.Random(f"nba-markets/{seed}")
        self._settle_after_ms = settle_after_ms
        self._games: dict[int, _Game] = {}
        self._by_ticker: dict[str, _Quote] = {}
        for gid, g in night.games.items():
            quotes: list[_Quote] = []
            close_ms = g.start_ms + int(GAME_WALL_S * 1000 / max(night.acceleration, 1e-9))
            for ev, defs, specs in game_events(night, g):
                for m, d, spec in zip(
                    model.add_managed_event(ev, defs, now_ms), defs, specs, strict=True
                ):
                    m.close_ms = max(close_ms, m.open_ms + 1)
                    q = _Quote(m, spec, d.mid)
                    quotes.append(q)
                    self._by_ticker[m.ticker] = q
            crowd = Crowd.start(
                self._rng,
                [_sign(q.spec, g.home) for q in quotes],
                [self._truth(gid, q.spec) for q in quotes],
            )
            self._games[gid] = _Game(gid, g.home, crowd, quotes, GameStatus.SCHEDULED)
        self._next_sample = 0
        self._pickable: list[_Quote] = []
        self._cum: list[float] = []
        self._share = 0.0
        self._reweight()
        model.attach(self)

    # -- reading -----------------------------------------------------------------------------

    def tickers(self, game_id: int) -> list[str]:
        return [q.market.ticker for q in self._games[game_id].quotes]

    def game_of(self, ticker: str) -> int | None:
        q = self._by_ticker.get(ticker)
        if q is None:
            return None
        return next(g.game_id for g in self._games.values() if q in g.quotes)

    def spec(self, ticker: str) -> Spec:
        return self._by_ticker[ticker].spec

    def target_cc(self, ticker: str) -> int:
        """The price the crowd currently aims at for this market."""
        return self._by_ticker[ticker].target

    # -- ManagedMarkets ----------------------------------------------------------------------

    def advance(self, now_ms: int, out: list[SimEvent]) -> None:
        self._night.step(now_ms)
        changed = False
        sample = now_ms >= self._next_sample
        if sample:
            self._next_sample = now_ms + SAMPLE_MS
        for g in self._games.values():
            if g.settled:
                continue
            if g.settle_at is not None:
                if now_ms >= g.settle_at:
                    self._settle(g, now_ms, out)
                continue
            status = self._night.games[g.game_id].status
            if status is GameStatus.FINAL:
                self._close(g, now_ms, out)
                changed = True
                continue
            if status is not g.status:
                g.status = status
                changed = True
            if sample:
                self._sample(g, now_ms, out)
        if changed:
            self._reweight()

    def take(self, n: int) -> int:
        if n <= 0 or not self._cum:
            return 0
        x = n * self._share
        k = int(x)
        if self._rng.random() < x - k:
            k += 1
        return min(k, n)

    def trade(self, k: int, now_ms: int, out: list[SimEvent]) -> None:
        rng = self._rng
        cum = self._cum
        model = self._model
        for _ in range(k):
            q = self._pickable[bisect.bisect_right(cum, rng.random() * cum[-1])]
            m = q.market
            bid = max(m.book_yes) if m.book_yes else 0
            ask = 10_000 - max(m.book_no) if m.book_no else 10_000
            lean = 0.85 if ask < q.target else 0.15 if bid > q.target else 0.5
            size = model.fill(m, rng.random() < lean, now_ms, out)
            self._requote(q, now_ms, out)
            out.append(TickerEv(m.index, size, now_ms))

    # -- pricing -----------------------------------------------------------------------------

    def _truth(self, game_id: int, spec: Spec) -> int:
        night = self._night
        if spec.kind == "game":
            return night.true_yes_ppm(game_id, spec.team)
        assert spec.strike is not None
        if spec.kind == "spread":
            assert spec.team is not None
            return night.true_spread_ppm(game_id, spec.team, spec.strike)
        return night.true_total_ppm(game_id, spec.strike)

    def _sample(self, g: _Game, now_ms: int, out: list[SimEvent]) -> None:
        truth = [self._truth(g.game_id, q.spec) for q in g.quotes]
        prices = g.crowd.sample(self._rng, now_ms, truth, self._night.run(g.game_id))
        for q, p in zip(g.quotes, prices, strict=True):
            q.target = _cc(p, q.market.tick)
            if q.target != q.quoted:
                self._requote(q, now_ms, out)

    def _requote(self, q: _Quote, now_ms: int, out: list[SimEvent]) -> None:
        """Pull quotes far through the target, quote near it when the touch is far, keep a few
        levels of depth; never crosses the book."""
        model, rng, m, target = self._model, self._rng, q.market, q.target
        t = m.tick
        slack = SLACK_TICKS * t
        for p in [p for p in m.book_yes if p > target + slack]:
            model.cancel_level(m, True, p, now_ms, out)
        for p in [p for p in m.book_no if 10_000 - p < target - slack]:
            model.cancel_level(m, False, p, now_ms, out)
        ask = 10_000 - max(m.book_no) if m.book_no else 10_000
        if (max(m.book_yes) if m.book_yes else 0) < target - 2 * t:
            p = target - t * rng.randint(1, 2)
            if t <= p < ask:
                model.add_level(m, True, p, now_ms, out)
        bid = max(m.book_yes) if m.book_yes else 0
        if ask > target + 2 * t:
            a = target + t * rng.randint(1, 2)
            if bid < a <= 10_000 - t:
                model.add_level(m, False, 10_000 - a, now_ms, out)
        for side, book in ((True, m.book_yes), (False, m.book_no)):
            while 0 < len(book) < 3 and min(book) > t:
                model.add_level(
                    m,
                    side,
                    min(book) - t * rng.randint(1, 3) if min(book) > 3 * t else min(book) - t,
                    now_ms,
                    out,
                )
        model.trim_book(m, now_ms, out)
        q.quoted = target

    # -- status and settlement ---------------------------------------------------------------

    def _reweight(self) -> None:
        pickable: list[_Quote] = []
        cum: list[float] = []
        total = 0.0
        games = 0.0
        for g in self._games.values():
            if g.settle_at is not None:
                continue
            w = STATUS_WEIGHT[g.status]
            games += w
            for q in g.quotes:
                if w > 0 and q.market.status == "active":
                    total += w * KIND_WEIGHT[q.spec.kind]
                    pickable.append(q)
                    cum.append(total)
        self._pickable, self._cum = pickable, cum
        self._share = MAX_SHARE * min(1.0, games / FULL_GAMES)

    def _close(self, g: _Game, now_ms: int, out: list[SimEvent]) -> None:
        sg = self._night.games[g.game_id]
        g.status = GameStatus.FINAL
        for q in g.quotes:
            m = q.market
            self._model.close_market(m, now_ms, out)
            yes = _settles_yes(q.spec, sg.home, sg.home_score, sg.away_score)
            self._model.determine_market(m, "yes" if yes else "no", now_ms, out)
        g.settle_at = now_ms + self._settle_after_ms
        log.info(
            "game %s %s %d-%d %s final: %d markets determined",
            g.game_id,
            sg.away,
            sg.away_score,
            sg.home_score,
            sg.home,
            len(g.quotes),
        )

    def _settle(self, g: _Game, now_ms: int, out: list[SimEvent]) -> None:
        for q in g.quotes:
            self._model.settle_market(q.market, now_ms, out)
        g.settled = True
