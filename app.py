"""Flowboard: the app factory, the lifespan that builds and tears down everything, and the CLI."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from aggregator import Aggregator
from analytics import Analytics
from clock import Clock, ManualClock, SystemClock
from config import ConfigError, Settings, is_loopback_host, load
from database import Database
from infra.budget import RequestBudget
from infra.retry import RetryPolicy
from infra.tasks import TaskOwner
from infra.watchdog import LoopWatchdog
from ingest.event_time import EventTimers
from ingest.sources import Source, open_source, replay_clock
from ingest.warm import WarmStart
from kalshi.book_store import BookStore
from kalshi_client import KALSHI_RETRY
from models import Event, FeedState, FeedStatus, MarketInfo, MarketsFetched, NbaMarketsMatched
from nba.client import BALLDONTLIE_RETRY, NbaClient
from nba.kalshi_markets import KalshiSide
from nba.poll import budget_for
from nba.service import STORE_KINDS, NbaService
from nba.state import KINDS as NBA_STATE_KINDS
from nba.state import NbaState
from nba.store import NbaStore
from storage.market_meta import MarketDirectory
from storage.paper_store import PaperStore
from trade_processor import Pipeline, tier_of
from trading.runner import TICK_MS, DeskRunner, desk_config
from trading.strategies import StrategyRunner, open_runner
from web import api, games, openapi
from web import paper as paper_routes
from web import strategies as strategy_routes
from web.api import ApiDeps
from web.board import Board
from web.games import GamesDeps
from web.health import Health
from web.metrics import Metrics, app_samples
from web.paper import PaperDeps
from web.params import ApiError, error_response, json_response
from web.security import Security, response_headers
from websocket_handler import Hub

log = logging.getLogger("flowboard")

STATIC_DIR = Path(__file__).resolve().parent / "static"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
EVENT_QUEUE = 50_000


@dataclass(frozen=True, slots=True)
class Flowboard:
    """One running Flowboard's parts, as the lifespan assembled them (tests read them)."""

    settings: Settings
    clock: Clock
    tasks: TaskOwner
    events: asyncio.Queue[Event]
    db: Database
    aggregator: Aggregator
    analytics: Analytics
    hub: Hub
    meta: MarketDirectory
    pipeline: Pipeline
    board: Board
    source: Source
    metrics: Metrics
    watchdog: LoopWatchdog
    nba: NbaService | None
    budgets: dict[str, RequestBudget]  # per upstream: what every caller of it draws from
    health: Health
    warm: WarmStart  # the windows rebuilt from SQLite in the background
    desk: DeskRunner | None  # the paper desk on the pipeline (None: --no-paper)
    paper: PaperStore
    strategies: StrategyRunner | None  # the strategies on the pipeline, after the desk


def upstream_policies(settings: Settings) -> dict[str, RetryPolicy]:
    """One retry policy per upstream, each with the request budget all of its callers share."""
    s = settings
    nba_rate, nba_burst = budget_for(s.balldontlie_tier, s.balldontlie_rate, s.balldontlie_burst)
    kalshi = RequestBudget(s.kalshi_rest_rate, s.kalshi_rest_burst, name="kalshi")
    balldontlie = RequestBudget(nba_rate, nba_burst, name="balldontlie")
    return {
        "kalshi": RetryPolicy(KALSHI_RETRY, name="kalshi", budget=kalshi),
        "balldontlie": RetryPolicy(BALLDONTLIE_RETRY, name="balldontlie", budget=balldontlie),
    }


