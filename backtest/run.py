"""One backtest: a recording through the live path, strategies and their controls on the desk,
and the figures drawn from what the desk did.

The world is ``ingest.driver``'s (the feed's dispatcher and parser, the pipeline with its books,
windows and analytics, on the recording's clock), with the NBA state, the paper desk and the
strategies added as the app adds them: the NBA state and the desk as pipeline listeners (the
desk through ``DeskRunner``, ticked on event time every ``TICK_MS``), then the strategies
(``trading.strategies.StrategyRunner``, as the app runs them, with ``backtest.harness``'s
controls on its place and cancel hooks). Nothing reads the wall clock or draws an unseeded
number, and every map the figures are drawn from is walked in sorted order, so a recording and
a parameter set give the same fills and the same figures on every run and machine
(``run_backtest`` returns them; the ``run`` block beside them in the report holds the timing
and is left out of comparisons).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import tempfile
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import strategies as strategies_package
from backtest import stats
from backtest.controls import control_account
from backtest.harness import (
    CONTROLS,
    MAX_FAILURES,
    ClosingLines,
    Controls,
    KeptRecords,
    game_clusters,
)
from ingest.driver import drive, open_world
from ingest.recording import open_recording, read_header
from ingest.replay import RecordPlayer
from models import MICROS_PER_DOLLAR, Action, NbaMarketsMatched, Side
from nba.state import KINDS as NBA_KINDS
from nba.state import NbaState
from paper import Desk, DeskConfig
from paper.metrics import Tally
from paper.records import Fill, OrderUpdate, Record
from strategies.base import REGISTRY, Strategy
from trading.runner import TICK_MS, DeskRunner
from trading.strategies import StrategyRunner

STEP = 10_000  # events between progress reports
FLUSH_EVERY = 5  # steps between writes of the world's SQLite batch
CURVE_POINTS = 600  # the most equity points kept per account for the charts
BALANCE = 10_000 * MICROS_PER_DOLLAR
Progress = Callable[[int, int], None]  # (records read, records in the file)


class ParamError(ValueError):
    """A --param or --sweep that names no strategy or field, or a value of the wrong type."""


def load_strategies() -> dict[str, type[Strategy]]:
    """Every strategy module under ``strategies/`` imported (each registers itself)."""
    for mod in pkgutil.iter_modules(strategies_package.__path__):
        importlib.import_module(f"strategies.{mod.name}")
    return dict(REGISTRY)


def _coerce(text: str, hint: Any, where: str) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(text, inner[0], where)
    try:
        if hint is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if hint in (int, float, str):
            return hint(text)
    except ValueError:
        raise ParamError(f"{where}: {text!r} is not a {hint.__name__}") from None
    raise ParamError(f"{where}: cannot set a field of type {hint}")


def build_config(cls: type[Strategy], overrides: Mapping[str, str]) -> Any:
    """The strategy's Config with ``overrides`` (text, as on the command line) applied."""
    config_cls = cls.Config
    hints = typing.get_type_hints(config_cls)
    names = {f.name for f in dataclasses.fields(config_cls)}
    values = {}
    for key, text in sorted(overrides.items()):
        where = f"{cls.name}.{key}"
        if key not in names:
            raise ParamError(
                f"{where}: no such parameter; {cls.name} has {', '.join(sorted(names))}"
            )
        values[key] = _coerce(text, hints[key], where)
    config = dataclasses.replace(config_cls(), **values)
    try:
        config.validate()
    except ValueError as exc:
        raise ParamError(f"{cls.name}: {exc}") from None
    return config


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What one backtest runs: the recording, the strategies and their parameters (text, as
    given), the desk's latency. ``label`` names the run in a sweep."""

    recording: str
    strategies: tuple[str, ...]
    params: tuple[tuple[str, str, str], ...] = ()  # (strategy, key, value)
    latency_ms: int = 150
    label: str = ""
    resamples: int = 2_000
    imports: tuple[str, ...] = ()  # modules that register strategies of their own (tests)

    def overrides(self, name: str) -> dict[str, str]:
        return {k: v for s, k, v in self.params if s == name}

    @property
    def recording_name(self) -> str:
        return Path(self.recording).name

    def seed(self, *parts: object) -> int:
        """A seed drawn from the run's parameters (and ``parts``): the same on every run."""
        return stats.seed_of(*parts, self.recording_name, sorted(self.params), self.latency_ms)


def count_records(path: str | Path) -> int:
    """Lines in the recording after its header: the progress bar's whole."""
    n = 0
    with open_recording(path) as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return max(0, n - 1)


def check(spec: RunSpec) -> dict[str, Any]:
    """The strategies' configs for ``spec``; ParamError naming what is wrong."""
    for module in spec.imports:
        importlib.import_module(module)
    known = load_strategies()
    unknown = [n for n in spec.strategies if n not in known]
    if unknown:
        have = ", ".join(sorted(known)) or "none"
        raise ParamError(f"unknown strategy {', '.join(unknown)}; have {have}")
    for s, key, _ in spec.params:
        if s not in spec.strategies:
            raise ParamError(f"{s}.{key}: {s} is not among --strategies")
    return {n: build_config(known[n], spec.overrides(n)) for n in sorted(set(spec.strategies))}


