"""A seeded night of simulated NBA games, pure (no I/O, no clock of its own): call ``step(now_ms)``.

Pace: each team gets ~100 possessions per 48 minutes (6..23 s of game clock each), scoring 0/1/2/3
points with a mean of ~1.16 per possession, so ~230 points a game and a final-margin spread around
the line of ~16 points, close to Stern's sigma. Quarters of 12 minutes, a break after Q1 and Q3,
halftime, 5-minute overtimes while tied. ``acceleration`` = game seconds per wall second.
Sportsbook odds come from the model fair value seen with a per-vendor lag (sometimes none: a book
then leads), noise and vig.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

from models import GameState, GameStatus, OddsQuote
from nba import winprob
from nba.odds import american_from_probability

QUARTER_S = 720
OT_S = 300
QUARTER_BREAK_S = 130
HALFTIME_S = 900
OT_BREAK_S = 120
HOME_EDGE = 2.5  # points

# (id, abbreviation, city, name, conference, division)
TEAMS: tuple[tuple[int, str, str, str, str, str], ...] = (
    (1, "ATL", "Atlanta", "Hawks", "East", "Southeast"),
    (2, "BOS", "Boston", "Celtics", "East", "Atlantic"),
    (3, "BKN", "Brooklyn", "Nets", "East", "Atlantic"),
    (4, "CHA", "Charlotte", "Hornets", "East", "Southeast"),
    (5, "CHI", "Chicago", "Bulls", "East", "Central"),
    (6, "CLE", "Cleveland", "Cavaliers", "East", "Central"),
    (7, "DAL", "Dallas", "Mavericks", "West", "Southwest"),
    (8, "DEN", "Denver", "Nuggets", "West", "Northwest"),
    (9, "DET", "Detroit", "Pistons", "East", "Central"),
    (10, "GSW", "Golden State", "Warriors", "West", "Pacific"),
    (11, "HOU", "Houston", "Rockets", "West", "Southwest"),
    (12, "IND", "Indiana", "Pacers", "East", "Central"),
    (13, "LAC", "LA", "Clippers", "West", "Pacific"),
    (14, "LAL", "Los Angeles", "Lakers", "West", "Pacific"),
    (15, "MEM", "Memphis", "Grizzlies", "West", "Southwest"),
    (16, "MIA", "Miami", "Heat", "East", "Southeast"),
    (17, "MIL", "Milwaukee", "Bucks", "East", "Central"),
    (18, "MIN", "Minnesota", "Timberwolves", "West", "Northwest"),
    (19, "NOP", "New Orleans", "Pelicans", "West", "Southwest"),
    (20, "NYK", "New York", "Knicks", "East", "Atlantic"),
    (21, "OKC", "Oklahoma City", "Thunder", "West", "Northwest"),
    (22, "ORL", "Orlando", "Magic", "East", "Southeast"),
    (23, "PHI", "Philadelphia", "76ers", "East", "Atlantic"),
    (24, "PHX", "Phoenix", "Suns", "West", "Pacific"),
    (25, "POR", "Portland", "Trail Blazers", "West", "Northwest"),
    (26, "SAC", "Sacramento", "Kings", "West", "Pacific"),
    (27, "SAS", "San Antonio", "Spurs", "West", "Southwest"),
    (28, "TOR", "Toronto", "Raptors", "East", "Atlantic"),
    (29, "UTA", "Utah", "Jazz", "West", "Northwest"),
    (30, "WAS", "Washington", "Wizards", "East", "Southeast"),
)
TEAM_BY_ABBR = {t[1]: t for t in TEAMS}

# (vendor, overround, typical lag in wall ms): kalshi/polymarket are exchanges, not books
VENDORS: tuple[tuple[str, float, int], ...] = (
    ("draftkings", 0.045, 4_000),
    ("fanduel", 0.04, 6_000),
    ("caesars", 0.05, 9_000),
    ("betmgm", 0.05, 12_000),
    ("kalshi", 0.01, 8_000),
    ("polymarket", 0.02, 10_000),
)
ODDS_EVERY_MS = 5_000


def _half(x: float) -> int:
    """Nearest half point, in tenths."""
    return round(x * 2) * 5


@dataclass
class SimGame:
    game_id: int
    date: str
    home: str
    away: str
    start_ms: int
    expected_margin: float  # home minus away over 48 minutes
    pregame_total: float
    home_spread_tenths: int
    total_tenths: int
    rng: random.Random
    home_score: int = 0
    away_score: int = 0
    period: int = 0
    clock_ms: int = QUARTER_S * 1000  # game clock left in the period
    status: GameStatus = GameStatus.SCHEDULED
    in_break: bool = False
    game_ms: int = 0  # game-time position processed so far (clock + breaks)
    next_poss_ms: int = 0  # game-time of the next possession end
    home_ball: bool = True
    segments: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, period)

    @property
    def seconds_left(self) -> int:
        return (self.clock_ms + 999) // 1000


class NightSim:
    """A night of up to 15 games. All times are epoch ms; deterministic for a seed."""

    def __init__(
        self,
        seed: int,
        date: str,
        start_ms: int,
        n_games: int = 15,
        *,
        acceleration: float = 1.0,
        stagger_ms: int = 0,
    ) -> None:
        if not 1 <= n_games <= 15:
            raise ValueError("a night has 1..15 games")
        rng = random.Random(seed)
        self.acceleration = acceleration
        self.date = date
        ratings = {t[1]: rng.gauss(0.0, 4.0) for t in TEAMS}
        abbrs = [t[1] for t in TEAMS]
        rng.shuffle(abbrs)
        self.games: dict[int, SimGame] = {}
        base_id = 18_000_000 + rng.randrange(100_000) * 100
        for i in range(n_games):
            away, home = abbrs[2 * i], abbrs[2 * i + 1]
            margin = ratings[home] - ratings[away] + HOME_EDGE
            total = rng.gauss(226.0, 6.0)
            gid = base_id + i
            self.games[gid] = SimGame(
                gid,
                date,
                home,
                away,
                start_ms + i * stagger_ms,
                margin,
                total,
                _half(-margin),
                _half(total),
                random.Random(f"{seed}/{gid}"),
            )
        self._vendor_rng = random.Random(seed + 1)
        self._odds: dict[tuple[int, str], OddsQuote] = {}
        self._odds_next: dict[tuple[int, str], int] = {}
        self._history: dict[int, list[tuple[int, int, int, int, int]]] = {g: [] for g in self.games}
        self.now_ms = 0

    # ----- game progress ------------------------------------------------------------------------

    def _points(self, g: SimGame, home: bool) -> int:
        adj = (1 if home else -1) * g.expected_margin / 400
        adj += (g.pregame_total - 232.0) / 800  # pace of this matchup
        u = g.rng.random()
        if u < 0.13:
            return 3
        if u < 0.13 + 0.37 + adj:
            return 2
        if u < 0.53 + adj:
            return 1
        return 0

    def _advance(self, g: SimGame, target_game_ms: int) -> None:
        while g.status is not GameStatus.FINAL and g.game_ms < target_game_ms:
            if g.in_break:
                _, end, _ = g.segments[-1]
                if target_game_ms < end:
                    g.game_ms = target_game_ms
                    return
                g.game_ms = end
                g.in_break = False
                g.status = GameStatus.LIVE
                g.period += 1
                g.clock_ms = (QUARTER_S if g.period <= 4 else OT_S) * 1000
                g.next_poss_ms = g.game_ms + g.rng.randint(6_000, 23_000)
                continue
            period_end = g.game_ms + g.clock_ms
            nxt = min(g.next_poss_ms, period_end)
            if nxt > target_game_ms:
                g.clock_ms -= target_game_ms - g.game_ms
                g.game_ms = target_game_ms
                return
            g.clock_ms -= nxt - g.game_ms
            g.game_ms = nxt
            if nxt == g.next_poss_ms and g.clock_ms > 0:
                pts = self._points(g, g.home_ball)
                if g.home_ball:
                    g.home_score += pts
                else:
                    g.away_score += pts
                g.home_ball = not g.home_ball
                g.next_poss_ms = g.game_ms + g.rng.randint(6_000, 23_000)
                continue
            self._end_period(g)

    def _end_period(self, g: SimGame) -> None:
        g.clock_ms = 0
        if g.period >= 4 and g.home_score != g.away_score:
            g.status = GameStatus.FINAL
            return
        brk = HALFTIME_S if g.period == 2 else OT_BREAK_S if g.period >= 4 else QUARTER_BREAK_S
        g.segments.append((g.game_ms, g.game_ms + brk * 1000, g.period))
        g.in_break = True
        if g.period == 2:
            g.status = GameStatus.HALFTIME

    def _snapshot(self, g: SimGame, now_ms: int) -> GameState:
        return GameState(
            g.game_id,
            g.date,
            g.home,
            g.away,
            g.home_score,
            g.away_score,
            g.status,
            g.period,
            g.seconds_left if g.status is not GameStatus.SCHEDULED else QUARTER_S,
            g.start_ms,
            now_ms,
            now_ms,
        )

    def step(self, now_ms: int) -> list[GameState | OddsQuote]:
        """Advance every game to ``now_ms``; returns the game states and odds quotes that changed.
        Calling with an earlier time than before is a no-op."""
        if now_ms < self.now_ms:
            return []
        self.now_ms = now_ms
        out: list[GameState | OddsQuote] = []
        for g in self.games.values():
            before = (g.home_score, g.away_score, g.status, g.period, g.seconds_left)
            if now_ms >= g.start_ms:
                if g.status is GameStatus.SCHEDULED:
                    g.status, g.period, g.in_break = GameStatus.LIVE, 1, False
                    g.next_poss_ms = g.rng.randint(6_000, 23_000)
                self._advance(g, int((now_ms - g.start_ms) * self.acceleration))
            after = (g.home_score, g.away_score, g.status, g.period, g.seconds_left)
            if after != before:
                out.append(self._snapshot(g, now_ms))
            self._record_fair(g, now_ms)
            out.extend(self._update_odds(g, now_ms))
        return out

    def state(self, game_id: int) -> GameState:
        return self._snapshot(self.games[game_id], self.now_ms)

    def states(self) -> list[GameState]:
        return [self._snapshot(g, self.now_ms) for g in self.games.values()]

    def game_seconds_left(self, game_id: int) -> int:
        g = self.games[game_id]
        if g.status is GameStatus.FINAL:
            return 0
        return winprob.seconds_left_in_game(g.period, g.seconds_left)

    # ----- fair values --------------------------------------------------------------------------

    def fair_yes_ppm(self, game_id: int, yes_team: str | None = None) -> int:
        """Model probability that ``yes_team`` (default: home) wins, ppm."""
        g = self.games[game_id]
        p = winprob.home_win_ppm(self.state(game_id), g.home_spread_tenths)
        return p if yes_team in (None, g.home) else winprob.PPM - p

    def fair_spread_ppm(self, game_id: int, team: str, strike_tenths: int) -> int:
        g = self.games[game_id]
        return winprob.team_margin_over_ppm(
            self.state(game_id), team, g.home_spread_tenths, strike_tenths
        )

    def fair_total_ppm(self, game_id: int, strike_tenths: int) -> int:
        return winprob.total_over_ppm(
            self.state(game_id), self.games[game_id].total_tenths, strike_tenths
        )

    def winner(self, game_id: int) -> str | None:
        g = self.games[game_id]
        if g.status is not GameStatus.FINAL:
            return None
        return g.home if g.home_score > g.away_score else g.away

    # ----- odds ---------------------------------------------------------------------------------

    def _record_fair(self, g: SimGame, now_ms: int) -> None:
        left = self.game_seconds_left(g.game_id)
        r = left / winprob.REGULATION_SECONDS
        exp_margin = g.home_score - g.away_score + g.expected_margin * r
        exp_total = g.home_score + g.away_score + g.pregame_total * r
        hist = self._history[g.game_id]
        hist.append(
            (now_ms, self.fair_yes_ppm(g.game_id), _half(-exp_margin), _half(exp_total), left)
        )
        if len(hist) > 400:
            del hist[:200]

    def _seen(self, game_id: int, at_ms: int) -> tuple[int, int, int, int, int]:
        hist = self._history[game_id]
        for row in reversed(hist):
            if row[0] <= at_ms:
                return row
        return hist[0]

    def _update_odds(self, g: SimGame, now_ms: int) -> list[OddsQuote]:
        if g.status is GameStatus.FINAL:
            return []
        out: list[OddsQuote] = []
        rng = self._vendor_rng
        for vendor, vig, lag in VENDORS:
            key = (g.game_id, vendor)
            if now_ms < self._odds_next.get(key, 0):
                continue
            self._odds_next[key] = now_ms + ODDS_EVERY_MS + rng.randrange(ODDS_EVERY_MS)
            seen_at = now_ms - (0 if rng.random() < 0.15 else lag)  # sometimes this book leads
            _, fair_ppm, spread_t, total_t, _ = self._seen(g.game_id, seen_at)
            p = min(0.97, max(0.03, fair_ppm / winprob.PPM + rng.gauss(0.0, 0.01)))
            k = 1 + vig
            home_ml = american_from_probability(_frac(min(0.99, p * k)))
            away_ml = american_from_probability(_frac(min(0.99, (1 - p) * k)))
            juice = -100 - round(vig * 250)
            quotes = [
                OddsQuote(
                    g.game_id,
                    vendor,
                    "moneyline",
                    home_ml,
                    away_ml,
                    None,
                    None,
                    None,
                    now_ms,
                    now_ms,
                ),
                OddsQuote(
                    g.game_id, vendor, "spread", juice, juice, spread_t, None, None, now_ms, now_ms
                ),
                OddsQuote(
                    g.game_id, vendor, "total", None, None, total_t, juice, juice, now_ms, now_ms
                ),
            ]
            for q in quotes:
                prev = self._odds.get((g.game_id, f"{vendor}/{q.market}"))
                if prev is None or _odds_key(prev) != _odds_key(q):
                    self._odds[(g.game_id, f"{vendor}/{q.market}")] = q
                    out.append(q)
        return out

    def odds(self, game_ids: set[int] | None = None) -> list[OddsQuote]:
        """The latest quote per (game, vendor, market)."""
        return [
            q for (gid, _), q in sorted(self._odds.items()) if game_ids is None or gid in game_ids
        ]


def _frac(p: float) -> Fraction:
    return Fraction(round(p * 10_000), 10_000)


def _odds_key(q: OddsQuote) -> tuple[int | None, ...]:
    return (q.home_odds, q.away_odds, q.line_tenths, q.over_odds, q.under_odds)
