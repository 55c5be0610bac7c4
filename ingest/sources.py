"""Where events come from: the built-in simulator, live Kalshi, or a recording.

Each source puts models events on the pipeline's queue and says which background tasks it
needs; the app's TaskOwner runs them. The simulator runs Kalshi's own protocol on loopback, so
``sim`` and ``live`` use the very same client (auth, subscribe, seq checks, backfill).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clock import Clock, ManualClock
from config import ConfigError, Settings
from infra.retry import RetryPolicy
from ingest.recording import Recorder, RecordingError, read_header
from kalshi_client import (
    KalshiFeed,
    KalshiHTTPError,
    KalshiRest,
    Signer,
    open_client,
    resolve_endpoints,
    signer_from_file,
)
from models import Event, MarketInfo, SeriesInfo
from storage.market_meta import Fetch, SeriesFetch

log = logging.getLogger(__name__)

SIM_KEY_ID = "flowboard-sim"
SIM_BALLDONTLIE_KEY = "flowboard-sim-nba"
BALLDONTLIE_URL = "https://api.balldontlie.io/nba"  # the official spec's /nba/v1, /nba/v2 paths


@dataclass
class Source:
    name: str
    feed: KalshiFeed | None = None
    rest: KalshiRest | None = None
    sim: Any = None  # sim.exchange.SimExchange when source is sim
    extra_tasks: list[tuple[str, Coroutine[Any, Any, Any]]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    replay: Any = None
    nba_url: str | None = None  # balldontlie base URL with its path prefix; None: NBA side off
    nba_key: str | None = field(default=None, repr=False)
    night: Any = None  # sim.nba_games.NightSim shared by the simulated exchange and balldontlie
    nba_sim: Any = None  # sim.balldontlie.SimBalldontlie when source is sim with the NBA side
    # where the answers of market lookups are recorded (with --record)
    record_markets: Callable[[list[MarketInfo]], None] | None = None
    record_series: Callable[[list[SeriesInfo]], None] | None = None
    recorder: Recorder | None = None  # with --record: the NBA side records its inputs here too

    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, Any]]]:
        out = list(self.extra_tasks)
        if self.feed is not None:
            out.insert(0, ("kalshi-feed", self.feed.run()))
        self.extra_tasks = []
        return out

    def stats(self) -> Any:
        if self.feed is not None:
            return self.feed.stats
        if self.replay is not None:
            return self.replay.stats
        return None

    @property
    def fetch_markets(self) -> Fetch | None:
        rest = self.rest
        if rest is None:
            return None

        record = self.record_markets

        async def fetch(tickers: list[str]) -> list[MarketInfo]:
            found = await rest.markets(tickers=tickers, limit=len(tickers))
            if record is not None:
                record(found)
            return found

        return fetch

    @property
    def fetch_series(self) -> SeriesFetch | None:
        rest = self.rest
        if rest is None:
            return None

        record = self.record_series

        async def fetch(tickers: list[str]) -> list[SeriesInfo]:
            found = []
            for ticker in tickers:
                try:
                    found.append(await rest.series(ticker))
                except KalshiHTTPError as exc:
                    if exc.status != 404:
                        raise
                    log.warning("series %s: not found on Kalshi", ticker)
            if record is not None:
                record(found)
            return found

        return fetch

    async def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                await closer()
            except Exception:
                log.exception("closing source %s", self.name)


def _keypair() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public


async def open_source(
    settings: Settings,
    *,
    events: asyncio.Queue[Event],
    clock: Clock,
    resume_from_ms: int | None,
    kalshi_retry: RetryPolicy | None = None,
) -> Source:
    """``kalshi_retry`` is the Kalshi upstream's policy with its request budget, which every
    REST call of the source (backfill, market details, NBA discovery) goes through."""
    if settings.source == "sim":
        return await _open_sim(settings, events, clock, resume_from_ms, kalshi_retry)
    if settings.source == "live":
        return _open_live(settings, events, clock, resume_from_ms, kalshi_retry)
    return _open_replay(settings, events, clock)


def replay_clock(settings: Settings) -> ManualClock:
    """The clock of a replay: it starts at the recording's start and the replay moves it."""
    assert settings.replay_path
    try:
        header = read_header(settings.replay_path)
    except RecordingError as exc:
        raise ConfigError(f"--replay: {exc}") from None
    return ManualClock(header["started_ms"])


def _open_replay(settings: Settings, events: asyncio.Queue[Event], clock: Clock) -> Source:
    from ingest.replay import ReplaySource

    if not isinstance(clock, ManualClock):
        raise ConfigError("a replay runs on the recording's time: start it with replay_clock()")
    assert settings.replay_path
    replay = ReplaySource(settings.replay_path, out=events, clock=clock,
                          speed=settings.replay_speed)  # fmt: skip
    return Source(name="replay", replay=replay, extra_tasks=[("replay", replay.run())])