async def assemble(settings: Settings, clock: Clock, stack: AsyncExitStack) -> Flowboard:
    """Build every part in dependency order; each one's teardown joins ``stack`` as soon as it
    exists, so closing the stack undoes exactly what was built, last first."""
    s = settings
    if s.source == "live":
        s.check_live()
    db = await Database.open(s.db_path, clock=clock, flush_interval_ms=s.flush_interval_ms)
    stack.push_async_callback(db.close)
    events: asyncio.Queue[Event] = asyncio.Queue(EVENT_QUEUE)
    last_ms = await db.last_trade_ms()
    # the warm start's cut-off, before anything new is stored: later trades come in live
    through_id = await db.last_trade_id()
    # Built once: the feed's backfill, market details, NBA discovery and a user's refresh all
    # spend the same allowance, so none of them can push another into 429s.
    policies = upstream_policies(s)
    source = await open_source(s, events=events, clock=clock, resume_from_ms=last_ms,
                               kalshi_retry=policies["kalshi"])  # fmt: skip
    stack.push_async_callback(source.close)
    aggregator, analytics = Aggregator(), Analytics()
    hub = Hub(clock=clock, queue_size=s.client_queue, batch_ms=s.trade_batch_ms)
    meta = MarketDirectory(db=db, fetch=source.fetch_markets, fetch_series=source.fetch_series,
                           clock=clock, emit=events.put_nowait)  # fmt: skip
    books = BookStore(repair=source.feed.request_snapshot if source.feed is not None else None)
    # A replay runs on the recording's time, moved by the pipeline as it handles each event;
    # its periodic work runs on that time too (EventTimers), so full speed decides as 1x does.
    timers = EventTimers(clock) if isinstance(clock, ManualClock) and s.source == "replay" else None
    pipeline = Pipeline(events=events, db=db, aggregator=aggregator, analytics=analytics,
                        hub=hub, meta=meta, clock=clock, books=books,
                        on_event_time=timers.at if timers is not None else None)  # fmt: skip
    warm = WarmStart(db=db, aggregator=aggregator, analytics=analytics, through_id=through_id,
                     now_ms=clock.now_ms())  # fmt: skip
    if last_ms is not None:
        await load_tape(db, meta, pipeline)
    nba = (
        await open_nba(
            s,
            source,
            db,
            hub,
            books,
            aggregator,
            meta,
            clock,
            stack,
            policies["balldontlie"],
            emit=events.put_nowait,
        )
        if s.nba
        else None
    )
    board = Board(
        source=s.source, clock=clock, aggregator=aggregator, analytics=analytics,
        pipeline=pipeline, hub=hub, meta=meta, feed_stats=source.stats, db=db,
        games=nba.views if nba is not None else list, warm=warm.progress,
    )  # fmt: skip
    pipeline.listen("board-status", board.on_status, kinds=(FeedStatus,))
    if timers is not None:
        timers.every(1000, "board-tick", board.tick)
        timers.every(s.trade_batch_ms, "hub-flush", hub.flush_trades)

        def replay_ended(event: Event) -> None:
            # time stops with the recording: what waits for the next boundary goes out now
            if isinstance(event, FeedStatus) and event.state is FeedState.STOPPED:
                hub.flush_trades()
                board.tick()

        pipeline.listen("replay-end", replay_ended, kinds=(FeedStatus,))
    if nba is not None:
        # stored first, then applied: the state a listener after it reads is the event's
        pipeline.listen("nba-store", nba.on_event, kinds=STORE_KINDS)
        pipeline.listen("nba-state", nba.state.on_event, kinds=NBA_STATE_KINDS)
    paper = PaperStore(db)
    desk = None
    strategies = None
    if s.paper:
        follow = source.feed.add_book_tickers if source.feed is not None else None
        desk = await DeskRunner.open(desk_config(s), store=paper, hub=hub, clock=clock,
                                     follow=follow)  # fmt: skip
        pipeline.listen("paper", desk.on_event)
        try:
            strategies = await open_runner(
                paper, desk=desk.desk, books=books, nba=nba.state if nba is not None else None,
                aggregator=aggregator, place=desk.place, cancel=desk.cancel,
                market_info=meta.info, enabled=s.strategies,
                max_failures=s.strategy_max_failures, now_ms=clock.now_ms(),
            )  # fmt: skip
        except ValueError as exc:  # an unknown name in --strategies
            raise ConfigError(f"--strategies: {exc}") from None
        # after the desk: a strategy sees the desk as of the event it handles
        pipeline.listen("strategies", strategies.on_event)
        if timers is not None:
            timers.every(TICK_MS, "paper-tick", desk.tick)
        # after the tasks stop and the queue is drained (below): the desk's last state is stored
        stack.callback(desk.close)
    watchdog = LoopWatchdog(threshold=s.stall_threshold_s)
    watchdog.start()
    stack.callback(watchdog.stop)
    samples = app_samples(pipeline, hub, db, board, source.stats, events.qsize)
    metrics = Metrics([*samples, *watchdog.samples()])

    tasks = TaskOwner()
    health = Health(
        clock=clock, source=s.source, tasks=tasks, pipeline=pipeline.stats,
        feed=source.feed.stats if source.feed is not None else None,
        nba=nba, stale_after_ms=round(s.feed_stale_s * 1000),
        warm=warm.progress,
    )  # fmt: skip
    # After the tasks stop (the feed first), what the feed delivered is handled and stored.
    stack.callback(_drain, events, pipeline)
    stack.push_async_callback(tasks.close)
    for name, coro in (
        ("db-writer", db.run()),
        ("pipeline", pipeline.run()),
        *([("hub", hub.run()), ("board-tick", board.run())] if timers is None else []),
        *([("paper-desk", desk.run())] if desk is not None and timers is None else []),
        ("market-meta", meta.run()),
        ("retention", retention(db, nba.store if nba else None, s.retention_days, clock)),
        ("warm-start", warm.run()),
        *source.tasks(),
    ):
        tasks.start(name, coro)
    if nba is not None and timers is not None:
        timers.every(1000, "nba-publish", nba.tick)  # a replay: the recording's time
    elif nba is not None:
        tasks.start("nba-poll", nba.run())
        tasks.start("nba-publish", nba.run_publisher())
    # What exists now lives as long as the app: the collector stops walking it (the feed's
    # dedupe set alone holds up to half a million ids), and a full collection takes a few
    # ms instead of tens of ms in the middle of the stream.
    gc.freeze()
    stack.callback(gc.unfreeze)
    # The SQLite writer thread needs the GIL back after each statement; while the event loop
    # is busy it waits up to the switch interval, 5 ms by default (bench ingest: +2-6%).
    stack.callback(sys.setswitchinterval, sys.getswitchinterval())
    sys.setswitchinterval(0.001)
    log.info("flowboard running: source=%s db=%s", s.source, s.db_path)
    return Flowboard(
        settings=s, clock=clock, tasks=tasks, events=events, db=db, aggregator=aggregator,
        analytics=analytics, hub=hub, meta=meta, pipeline=pipeline, board=board,
        source=source, metrics=metrics, watchdog=watchdog, nba=nba,
        budgets={n: p.budget for n, p in policies.items() if p.budget is not None}, health=health,
        warm=warm, desk=desk, paper=paper, strategies=strategies,
    )  # fmt: skip