async def run_backtest(spec: RunSpec, *, progress: Progress | None = None) -> dict[str, Any]:
    """Run ``spec``; returns the report's figures for it (no wall-clock value among them)."""
    configs = check(spec)
    seeds = {n: spec.seed("random", n) for n in configs}
    header = read_header(spec.recording)
    total = count_records(spec.recording) if progress is not None else 0
    with tempfile.TemporaryDirectory(prefix="flowboard-backtest-") as tmp:
        world = await open_world(Path(tmp) / "backtest.db", header["started_ms"])
        nba = NbaState()
        closing = ClosingLines(nba)
        pipeline = world.pipeline
        # as the app: the NBA state, then the desk; the strategies see both as of the event
        pipeline.listen("closing-lines", closing.on_event, kinds=ClosingLines.KINDS)
        pipeline.listen("nba-state", nba.on_event, kinds=NBA_KINDS)
        accounts = Controls.accounts(configs)
        desk = Desk(DeskConfig(accounts=dict.fromkeys(accounts, BALANCE),
                               default_balance=BALANCE, latency_ms=spec.latency_ms))  # fmt: skip
        store = KeptRecords()
        runner = DeskRunner(
            desk, store=store, hub=world.hub, clock=world.clock, snapshots=False, stream=False
        )
        pipeline.listen("paper", runner.on_event)
        world.timers.every(TICK_MS, "paper-tick", runner.tick)
        # games are the desk's clusters, whatever the event tickers
        pipeline.listen("game-clusters", game_clusters(desk), kinds=(NbaMarketsMatched,))
        controls = Controls(runner=runner, books=world.books, nba=nba, names=configs,
                            seeds=seeds)  # fmt: skip
        strategies = StrategyRunner(
            desk=desk, books=world.books, nba=nba, aggregator=world.aggregator,
            place=controls.place, cancel=controls.cancel, market_info=world.meta.info,
            names=configs, enabled=configs, configs=configs, max_failures=MAX_FAILURES,
        )  # fmt: skip
        pipeline.listen("strategies", strategies.on_event, kinds=strategies.kinds)
        player = RecordPlayer(spec.recording)
        records = player.records()
        events = steps = 0
        try:
            while n := drive(world, player, records, limit=STEP):
                events += n
                steps += 1
                if progress is not None:
                    progress(min(player.read.records, total), total)
                if steps % FLUSH_EVERY == 0:
                    await world.db.flush()  # between events: the clock and order untouched
            runner.close()
        finally:
            await world.close()
    if progress is not None:
        progress(total, total)
    return {
        "recording": {
            "name": spec.recording_name,
            "records": player.read.records,
            "events": events,
            "trades": pipeline.stats.trades,
            "skipped_lines": player.read.skipped,
            "bad_frames": player.stats.bad_frames,
            "start_ms": header["started_ms"],
            "end_ms": world.clock.now_ms(),
            "games": len(nba.games),
            "markets_settled": len(closing.results),
        },
        "label": spec.label,
        "latency_ms": spec.latency_ms,
        "params": {n: dataclasses.asdict(c) for n, c in configs.items()},
        "overrides": [list(p) for p in sorted(spec.params)],
        "seeds": {n: str(s) for n, s in sorted(seeds.items())},
        "listener_errors": pipeline.stats.listener_errors,
        "strategies": {
            n: strategy_figures(n, desk, store.records, strategies, controls, closing, spec)
            for n in configs
        },
    }


def strategy_figures(
    name: str,
    desk: Desk,
    records: Sequence[Record],
    strategies: StrategyRunner,
    controls: Controls,
    closing: ClosingLines,
    spec: RunSpec,
) -> dict[str, Any]:
    slot = strategies.slots[name]
    seat = controls.seats[name]
    signals = controls.signals
    out: dict[str, Any] = {
        "status": slot.strategy.status,
        "errors": slot.failures,
        "enabled": slot.enabled,
        "controls_not_placed": dict(sorted(seat.skipped.items())),
    }
    for role, account in (("strategy", name), *((k, control_account(name, k)) for k in CONTROLS)):
        seed = spec.seed("bootstrap", account)
        out[role] = account_figures(account, desk, records, signals, closing, seed,
                                    spec.resamples)  # fmt: skip
        out[role]["account"] = account
    return out


