"""A seeded night of simulated NBA games, pure (no I/O, no clock of its own): call ``step(now_ms)``.

Pace: each team gets ~100 possessions per 48 minutes (6..23 s of game clock each), scoring 0/1/2/3
points with a mean of ~1.16 per possession, so ~230 points a game. Quarters of 12 minutes, a break
after Q1 and Q3, halftime, 5-minute overtimes while tied. ``acceleration`` = game seconds per wall
second.

The public line of a game comes from team ratings and home court; what the scoring follows is
that line plus tonight's hidden form (``sim.nba_truth``), which nothing outside the simulator sees.
The true probabilities (``true_*_ppm``) know the form; sportsbooks (``sim.nba_books``) see them
late, biased and vigged. The simulator never uses the app's win-probability model.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from models import GameState, GameStatus, OddsQuote
from sim import nba_truth
from sim.nba_books import Books, Truth, half_tenths
from sim.nba_truth import OT_S, POSS_MS, QUARTER_S, REGULATION_S, Hidden, Situation

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


@dataclass
class SimGame:
    """One game: the public line (``margin``, ``pregame_total`` and their half-point lines), the
    hidden form (``hidden``, ``edge``, ``pace``: never shown) and the state of play."""

    game_id: int
    date: str
    home: str
    away: str
    start_ms: int
    margin: float  # expected home minus away over 48 minutes, before the form
    pregame_total: float
    home_spread_tenths: int
    total_tenths: int
    hidden: Hidden
    rng: random.Random
    edge: float = 0.0  # the form now: home scoring-rate edge over the line, points per 48 min
    pace: float = 0.0  # the form now: total-points rate over the pregame total
    form_ms: int = 0  # game-clock ms the form was last moved to
    home_score: int = 0
    away_score: int = 0
    period: int = 0
    clock_ms: int = QUARTER_S * 1000  # game clock left in the period
    status: GameStatus = GameStatus.SCHEDULED
    in_break: bool = False
    game_ms: int = 0  # game-time position processed so far (clock + breaks)
    played_ms: int = 0  # game clock run so far
    next_poss_ms: int = 0  # game-time of the next possession end
    home_ball: bool = True
    run_home: bool | None = None  # who scored the last points, and how many since the other did
    run_points: int = 0
    runs: int = 0  # runs so far: a new one starts whenever the other team scores
    segments: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, period)

    @property
    def seconds_left(self) -> int:
        return (self.clock_ms + 999) // 1000

    def situation(self) -> Situation:
        return Situation(
            self.home_score - self.away_score,
            self.home_score + self.away_score,
            self.period,
            self.clock_ms / 1000,
            self.status is GameStatus.FINAL,
            self.margin,
            self.pregame_total,
            self.edge,
            self.pace,
            self.hidden,
            self.home_ball,
        )


class NightSim:
    """A night of up to 15 games. All times are epoch ms; deterministic for a seed: the scores
    do not depend on how often ``step`` is called, the books' quotes do."""

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
            game_rng = random.Random(f"{seed}/{gid}")
            self.games[gid] = SimGame(
                gid,
                date,
                home,
                away,
                start_ms + i * stagger_ms,
                margin,
                total,
                half_tenths(-margin),
                half_tenths(total),
                Hidden.draw(game_rng),
                game_rng,
            )
        self.books = Books(seed, list(self.games))
        self.now_ms = 0

    # ----- game progress ------------------------------------------------------------------------

    def _move_form(self, g: SimGame) -> None:
        """The hidden form, moved along the game clock to now (it rests during breaks)."""
        dt = (g.played_ms - g.form_ms) / 1000 / REGULATION_S
        if dt <= 0:
            return
        g.edge = nba_truth.ou_step(g.edge, g.hidden.s_edge, dt, g.rng.gauss(0.0, 1.0))
        g.pace = nba_truth.ou_step(g.pace, g.hidden.s_pace, dt, g.rng.gauss(0.0, 1.0))
        g.form_ms = g.played_ms

    def _possession(self, g: SimGame) -> None:
        self._move_form(g)
        a_home, a_away = nba_truth.adjustments(g.margin, g.pregame_total, g.edge, g.pace)
        pts = nba_truth.points(g.rng.random(), a_home if g.home_ball else a_away)
        if pts:
            if g.home_ball:
                g.home_score += pts
            else:
                g.away_score += pts
            if g.run_home is g.home_ball:
                g.run_points += pts
            else:
                g.run_home, g.run_points = g.home_ball, pts
                g.runs += 1
        g.home_ball = not g.home_ball
        g.next_poss_ms = g.game_ms + g.rng.randint(*POSS_MS)

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
                g.next_poss_ms = g.game_ms + g.rng.randint(*POSS_MS)
                continue
            period_end = g.game_ms + g.clock_ms
            nxt = min(g.next_poss_ms, period_end)
            if nxt > target_game_ms:
                g.clock_ms -= target_game_ms - g.game_ms
                g.played_ms += target_game_ms - g.game_ms
                g.game_ms = target_game_ms
                return
            g.clock_ms -= nxt - g.game_ms
            g.played_ms += nxt - g.game_ms
            g.game_ms = nxt
            if nxt == g.next_poss_ms and g.clock_ms > 0:
                self._possession(g)
                continue
            self._end_period(g)

    def _end_period(self, g: SimGame) -> None:
        g.clock_ms = 0
        self._move_form(g)
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
                    g.next_poss_ms = g.rng.randint(*POSS_MS)
                self._advance(g, int((now_ms - g.start_ms) * self.acceleration))
            after = (g.home_score, g.away_score, g.status, g.period, g.seconds_left)
            if after != before:
                out.append(self._snapshot(g, now_ms))
            if g.status is not GameStatus.FINAL:
                margin, total = nba_truth.expected(g.situation())
                truth = Truth(now_ms, self.true_yes_ppm(g.game_id), margin, total)
                self.books.record(g.game_id, truth)
                out.extend(self.books.quote(g.game_id, now_ms))
        return out

    def state(self, game_id: int) -> GameState:
        return self._snapshot(self.games[game_id], self.now_ms)

    def states(self) -> list[GameState]:
        return [self._snapshot(g, self.now_ms) for g in self.games.values()]

    def run(self, game_id: int) -> tuple[bool | None, int, int]:
        """The scoring run now: (home scored it, else away, None before any points; its points;
        the number of runs so far, which tells one run from the next)."""
        g = self.games[game_id]
        return g.run_home, g.run_points, g.runs

    # ----- the truth ----------------------------------------------------------------------------

    def true_yes_ppm(self, game_id: int, yes_team: str | None = None) -> int:
        """True probability that ``yes_team`` (default: home) wins, ppm: it knows the form."""
        g = self.games[game_id]
        p = nba_truth.to_ppm(nba_truth.home_win(g.situation()))
        return p if yes_team in (None, g.home) else nba_truth.PPM - p

    def true_spread_ppm(self, game_id: int, team: str, strike_tenths: int) -> int:
        """True probability that ``team`` wins by more than the strike."""
        g = self.games[game_id]
        return nba_truth.to_ppm(
            nba_truth.margin_over(g.situation(), team == g.home, strike_tenths / 10)
        )

    def true_total_ppm(self, game_id: int, strike_tenths: int) -> int:
        """True probability that the total goes over the strike."""
        g = self.games[game_id]
        return nba_truth.to_ppm(nba_truth.total_over(g.situation(), strike_tenths / 10))

    def winner(self, game_id: int) -> str | None:
        g = self.games[game_id]
        if g.status is not GameStatus.FINAL:
            return None
        return g.home if g.home_score > g.away_score else g.away

    def odds(self, game_ids: set[int] | None = None) -> list[OddsQuote]:
        """The latest quote per (game, vendor, market)."""
        return self.books.latest(game_ids)