def _drain(events: asyncio.Queue[Event], pipeline: Pipeline) -> None:
    while not events.empty():
        pipeline.handle(events.get_nowait())


async def open_nba(
    settings: Settings,
    source: Source,
    db: Database,
    hub: Hub,
    books: BookStore,
    aggregator: Aggregator,
    meta: MarketDirectory,
    clock: Clock,
    stack: AsyncExitStack,
    retry: RetryPolicy | None = None,
    *,
    emit: Callable[[Event], None],
) -> NbaService | None:
    """The NBA side, when the source has a balldontlie server (sim) or key (live), or is a
    replay; ``retry`` is the balldontlie upstream's policy with its request budget, ``emit`` puts
    an event on the pipeline's queue without waiting. With ``--record`` every balldontlie
    response and every discovery's matches go into the recording. A replay has no balldontlie
    client and polls nothing: the recording's responses and matches come down the pipeline."""
    replaying = source.replay is not None
    recorder = source.recorder
    client = None
    if not replaying:
        if source.nba_url is None or source.nba_key is None:
            log.info("NBA side off for source %s", source.name)
            return None
        url = urlsplit(source.nba_url)
        client = NbaClient(f"{url.scheme}://{url.netloc}", source.nba_key, clock,
                           prefix=url.path, retry=retry,
                           on_response=recorder.nba if recorder is not None else None)  # fmt: skip
        stack.push_async_callback(client.aclose)
        if recorder is not None:
            rec, put = recorder, emit

            def emit(event: Event) -> None:
                put(event)  # a full queue raises: what was not applied live is not recorded
                if type(event) is NbaMarketsMatched:
                    rec.nba_matches(event)

    store = await NbaStore.attach(db, clock=clock)
    feed, night = source.feed, source.night

    def last_price(ticker: str) -> int | None:
        w = aggregator.market(ticker, "24h")
        return w.last_price if w is not None else None

    lines = None
    if night is not None:

        def lines(game_id: int) -> int | None:
            g = night.games.get(game_id)
            return g.home_spread_tenths if g is not None else None

    follow = (
        {"follow": feed.add_book_tickers, "unfollow": feed.remove_book_tickers}
        if feed is not None
        else {}
    )
    recorder = source.recorder

    def market_found(info: MarketInfo) -> None:
        """A market discovery described: an input like any lookup's answer, so it goes on the
        queue (and into a recording) and reaches the directory as the pipeline handles it."""
        now = clock.now_ms()
        try:
            emit(MarketsFetched((info,), now, now))
        except asyncio.QueueFull:  # nothing is lost: the directory takes it at once
            meta.put(info)
            return
        if recorder is not None:
            recorder.markets(now, [info])

    kalshi = KalshiSide(rest=source.rest, books=books.all_books, last_price=last_price,
                        on_market=market_found, **follow)  # fmt: skip
    nba = NbaService(
        client=client, store=store, hub=hub, clock=clock, kalshi=kalshi, emit=emit,
        state=NbaState(lines=lines), tier=settings.balldontlie_tier,
        refresh_every_ms=round(settings.refresh_interval_s * 1000),
    )  # fmt: skip
    stack.push_async_callback(nba.aclose)
    await nba.load()
    if replaying:
        log.info("NBA side on: from the recording")
    else:
        log.info("NBA side on: balldontlie %s, tier %s", source.nba_url,
                 settings.balldontlie_tier)  # fmt: skip
    return nba


