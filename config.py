"""Settings: read once from the environment and the command line, frozen, passed down.

Each setting is declared once, as a field of ``Settings`` made by ``setting()``: its type (the
annotation), its default, its command-line flag, its environment variable and its help text.
``SETTINGS`` is read from those fields, and the environment mapping (``ENV_VARS``), the coercion
of text to values and the argparse parser are all built from ``SETTINGS``, so they cannot drift
apart. Flags win over environment variables, which win over the defaults.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any

from errors import ConfigError

__all__ = [
    "BALLDONTLIE_TIERS",
    "ENV_VARS",
    "LOG_LEVELS",
    "SETTINGS",
    "SOURCES",
    "ConfigError",
    "Setting",
    "Settings",
    "is_loopback_host",
    "load",
    "parser",
]

SOURCES = ("sim", "live", "replay")
BALLDONTLIE_TIERS = ("free", "all-star", "goat")
KALSHI_ENVS = ("prod", "demo")
KALSHI_WS_READERS = ("handwritten", "sansio")  # kalshi.feed.WS_READERS
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_META = "flowboard.setting"
_TRUE = ("1", "true", "yes", "on")
_TOKEN = re.compile(r"[!-~]+")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class _Declared:
    """What ``setting()`` attaches to a field; the rest comes from the field itself."""

    flag: str | None
    env: str | None
    help: str
    choices: tuple[str, ...]
    secret: bool
    metavar: str | None


def setting(
    default: Any,
    *,
    flag: str | None,
    env: str | None = None,
    help: str,
    choices: Sequence[str] = (),
    secret: bool = False,
    metavar: str | None = None,
) -> Any:
    """Declare one field of ``Settings``. ``flag`` None means environment only (a secret on the
    command line shows in every process list); a secret is kept out of the repr."""
    declared = _Declared(flag, env, help, tuple(choices), secret, metavar)
    return field(default=default, repr=not secret, metadata={_META: declared})


@dataclass(frozen=True, slots=True)
class Settings:
    source: str = setting(
        "sim",
        flag="--source",
        env="FLOWBOARD_SOURCE",
        choices=SOURCES,
        help="where events come from: the built-in simulator, Kalshi itself, or a recording",
    )
    db_path: str = setting(
        "flowboard.db",
        flag="--db",
        metavar="FILE",
        env="FLOWBOARD_DB",
        help="the SQLite database file",
    )
    host: str = setting(
        "127.0.0.1",
        flag="--host",
        metavar="HOST",
        env="FLOWBOARD_HOST",
        help="address the web server listens on",
    )
    port: int = setting(
        8000, flag="--port", env="FLOWBOARD_PORT", help="port of the web server, 0 for any free one"
    )
    api_token: str | None = setting(
        None,
        flag=None,
        env="FLOWBOARD_API_TOKEN",
        secret=True,
        help="token that requests which change anything (POST, PUT, PATCH, DELETE) must send, as "
        "`Authorization: Bearer TOKEN` or `X-Flowboard-Token: TOKEN`; needed to listen beyond "
        "loopback (environment only)",
    )
    record_path: str | None = setting(
        None,
        flag="--record",
        metavar="FILE",
        env="FLOWBOARD_RECORD",
        help="record every raw feed frame to FILE (sim or live)",
    )
    replay_path: str | None = setting(
        None,
        flag="--replay",
        metavar="FILE",
        env="FLOWBOARD_REPLAY",
        help="recording to play with --source replay",
    )
    replay_speed: str = setting(
        "max",
        flag="--replay-speed",
        metavar="N|max",
        env="FLOWBOARD_REPLAY_SPEED",
        help="1, 10, ... times real time, or max",
    )
    sim_rate: float = setting(
        50.0,
        flag="--sim-rate",
        env="FLOWBOARD_SIM_RATE",
        help="trades per second from the built-in exchange",
    )
    sim_seed: int = setting(
        1, flag="--sim-seed", env="FLOWBOARD_SIM_SEED", help="seed of the simulated markets"
    )
    sim_markets: int = setting(
        300,
        flag="--sim-markets",
        env="FLOWBOARD_SIM_MARKETS",
        help="markets the built-in exchange lists",
    )
    kalshi_env: str = setting(
        "prod",
        flag="--kalshi-env",
        env="KALSHI_ENV",
        choices=KALSHI_ENVS,
        help="Kalshi environment for --source live",
    )
    kalshi_rest_url: str | None = setting(
        None,
        flag="--kalshi-rest-url",
        metavar="URL",
        env="KALSHI_REST_URL",
        help="Kalshi REST base URL, ending in /trade-api/v2 (overrides --kalshi-env)",
    )
    kalshi_ws_url: str | None = setting(
        None,
        flag="--kalshi-ws-url",
        metavar="URL",
        env="KALSHI_WS_URL",
        help="Kalshi WebSocket URL, ending in /trade-api/ws/v2 (overrides --kalshi-env)",
    )
    kalshi_ws_reader: str = setting(
        "handwritten",
        flag="--kalshi-ws-reader",
        env="KALSHI_WS_READER",
        choices=KALSHI_WS_READERS,
        help="the feed's WebSocket reader: the batch-reading RFC 6455 client or websockets' "
        "sans-I/O protocol",
    )
    kalshi_key_id: str | None = setting(
        None,
        flag="--kalshi-key-id",
        metavar="ID",
        env="KALSHI_API_KEY_ID",
        help="Kalshi API key id",
    )
    kalshi_key_path: str | None = setting(
        None,
        flag="--kalshi-key-path",
        metavar="FILE",
        env="KALSHI_PRIVATE_KEY_PATH",
        help="the RSA private key PEM file of the Kalshi API key",
    )
    kalshi_rest_rate: float = setting(
        10.0,
        flag="--kalshi-rest-rate",
        env="KALSHI_REST_RATE",
        help="Kalshi REST requests per second, all of the app's together "
        "(Kalshi's basic tier allows 20)",
    )
    kalshi_rest_burst: int = setting(
        20,
        flag="--kalshi-rest-burst",
        env="KALSHI_REST_BURST",
        help="Kalshi REST requests the app may make at once after a quiet spell",
    )
    balldontlie_key: str | None = setting(
        None,
        flag=None,
        env="BALLDONTLIE_API_KEY",
        secret=True,
        help="balldontlie API key (environment only)",
    )
    nba: bool = setting(
        True,
        flag="--nba",
        env="FLOWBOARD_NBA",
        help="the NBA side: games, odds, matched Kalshi markets (--no-nba turns it off)",
    )
    balldontlie_url: str | None = setting(
        None,
        flag="--balldontlie-url",
        metavar="URL",
        env="BALLDONTLIE_URL",
        help='balldontlie base URL, path prefix included (".../nba")',
    )
    balldontlie_tier: str = setting(
        "goat",
        flag="--balldontlie-tier",
        env="BALLDONTLIE_TIER",
        choices=BALLDONTLIE_TIERS,
        help="balldontlie plan of the key, which sets the polling rate",
    )
    balldontlie_rate: float = setting(
        5.0,
        flag="--balldontlie-rate",
        env="BALLDONTLIE_RATE",
        help="balldontlie requests per second, all of the app's together; never more than "
        "half the tier's limit (goat: 600 a minute)",
    )
    balldontlie_burst: int = setting(
        10,
        flag="--balldontlie-burst",
        env="BALLDONTLIE_BURST",
        help="balldontlie requests the app may make at once after a quiet spell",
    )
    refresh_interval_s: float = setting(
        10.0,
        flag="--refresh-interval",
        env="FLOWBOARD_REFRESH_INTERVAL",
        help="least seconds between two refreshes started by POST /api/games/refresh "
        "(one asked for sooner gets 429; one asked for while one runs shares it)",
    )
    sim_games: int = setting(
        15,
        flag="--sim-games",
        env="FLOWBOARD_SIM_GAMES",
        help="simulated NBA games tonight (1..15)",
    )
    sim_game_speed: float = setting(
        10.0,
        flag="--sim-game-speed",
        env="FLOWBOARD_SIM_GAME_SPEED",
        help="game seconds per wall second",
    )
    sim_tipoff_s: int = setting(
        60,
        flag="--sim-tipoff",
        env="FLOWBOARD_SIM_TIPOFF",
        help="seconds after boot until the first simulated tip-off",
    )
    sim_game_stagger_s: int = setting(
        0,
        flag="--sim-game-stagger",
        env="FLOWBOARD_SIM_GAME_STAGGER",
        help="seconds between simulated tip-offs",
    )
    paper: bool = setting(
        True,
        flag="--paper",
        env="FLOWBOARD_PAPER",
        help="the paper desk: orders, fills and positions on the live books (--no-paper turns "
        "it off)",
    )
    paper_balance: int = setting(
        10_000,
        flag="--paper-balance",
        env="FLOWBOARD_PAPER_BALANCE",
        help="starting balance of each paper account, whole dollars",
    )
    paper_latency_ms: int = setting(
        150,
        flag="--paper-latency-ms",
        env="FLOWBOARD_PAPER_LATENCY_MS",
        help="paper orders meet the book this long after they are decided (event time)",
    )
    paper_max_contracts: int | None = setting(
        None,
        flag="--paper-max-contracts",
        env="FLOWBOARD_PAPER_MAX_CONTRACTS",
        help="risk: most contracts an account may hold in one market (none: no limit)",
    )
    paper_max_game_risk: int | None = setting(
        None,
        flag="--paper-max-game-risk",
        env="FLOWBOARD_PAPER_MAX_GAME_RISK",
        help="risk: most whole dollars an account may have at risk in one game or event",
    )
    paper_max_total_risk: int | None = setting(
        None,
        flag="--paper-max-total-risk",
        env="FLOWBOARD_PAPER_MAX_TOTAL_RISK",
        help="risk: most whole dollars an account may have at risk in all",
    )
    paper_max_orders_per_minute: int | None = setting(
        None,
        flag="--paper-max-orders-per-minute",
        env="FLOWBOARD_PAPER_MAX_ORDERS_PER_MINUTE",
        help="risk: most orders an account may place in a minute",
    )
    paper_max_daily_loss: int | None = setting(
        None,
        flag="--paper-max-daily-loss",
        env="FLOWBOARD_PAPER_MAX_DAILY_LOSS",
        help="risk: an account that has lost this many whole dollars today places no more orders",
    )
    strategies: tuple[str, ...] = setting(
        (),
        flag="--strategies",
        metavar="NAME",
        env="FLOWBOARD_STRATEGIES",
        help="strategies enabled at start, comma-separated (sharp_line, momentum, ev_multi, "
        "mean_reversion, correlation); all are registered, each with its own paper account",
    )
    strategy_max_failures: int = setting(
        5,
        flag="--strategy-max-failures",
        env="FLOWBOARD_STRATEGY_MAX_FAILURES",
        help="a strategy that raises this many times is disabled (the others go on)",
    )
    retention_days: int = setting(
        30,
        flag="--retention-days",
        env="FLOWBOARD_RETENTION_DAYS",
        help="days of trades kept in the database",
    )
    flush_interval_ms: int = setting(
        100,
        flag="--flush-interval-ms",
        env="FLOWBOARD_FLUSH_INTERVAL_MS",
        help="milliseconds between batched database writes",
    )
    trade_batch_ms: int = setting(
        50,
        flag="--trade-batch-ms",
        env="FLOWBOARD_TRADE_BATCH_MS",
        help="longest gap in ms between the coalesced trade messages, reached under load",
    )
    client_queue: int = setting(
        256,
        flag="--client-queue",
        env="FLOWBOARD_CLIENT_QUEUE",
        help="messages buffered per browser before it is dropped",
    )
    book_tickers: tuple[str, ...] = setting(
        (),
        flag="--book",
        metavar="TICKER",
        env="FLOWBOARD_BOOK",
        help="order book to follow (repeat the flag, or separate tickers with commas)",
    )
    silence_timeout_s: float = setting(
        30.0,
        flag="--silence-timeout",
        env="FLOWBOARD_SILENCE_TIMEOUT",
        help="seconds without a frame before the Kalshi feed reconnects",
    )
    feed_stale_s: float = setting(
        60.0,
        flag="--feed-stale-after",
        env="FLOWBOARD_FEED_STALE_AFTER",
        help="seconds the Kalshi feed may go without a frame (disconnected or silent) before "
        "/api/health answers 503; longer than --silence-timeout",
    )
    stall_threshold_s: float = setting(
        1.0,
        flag="--stall-threshold",
        env="FLOWBOARD_STALL_THRESHOLD",
        help="seconds the event loop may go without turning before the watchdog logs a stall",
    )
    log_level: str = setting(
        "INFO",
        flag="--log-level",
        env="FLOWBOARD_LOG_LEVEL",
        choices=LOG_LEVELS,
        help="least severe log level shown",
    )

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"source must be one of {', '.join(SOURCES)}, not {self.source!r}")
        if self.source == "replay" and not self.replay_path:
            raise ConfigError("--source replay needs a recording: --replay FILE")
        if self.source == "replay" and self.record_path:
            raise ConfigError("--record records a live or simulated feed, not a replay")
        if self.kalshi_ws_reader not in KALSHI_WS_READERS:
            raise ConfigError(
                f"kalshi ws reader must be one of {', '.join(KALSHI_WS_READERS)}, "
                f"not {self.kalshi_ws_reader!r}"
            )
        if self.kalshi_env not in KALSHI_ENVS:
            raise ConfigError(f"kalshi env must be prod or demo, not {self.kalshi_env!r}")
        if self.api_token is not None and not _TOKEN.fullmatch(self.api_token):
            # it travels in a header: visible ASCII only, and no spaces (a Bearer token)
            raise ConfigError("FLOWBOARD_API_TOKEN must be visible ASCII without spaces")
        if not self.api_token and not is_loopback_host(self.host):
            raise ConfigError(
                f"--host {self.host or '(all)'} listens beyond loopback: set FLOWBOARD_API_TOKEN, "
                "the token that requests which change anything must send"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port out of range: {self.port}")
        if self.sim_rate < 0:
            raise ConfigError("sim rate must be >= 0 trades/s")
        if self.sim_markets < 1:
            raise ConfigError(f"sim markets must be at least 1, not {self.sim_markets}")
        if self.retention_days < 1:
            raise ConfigError("retention must be at least 1 day")
        if self.paper_balance < 0 or self.paper_latency_ms < 0:
            raise ConfigError("paper balance and latency must not be negative")
        for name in ("paper_max_contracts", "paper_max_game_risk", "paper_max_total_risk",
                     "paper_max_orders_per_minute", "paper_max_daily_loss"):  # fmt: skip
            limit = getattr(self, name)
            if limit is not None and limit < 0:
                raise ConfigError(f"{name.replace('_', '-')} must not be negative: {limit}")
        if self.strategy_max_failures < 1:
            raise ConfigError("strategy max failures must be at least 1")
        if self.balldontlie_tier not in BALLDONTLIE_TIERS:
            raise ConfigError(
                f"balldontlie tier must be one of {', '.join(BALLDONTLIE_TIERS)}, "
                f"not {self.balldontlie_tier!r}"
            )
        for name, rate, burst in (
            ("kalshi rest", self.kalshi_rest_rate, self.kalshi_rest_burst),
            ("balldontlie", self.balldontlie_rate, self.balldontlie_burst),
        ):
            if not rate > 0:  # NaN too
                raise ConfigError(f"{name} rate must be > 0 requests per second, not {rate}")
            if burst < 1:
                raise ConfigError(f"{name} burst must be at least 1 request, not {burst}")
        if not self.refresh_interval_s >= 0:  # NaN too
            raise ConfigError("refresh interval must be >= 0 seconds")
        if not 1 <= self.sim_games <= 15:
            raise ConfigError(f"sim games must be 1..15, not {self.sim_games}")
        if self.sim_game_speed <= 0:
            raise ConfigError("sim game speed must be > 0 game seconds per second")
        if self.sim_tipoff_s < 0 or self.sim_game_stagger_s < 0:
            raise ConfigError("sim tip-off and stagger must be >= 0 seconds")
        if self.replay_speed != "max":
            try:
                speed = float(self.replay_speed)
            except ValueError:
                speed = 0.0
            if not speed > 0:  # NaN too
                raise ConfigError(
                    f"replay speed must be a positive number or 'max': {self.replay_speed!r}"
                )
        if self.flush_interval_ms < 1:
            raise ConfigError(f"flush interval must be >= 1 ms, not {self.flush_interval_ms}")
        if self.trade_batch_ms < 1:
            raise ConfigError(f"trade batch must be >= 1 ms, not {self.trade_batch_ms}")
        if self.client_queue < 1:
            raise ConfigError(f"client queue must hold at least 1 message, not {self.client_queue}")
        if self.silence_timeout_s <= 0:
            raise ConfigError("silence timeout must be > 0 seconds")
        if not self.feed_stale_s > self.silence_timeout_s:  # NaN too
            raise ConfigError(
                f"feed stale limit ({self.feed_stale_s:g} s) must be longer than the silence "
                f"timeout ({self.silence_timeout_s:g} s): a quiet feed reconnects before it "
                "counts as silent"
            )
        if self.stall_threshold_s <= 0:
            raise ConfigError("stall threshold must be > 0 seconds")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(
                f"log level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}"
            )

    def check_live(self) -> None:
        """A live start needs keys; say exactly which are missing."""
        missing = [
            name
            for name, value in (
                ("KALSHI_API_KEY_ID", self.kalshi_key_id),
                ("KALSHI_PRIVATE_KEY_PATH", self.kalshi_key_path),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "--source live needs Kalshi API keys: set "
                + " and ".join(missing)
                + " (the API key id, and the path of its RSA private key PEM file)"
            )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def is_loopback_host(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only: 127.0.0.0/8, ::1 or localhost
    (any other name may resolve anywhere; "" and 0.0.0.0 are every interface)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ---- the declarations, read back from the fields ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as declared on ``Settings``. ``kind`` is the annotation without ``None``:
    str, int, float, bool, or tuple (of str)."""

    name: str
    kind: type
    default: Any
    flag: str | None
    env: str | None
    help: str
    choices: tuple[str, ...]
    secret: bool
    metavar: str | None

    def parse(self, raw: str, where: str) -> Any:
        """The value of ``raw`` as given by ``where`` (the flag or the environment variable)."""
        if self.kind is str:
            return raw
        if self.kind is tuple:
            return tuple(item for part in raw.split(",") if (item := part.strip()))
        text = raw.strip().lower()
        if self.kind is bool:
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ConfigError(f"{where}: {self.name} must be true or false, not {raw!r}")
        try:
            value = self.kind(text)
        except ValueError:
            value = None
        if value is None or (self.kind is float and not math.isfinite(value)):
            what = "a whole number" if self.kind is int else "a number"
            raise ConfigError(f"{where}: {self.name} must be {what}, not {raw!r}")
        return value


