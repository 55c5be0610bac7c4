"""Settings: read once from the environment and the command line, frozen, passed down."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

SOURCES = ("sim", "live", "replay")
BALLDONTLIE_TIERS = ("free", "all-star", "goat")
KALSHI_WS_READERS = ("handwritten", "sansio")  # kalshi.feed.WS_READERS


class ConfigError(ValueError):
    """Settings that cannot work together; the message says what to set."""


@dataclass(frozen=True, slots=True)
class Settings:
    source: str = "sim"
    db_path: str = "flowboard.db"
    host: str = "127.0.0.1"
    port: int = 8000
    record_path: str | None = None
    replay_path: str | None = None
    replay_speed: str = "max"  # "1", "10", ... (times real time) or "max"
    sim_rate: float = 50.0  # trades per second from the built-in exchange
    sim_seed: int = 1
    sim_markets: int = 300
    kalshi_env: str = "prod"
    kalshi_rest_url: str | None = None
    kalshi_ws_url: str | None = None
    kalshi_key_id: str | None = None
    kalshi_key_path: str | None = None
    kalshi_ws_reader: str = "handwritten"  # the WebSocket client the feed reads with
    balldontlie_key: str | None = field(default=None, repr=False)
    nba: bool = True  # the NBA side: games, odds, matched Kalshi markets
    balldontlie_url: str | None = None  # base URL, path prefix included (".../nba")
    balldontlie_tier: str = "goat"
    sim_games: int = 15
    sim_game_speed: float = 10.0  # game seconds per wall second
    sim_tipoff_s: int = 60  # seconds after boot until the first simulated tip-off
    sim_game_stagger_s: int = 0  # seconds between simulated tip-offs
    retention_days: int = 30
    flush_interval_ms: int = 100
    trade_batch_ms: int = 50
    client_queue: int = 256  # messages buffered per browser before it is dropped
    book_tickers: tuple[str, ...] = ()
    silence_timeout_s: float = 30.0
    log_level: str = "INFO"

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
        if self.kalshi_env not in ("prod", "demo"):
            raise ConfigError(f"kalshi env must be prod or demo, not {self.kalshi_env!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port out of range: {self.port}")
        if self.sim_rate < 0:
            raise ConfigError("sim rate must be >= 0 trades/s")
        if self.retention_days < 1:
            raise ConfigError("retention must be at least 1 day")
        if self.balldontlie_tier not in BALLDONTLIE_TIERS:
            raise ConfigError(
                f"balldontlie tier must be one of {', '.join(BALLDONTLIE_TIERS)}, "
                f"not {self.balldontlie_tier!r}"
            )
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
            if speed <= 0:
                raise ConfigError(
                    f"replay speed must be a positive number or 'max': {self.replay_speed!r}"
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


ENV_VARS: dict[str, str] = {
    "FLOWBOARD_SOURCE": "source",
    "FLOWBOARD_DB": "db_path",
    "FLOWBOARD_HOST": "host",
    "FLOWBOARD_PORT": "port",
    "FLOWBOARD_RETENTION_DAYS": "retention_days",
    "FLOWBOARD_SIM_RATE": "sim_rate",
    "FLOWBOARD_SIM_SEED": "sim_seed",
    "KALSHI_ENV": "kalshi_env",
    "KALSHI_REST_URL": "kalshi_rest_url",
    "KALSHI_WS_URL": "kalshi_ws_url",
    "KALSHI_API_KEY_ID": "kalshi_key_id",
    "KALSHI_PRIVATE_KEY_PATH": "kalshi_key_path",
    "KALSHI_WS_READER": "kalshi_ws_reader",
    "BALLDONTLIE_API_KEY": "balldontlie_key",
    "BALLDONTLIE_URL": "balldontlie_url",
    "BALLDONTLIE_TIER": "balldontlie_tier",
    "FLOWBOARD_NBA": "nba",
    "FLOWBOARD_SIM_GAMES": "sim_games",
    "FLOWBOARD_SIM_GAME_SPEED": "sim_game_speed",
    "FLOWBOARD_SIM_TIPOFF": "sim_tipoff_s",
    "FLOWBOARD_SIM_GAME_STAGGER": "sim_game_stagger_s",
}
_TYPES: dict[str, type] = {
    "port": int,
    "retention_days": int,
    "sim_rate": float,
    "sim_seed": int,
    "sim_markets": int,
    "sim_games": int,
    "sim_game_speed": float,
    "sim_tipoff_s": int,
    "sim_game_stagger_s": int,
}


def _coerce(name: str, raw: str) -> Any:
    if name == "nba":
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"nba: expected true or false, got {raw!r}")
    kind = _TYPES.get(name, str)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected {kind.__name__}, got {raw!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flowboard", description="Live Kalshi money flow board")
    p.add_argument("--source", choices=SOURCES)
    p.add_argument("--db", dest="db_path")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--record", dest="record_path", help="record every raw feed frame to FILE")
    p.add_argument("--replay", dest="replay_path", help="recording to play with --source replay")
    p.add_argument("--replay-speed", help="1, 10, ... times real time, or max")
    p.add_argument("--sim-rate", type=float, help="trades per second from the built-in exchange")
    p.add_argument("--sim-seed", type=int)
    p.add_argument("--sim-markets", type=int)
    p.add_argument("--kalshi-env", choices=("prod", "demo"))
    p.add_argument("--kalshi-rest-url")
    p.add_argument("--kalshi-ws-url")
    p.add_argument("--kalshi-ws-reader", choices=KALSHI_WS_READERS)
    p.add_argument("--retention-days", type=int)
    p.add_argument(
        "--no-nba",
        dest="nba",
        action="store_const",
        const=False,
        help="turn the NBA side (games, odds, matched markets) off",
    )
    p.add_argument("--balldontlie-url", help="balldontlie base URL, path prefix included")
    p.add_argument("--balldontlie-tier", choices=BALLDONTLIE_TIERS)
    p.add_argument("--sim-games", type=int, help="simulated NBA games tonight (1..15)")
    p.add_argument("--sim-game-speed", type=float, help="game seconds per wall second")
    p.add_argument(
        "--sim-tipoff",
        dest="sim_tipoff_s",
        type=int,
        help="seconds after boot until the first simulated tip-off",
    )
    p.add_argument(
        "--sim-game-stagger",
        dest="sim_game_stagger_s",
        type=int,
        help="seconds between simulated tip-offs",
    )
    p.add_argument("--book", dest="book_tickers", action="append", help="order book to follow")
    p.add_argument("--log-level")
    return p


def load(env: Mapping[str, str], argv: Sequence[str] | None = None) -> Settings:
    """Defaults, then environment variables, then command-line flags (flags win)."""
    values: dict[str, Any] = {}
    for var, name in ENV_VARS.items():
        if env.get(var):
            values[name] = _coerce(name, env[var])
    args = parser().parse_args(list(argv or []))
    for name, value in vars(args).items():
        if value is not None:
            values[name] = tuple(value) if name == "book_tickers" else value
    return Settings(**values)