async def load_tape(db: Database, meta: MarketDirectory, pipeline: Pipeline) -> None:
    """The tape's last trades and their markets' details from SQLite, before the pipeline runs
    (the windows are rebuilt in the background: ``ingest.warm``)."""
    recent = await db.recent_trades(limit=pipeline.recent.maxlen or 200)
    await meta.load(list({t.ticker for t in recent}))
    for trade in reversed(recent):
        pipeline.recent.append(
            (trade, meta.title(trade.ticker), tier_of(trade.notional, pipeline.tiers))
        )


async def retention(db: Database, nba: NbaStore | None, days: int, clock: Clock) -> None:
    keep_ms = days * DAY_MS
    while True:
        removed = await db.prune(clock.now_ms() - keep_ms)
        if nba is not None:
            games = await nba.prune(clock.now_ms() - keep_ms)
            if games:
                log.info("retention: pruned %d NBA games and their scores and odds", games)
        if removed:
            log.info("retention: pruned %d trades older than %d days", removed, days)
        await asyncio.sleep(HOUR_MS / 1000)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (methods := _methods_of(request)):
        # The static mount takes every path, so a 405 for an API path comes from it, with its
        # own "GET, HEAD": say what the routes of that path take.
        headers["Allow"] = ", ".join(methods)
    return json_response({"error": exc.detail}, exc.status_code, headers)


def _methods_of(request: Request) -> list[str]:
    """The methods that the app's routes take on the request's path."""
    path = request.scope["path"]
    routes = [r for r in request.app.routes if isinstance(r, Route) and r.path_regex.match(path)]
    return sorted({m for r in routes for m in r.methods or ()})