def _thin(curve: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    if len(curve) <= CURVE_POINTS:
        return list(curve)
    step = -(-len(curve) // CURVE_POINTS)
    kept = list(curve[::step])
    if kept[-1] != curve[-1]:
        kept.append(curve[-1])
    return kept


def _round(x: float | None, places: int = 6) -> float | None:
    return None if x is None else round(x, places)


def _interval(iv: stats.Interval | None) -> dict[str, Any] | None:
    if iv is None:
        return None
    return {"estimate": _round(iv.estimate, 1), "low": _round(iv.low, 1),
            "high": _round(iv.high, 1), "se": _round(iv.se, 1)}  # fmt: skip


def _clv(fill: Fill, closing: ClosingLines) -> int | None:
    """ppm the fill beat the closing consensus by (count-weighted by the caller); None for a
    fill after its game tipped off or with no line at the start."""
    yes_close = closing.closing.get(fill.ticker)
    gid = closing.game_of.get(fill.ticker)
    if yes_close is None or gid is None or fill.ts_ms >= closing.start_ms.get(gid, 1 << 62):
        return None
    own_close = yes_close if fill.side is Side.YES else 1_000_000 - yes_close
    price_ppm = fill.cost * 100 // fill.count  # centicents to ppm (own side)
    return own_close - price_ppm if fill.action is Action.BUY else price_ppm - own_close


def account_figures(
    account: str,
    desk: Desk,
    records: Sequence[Record],
    signals: Mapping[int, str],
    closing: ClosingLines,
    seed: int,
    resamples: int,
) -> dict[str, Any]:
    m = desk.metrics(account)
    tally: Tally = desk.ledger.tallies[account]
    orders: dict[int, dict[str, Any]] = {}
    clv_sum = clv_count = pregame_fills = ingame_fills = 0
    for r in records:
        if type(r) is OrderUpdate and r.account == account:
            row = orders.get(r.order_id)
            if row is None:
                o = desk.orders[r.order_id]
                row = orders[r.order_id] = {
                    "order_id": r.order_id, "decided_ms": r.ts_ms, "ticker": r.ticker,
                    "side": str(r.side), "action": str(r.action), "price": r.price,
                    "count": r.count, "tif": str(o.tif), "probability_ppm": o.probability_ppm,
                    "signal": signals.get(r.order_id, ""), "fills": 0,
                    "filled": 0, "cost": 0, "fees": 0, "clv_ppm": None,
                }  # fmt: skip
            row["status"] = str(r.kind)
            row["reason"] = r.reason
        elif type(r) is Fill and r.account == account:
            row = orders[r.order_id]
            row["fills"] += 1
            row["filled"] += r.count
            row["cost"] += r.cost
            row["fees"] += r.fee
            clv = _clv(r, closing)
            if clv is None:
                ingame_fills += 1
            else:
                pregame_fills += 1
                clv_sum += clv * r.count
                clv_count += r.count
                row["clv_ppm"] = clv
    forecasts = []
    for row in orders.values():
        outcome = _outcome(closing, row["ticker"], row["side"])
        if row["probability_ppm"] is not None and outcome is not None:
            forecasts.append((row["probability_ppm"], outcome))
    per_game = stats.per_game_list(tally.game_pnl)
    t = stats.t_interval(per_game)
    curve = list(tally.curve)
    peak = None
    drawdown = []
    for ts, eq in curve:
        peak = eq if peak is None or eq > peak else peak
        drawdown.append((ts, peak - eq))
    metrics = {k: (_round(v) if isinstance(v, float) else v)
               for k, v in dataclasses.asdict(m).items()}  # fmt: skip
    cal = stats.calibration(forecasts)
    return {
        "pnl": m.equity_mid - m.start,
        "metrics": metrics,
        "per_game": dict(sorted(tally.game_pnl.items())),
        "ci": {
            "games": len(per_game),
            "per_game_t": _interval(t[0]) if t else None,
            "total_t": _interval(t[1]) if t else None,
            "total_bootstrap": _interval(
                stats.bootstrap_interval(per_game, seed=seed, resamples=resamples)
            ),
            "bootstrap_resamples": resamples,
            "bootstrap_seed": str(seed),
        },
        "brier": _round(stats.brier(forecasts)),
        "forecasts": len(forecasts),
        "calibration": [dataclasses.asdict(b) for b in cal] if forecasts else [],
        "clv": {
            "mean_ppm": clv_sum // clv_count if clv_count else None,
            "contracts": clv_count,
            "fills_pregame": pregame_fills,
            "fills_in_game": ingame_fills,
        },
        "orders": len(orders),
        "rejections": {
            str(reason): n
            for (acct, reason), n in sorted(desk.rejections.items())
            if acct == account
        },
        "equity": [list(p) for p in _thin(curve)],
        "drawdown": [list(p) for p in _thin(drawdown)],
        "trades": list(orders.values()),
    }


def _outcome(closing: ClosingLines, ticker: str, side: str) -> int | None:
    """The ppm the order's side was paid of a dollar at settlement; None while unsettled."""
    value = closing.results.get(ticker)
    if value is None:
        return None
    return value * 100 if side == Side.YES else 1_000_000 - value * 100