def _kind(name: str, hint: Any) -> type:
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"setting {name}: one type or one type | None, not {hint}")
        hint = args[0]
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...):
        return tuple
    if hint in (str, int, float, bool):
        return typing.cast(type, hint)
    raise TypeError(f"setting {name}: no coercion from text to {hint}")


def _declarations() -> tuple[Setting, ...]:
    hints = typing.get_type_hints(Settings)
    out = []
    for f in fields(Settings):
        declared = f.metadata.get(_META)
        if not isinstance(declared, _Declared):
            raise TypeError(f"Settings.{f.name} is not declared with setting()")
        out.append(_setting(f, _kind(f.name, hints[f.name]), declared))
    return tuple(out)


def _setting(f: Field[Any], kind: type, d: _Declared) -> Setting:
    metavar = d.metavar or ("|".join(d.choices) if d.choices else None)
    if metavar is None and kind in (int, float):
        metavar = "N"
    return Setting(f.name, kind, f.default, d.flag, d.env, d.help, d.choices, d.secret, metavar)


SETTINGS: tuple[Setting, ...] = _declarations()
"""Every setting, in the order ``Settings`` declares them."""

ENV_VARS: dict[str, str] = {s.env: s.name for s in SETTINGS if s.env}
"""Environment variable -> ``Settings`` field."""