async def _server_error(request: Request, exc: Exception) -> Response:
    # Sent by Starlette's outermost middleware, past ``Security``: the headers go on here.
    response = json_response({"error": "internal server error"}, 500)
    response.headers.update({k.decode(): v.decode() for k, v in response_headers(request.scope)})
    return response


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    banner: str | None = None,
    on_ready: Callable[[Flowboard], None] | None = None,
) -> Starlette:
    """The app; everything is built in its lifespan. ``on_ready`` is called once it runs."""
    if clock is None:
        clock = replay_clock(settings) if settings.source == "replay" else SystemClock()
    app_clock = clock

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            fb = await assemble(settings, app_clock, stack)
            if banner:
                print(f"Flowboard ({settings.source}) on {banner}", flush=True)
            if on_ready is not None:
                on_ready(fb)
            source = fb.source
            yield {
                "api": ApiDeps(
                    source=settings.source, clock=fb.clock, tasks=fb.tasks, db=fb.db,
                    aggregator=fb.aggregator, analytics=fb.analytics, meta=fb.meta,
                    pipeline=fb.pipeline, hub=fb.hub, board=fb.board, metrics=fb.metrics,
                    watchdog=fb.watchdog,
                    health=fb.health,
                    feed_stats=source.stats, books=fb.pipeline.books, queue_depth=fb.events.qsize,
                ),
                "games": GamesDeps(clock=fb.clock, nba=fb.nba),
                "paper": PaperDeps(clock=fb.clock, runner=fb.desk, store=fb.paper, meta=fb.meta,
                                   books=fb.pipeline.books, strategies=fb.strategies),
            }  # fmt: skip

    routes: list[BaseRoute] = [*api.routes(), *paper_routes.routes(), *strategy_routes.routes(),
                               *games.routes(), *openapi.routes()]  # fmt: skip
    if STATIC_DIR.is_dir():
        routes.append(Mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static"))
    security = Middleware(
        Security, token=settings.api_token, loopback=is_loopback_host(settings.host)
    )
    return Starlette(
        routes=routes,
        middleware=[security],
        lifespan=lifespan,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )


async def serve(settings: Settings) -> None:
    # Bind first so that port 0 works and the printed URL is the real one.
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on connections whose socket says TCP, and
    # without it each answer's body waits ~40 ms behind its headers for the client's delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    # listening before the app starts: a browser opened at the printed URL waits in the backlog
    # until uvicorn accepts, instead of being refused
    sock.listen(2048)
    port = sock.getsockname()[1]
    app = create_app(settings, banner=f"http://{settings.host}:{port}/")
    config = uvicorn.Config(
        app,
        ws_per_message_deflate=False,  # deflate doubles the fan-out cost (DESIGN.md)
        ws_max_size=4096,  # stream.requests.MAX_REQUEST_BYTES: bigger messages are closed 1009
        log_level=settings.log_level.lower(),
        access_log=False,  # the embedded simulators' polls would fill it
        lifespan="on",
    )
    await uvicorn.Server(config).serve(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    """``flowboard [FLAGS]`` serves the app; ``flowboard backtest ...`` runs a backtest
    (``backtest.cli``); ``flowboard replay RECORDING [--speed 1|10|max] [FLAGS]`` serves a
    recording as it was: ``--source replay --replay RECORDING --replay-speed SPEED``, on a
    fresh temporary database unless ``--db`` is given."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["backtest"]:
        from backtest.cli import main as backtest_main

        raise SystemExit(backtest_main(args[1:]))
    if args[:1] == ["replay"]:
        with tempfile.TemporaryDirectory(prefix="flowboard-replay-") as tmp:
            serve_main(replay_args(args[1:], Path(tmp) / "replay.db"))
        return
    serve_main(args)


def replay_args(args: list[str], fresh_db: Path) -> list[str]:
    """``replay RECORDING [--speed S] [FLAGS]`` as the app's own flags."""
    if not args or args[0].startswith("-"):
        print("usage: flowboard replay RECORDING [--speed 1|10|max] [FLAGS]", file=sys.stderr)
        raise SystemExit(2)
    recording, rest = args[0], list(args[1:])
    speed: list[str] = []  # the setting's own default unless given
    for flag in ("--speed", "--replay-speed"):
        if flag in rest:
            i = rest.index(flag)
            if i + 1 >= len(rest):
                print(f"flowboard replay: {flag} needs a value", file=sys.stderr)
                raise SystemExit(2)
            speed = ["--replay-speed", rest[i + 1]]
            del rest[i : i + 2]
    db = [] if "--db" in rest else ["--db", str(fresh_db)]
    return ["--source", "replay", "--replay", recording, *speed, *db, *rest]


def serve_main(argv: list[str]) -> None:
    try:
        settings = load(os.environ, argv)
        if settings.source == "live":
            settings.check_live()
            from kalshi.auth import KeyLoadError, load_private_key

            key_path = settings.kalshi_key_path
            assert key_path  # check_live
            try:  # the feed loads the key again once started; a bad one is said here, plainly
                load_private_key(Path(key_path).read_bytes())
            except OSError as exc:
                raise ConfigError(f"private key file {key_path}: {exc.strerror or exc}") from None
            except KeyLoadError as exc:
                raise ConfigError(f"private key file {key_path}: {exc}") from None
        if settings.source == "replay":
            replay_clock(settings)  # the recording is readable, or say why now
    except ConfigError as exc:
        print(f"flowboard: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.log_level.upper() != "DEBUG":
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn has shut the app down (feed, simulators, last writes) and raised the
        # signal again once done
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