async def _open_sim(
    settings: Settings,
    events: asyncio.Queue[Event],
    clock: Clock,
    resume_from_ms: int | None,
    kalshi_retry: RetryPolicy | None,
) -> Source:
    from sim.exchange import SimExchange

    night = _night(settings, clock) if settings.nba else None
    key, public_pem = _keypair()
    sim = SimExchange(
        key_id=SIM_KEY_ID,
        public_key_pem=public_pem,
        seed=settings.sim_seed,
        rate=settings.sim_rate,
        n_markets=settings.sim_markets,
        clock=clock,
        night=night,
        # after a restart on the same database the same seed must not reuse stored trade ids
        id_salt=resume_from_ms or 0,
    )
    await sim.start("127.0.0.1", 0)
    source = _client_source("sim", sim.rest_url, sim.ws_url, Signer(SIM_KEY_ID, key, clock),
                            settings, events, clock, resume_from_ms, kalshi_retry)  # fmt: skip
    source.sim = sim
    source.closers.insert(0, sim.stop)
    if night is not None:
        from sim.balldontlie import SimBalldontlie

        nba_key = settings.balldontlie_key or SIM_BALLDONTLIE_KEY
        nba = SimBalldontlie(nba_key, settings.sim_seed, clock, games=night)
        await nba.start("127.0.0.1", 0)
        source.closers.insert(0, nba.stop)
        source.night, source.nba_url, source.nba_key = night, nba.url, nba_key
        source.nba_sim = nba
    return source


def _night(settings: Settings, clock: Clock) -> Any:
    """Tonight's simulated games: today's US date, the first tip-off a little after boot."""
    from nba.views import us_date
    from sim.nba_games import NightSim

    now = clock.now_ms()
    return NightSim(
        settings.sim_seed,
        us_date(now),
        now + settings.sim_tipoff_s * 1000,
        settings.sim_games,
        acceleration=settings.sim_game_speed,
        stagger_ms=settings.sim_game_stagger_s * 1000,
    )


def _open_live(
    settings: Settings,
    events: asyncio.Queue[Event],
    clock: Clock,
    resume_from_ms: int | None,
    kalshi_retry: RetryPolicy | None,
) -> Source:
    settings.check_live()
    assert settings.kalshi_key_id and settings.kalshi_key_path
    endpoints = resolve_endpoints(
        settings.kalshi_env, settings.kalshi_rest_url, settings.kalshi_ws_url
    )
    signer = signer_from_file(settings.kalshi_key_id, settings.kalshi_key_path, clock)
    source = _client_source(
        "live", endpoints.rest_url, endpoints.ws_url, signer, settings, events, clock,
        resume_from_ms, kalshi_retry,
    )  # fmt: skip
    if not settings.nba:
        return source
    if not settings.balldontlie_key:
        log.warning(
            "NBA side off: BALLDONTLIE_API_KEY is not set (games, odds and the matched Kalshi "
            "NBA markets need a balldontlie key; --no-nba silences this)"
        )
        return source
    source.nba_url = settings.balldontlie_url or BALLDONTLIE_URL
    source.nba_key = settings.balldontlie_key
    return source


def _client_source(
    name: str,
    rest_url: str,
    ws_url: str,
    signer: Signer,
    settings: Settings,
    events: asyncio.Queue[Event],
    clock: Clock,
    resume_from_ms: int | None,
    kalshi_retry: RetryPolicy | None,
) -> Source:
    recorder = None
    if settings.record_path:
        try:
            recorder = Recorder(settings.record_path, source=name, started_ms=clock.now_ms())
        except OSError as exc:
            raise ConfigError(f"--record {settings.record_path}: {exc.strerror}") from None
    client = open_client(
        rest_url=rest_url,
        ws_url=ws_url,
        signer=signer,
        events=events,
        clock=clock,
        silence_timeout_s=settings.silence_timeout_s,
        book_tickers=settings.book_tickers,
        resume_from_ms=resume_from_ms,
        recorder=recorder,
        ws_reader=settings.kalshi_ws_reader,
        retry=kalshi_retry,
    )
    rest, feed = client.rest, client.feed
    source = Source(name=name, feed=feed, rest=rest, closers=[rest.aclose])
    if recorder is not None:
        rec = recorder
        source.recorder = recorder
        source.record_markets = lambda infos: rec.markets(clock.now_ms(), infos)
        source.record_series = lambda infos: rec.series(clock.now_ms(), infos)
        source.extra_tasks.append(("recorder", recorder.run()))
        source.closers.insert(0, recorder.close)  # closers run last-first: after the REST client
        log.info("recording the feed to %s", settings.record_path)
    return source