def parser() -> argparse.ArgumentParser:
    """Every flag of ``SETTINGS``. Values stay text (coerced by ``load``, so a bad one is a
    ConfigError naming the flag) and default to None (so ``load`` knows which were given)."""
    p = argparse.ArgumentParser(prog="flowboard", description="Live Kalshi money flow board")
    for s in SETTINGS:
        if s.flag is None:
            continue
        shown = [] if s.default in (None, ()) else [f"default {_shown(s.default)}"]
        if s.env:
            shown.append(f"env {s.env}")
        text = s.help + (f" ({'; '.join(shown)})" if shown else "")
        options: dict[str, Any] = {"dest": s.name, "help": text.replace("%", "%%")}
        if s.kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif s.kind is tuple:
            options["action"] = "append"
        if s.metavar:
            options["metavar"] = s.metavar
        p.add_argument(s.flag, **options)
    return p


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def load(env: Mapping[str, str], argv: Sequence[str] | None = None) -> Settings:
    """Defaults, then environment variables, then command-line flags (flags win)."""
    values: dict[str, Any] = {}
    for s in SETTINGS:
        if s.env and env.get(s.env):
            values[s.name] = s.parse(env[s.env], s.env)
    given = vars(parser().parse_args(list(argv or [])))
    for s in SETTINGS:
        raw = given.get(s.name)
        if raw is None or s.flag is None:
            continue
        if s.kind is bool:
            values[s.name] = raw
        elif s.kind is tuple:
            values[s.name] = s.parse(",".join(raw), s.flag)
        else:
            values[s.name] = s.parse(raw, s.flag)
    return Settings(**values)
