"""Flowboard: the app factory, the lifespan that builds and tears down everything, and the CLI."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from aggregator import Aggregator
from analytics import Analytics
from clock import Clock, SystemClock
from config import ConfigError, Settings, load
from database import Database
from infra.tasks import TaskOwner
from ingest.sources import Source, open_source, replay_clock
from models import Event, Side, Trade
from nba.client import NbaClient
from nba.kalshi_markets import KalshiSide
from nba.service import NbaService
from nba.store import NbaStore
from storage.market_meta import MarketDirectory
from stream.messages import trade_json
from trade_processor import Pipeline, tier_of
from web import api
from web import games as api_games
from web.board import Board
from web.metrics import Metrics, Sample
from websocket_handler import Hub

log = logging.getLogger("flowboard")

STATIC_DIR = Path(__file__).resolve().parent / "static"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
EVENT_QUEUE = 50_000


class Runtime:
    """Everything one running Flowboard holds, built in dependency order and closed in reverse."""

    settings: Settings
    clock: Clock
    db: Database
    aggregator: Aggregator
    analytics: Analytics
    hub: Hub
    meta: MarketDirectory
    pipeline: Pipeline
    board: Board
    source: Source
    metrics: Metrics

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.tasks = TaskOwner()
        self.events: asyncio.Queue[Event] = asyncio.Queue(EVENT_QUEUE)
        self._trades_stored = 0
        self.nba: NbaService | None = None
        self._nba_store: NbaStore | None = None
        self._nba_client: NbaClient | None = None
        self._switch_interval: float | None = None  # the interval before start, restored at stop

    @classmethod
    async def start(cls, settings: Settings, clock: Clock) -> Runtime:
        rt = cls(settings, clock)
        try:
            await rt._build()
        except BaseException:
            await rt.stop()
            raise
        return rt

    async def _build(self) -> None:
        s = self.settings
        if s.source == "live":
            s.check_live()
        self.db = await Database.open(
            s.db_path, clock=self.clock, flush_interval_ms=s.flush_interval_ms
        )
        self.aggregator = Aggregator()
        self.analytics = Analytics()
        self.hub = Hub(
            clock=self.clock,
            snapshot=lambda: self.board.snapshot(),
            queue_size=s.client_queue,
            batch_ms=s.trade_batch_ms,
        )
        self.meta = MarketDirectory(db=self.db, fetch=None, clock=self.clock)
        self.pipeline = Pipeline(
            events=self.events,
            db=self.db,
            aggregator=self.aggregator,
            analytics=self.analytics,
            hub=self.hub,
            meta=self.meta,
            clock=self.clock,
        )
        self.board = Board(
            source=s.source,
            clock=self.clock,
            aggregator=self.aggregator,
            analytics=self.analytics,
            pipeline=self.pipeline,
            hub=self.hub,
            meta=self.meta,
            feed_stats=self.feed_stats,
            trades_stored=lambda: self._trades_stored,
            games=lambda: self.nba.views() if self.nba is not None else [],
        )
        self.pipeline.on_status = lambda: self.hub.publish(
            {"type": "status", "status": self.board.status()}
        )
        last_ms = await self._warm_restart()
        self.source = await open_source(
            s, events=self.events, clock=self.clock, resume_from_ms=last_ms
        )
        self.meta.set_fetch(self.source.fetch_markets)
        self.metrics = Metrics(self._samples())
        self.tasks.start("pipeline", self.pipeline.run())
        self.tasks.start("hub", self.hub.run())
        self.tasks.start("board-tick", self.board.run())
        self.tasks.start("market-meta", self.meta.run())
        self.tasks.start("retention", self._retention())
        self.tasks.start("stored-count", self._count_stored())
        for name, coro in self.source.tasks():
            self.tasks.start(name, coro)
        if s.nba:
            await self._start_nba()
        # What exists now lives as long as the app: the collector stops walking it (the feed's
        # dedupe set alone holds up to half a million ids), and a full collection takes a few
        # ms instead of tens of ms in the middle of the stream.
        gc.freeze()
        # The SQLite writer thread needs the GIL back after each statement; while the event loop
        # is busy it waits up to the switch interval, 5 ms by default (bench ingest: +2-6%).
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        log.info("flowboard running: source=%s db=%s", s.source, s.db_path)

    async def _start_nba(self) -> None:
        """The NBA side, when the source has a balldontlie server (sim) or key (live)."""
        src = self.source
        if src.nba_url is None or src.nba_key is None:
            log.info("NBA side off for source %s", src.name)
            return
        url = urlsplit(src.nba_url)
        self._nba_client = NbaClient(
            f"{url.scheme}://{url.netloc}", src.nba_key, self.clock, prefix=url.path
        )
        self._nba_store = await NbaStore.open(self.settings.db_path, clock=self.clock)
        feed, agg, night = src.feed, self.aggregator, src.night

        def last_price(ticker: str) -> int | None:
            w = agg.market(ticker, "24h")
            return w.last_price if w is not None else None

        kalshi = KalshiSide(rest=src.rest, books=src.books, last_price=last_price,
                            on_market=self.meta.put)  # fmt: skip
        if feed is not None:
            kalshi.follow, kalshi.unfollow = feed.add_book_tickers, feed.remove_book_tickers
        lines = None
        if night is not None:

            def lines(game_id: int) -> int | None:
                g = night.games.get(game_id)
                return g.home_spread_tenths if g is not None else None

        self.nba = NbaService(
            client=self._nba_client, store=self._nba_store, hub=self.hub, clock=self.clock,
            kalshi=kalshi, tier=self.settings.balldontlie_tier, lines=lines,
        )  # fmt: skip
        await self.nba.load()
        self.pipeline.listen("nba", self.nba.on_event)
        self.tasks.start("nba-store", self._nba_store.run())
        self.tasks.start("nba-poll", self.nba.run())
        self.tasks.start("nba-publish", self.nba.run_publisher())
        log.info(
            "NBA side on: balldontlie %s, tier %s", src.nba_url, self.settings.balldontlie_tier
        )

    async def _warm_restart(self) -> int | None:
        """Rebuild windows and analytics from SQLite; return the last stored trade time."""
        last_ms = await self.db.last_trade_ms()
        if last_ms is None:
            return None
        now = self.clock.now_ms()
        rebuilt = 0
        async for batch in self.db.trades_between(now - DAY_MS - HOUR_MS, now + 1):
            for trade in batch:
                self.aggregator.add_trade(trade)
                self.analytics.add_trade(trade)
            rebuilt += len(batch)
        recent = await self.db.recent_trades(limit=self.pipeline.recent.maxlen or 200)
        await self.meta.load(list({t.ticker for t in recent}))
        for trade in reversed(recent):
            self.pipeline.recent.append(
                (trade, self.meta.title(trade.ticker), tier_of(trade.notional, self.pipeline.tiers))
            )
        self._trades_stored = await self.db.trade_count()
        log.info("warm restart: %d trades of the last day rebuilt into the windows", rebuilt)
        return last_ms

    async def _retention(self) -> None:
        keep_ms = self.settings.retention_days * DAY_MS
        while True:
            removed = await self.db.prune(self.clock.now_ms() - keep_ms)
            if self._nba_store is not None:
                games = await self._nba_store.prune(self.clock.now_ms() - keep_ms)
                if games:
                    log.info("retention: pruned %d NBA games and their scores and odds", games)
            if removed:
                log.info(
                    "retention: pruned %d trades older than %d days",
                    removed,
                    self.settings.retention_days,
                )
            await asyncio.sleep(HOUR_MS / 1000)

    async def _count_stored(self) -> None:
        while True:
            self._trades_stored = await self.db.trade_count()
            await asyncio.sleep(5)

    async def stop(self) -> None:
        """Stop the feed first, then drain what it delivered into storage, then close."""
        source = getattr(self, "source", None)
        await self.tasks.close()
        if hasattr(self, "pipeline"):
            while not self.events.empty():
                self.pipeline.handle(self.events.get_nowait())
        if source is not None:
            await source.close()
        if self._nba_client is not None:
            await self._nba_client.aclose()
        if self._nba_store is not None:
            await self._nba_store.close()
        if hasattr(self, "db"):
            await self.db.close()
        gc.unfreeze()  # what the app held may be collected again
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)

    # ---- helpers for the API -----------------------------------------------------------------

    def feed_stats(self) -> Any:
        source = getattr(self, "source", None)
        return source.stats() if source is not None else None

    def trade_row(self, trade: Trade) -> dict[str, Any]:
        return trade_json(
            trade, self.meta.title(trade.ticker), tier_of(trade.notional, self.pipeline.tiers)
        )

    def book_json(self, ticker: str) -> dict[str, Any] | None:
        book = self.source.books().get(ticker) if hasattr(self, "source") else None
        if book is None:
            return None
        bid, ask = book.best_yes_bid(), book.best_yes_ask()
        return {
            "yes": [list(level) for level in book.levels(Side.YES)],
            "no": [list(level) for level in book.levels(Side.NO)],
            "best_yes_bid": bid[0] if bid else None,
            "best_yes_ask": ask[0] if ask else None,
            "stale": book.stale,
            "ts_ms": book.last_ts_ms,
        }

    def _samples(self) -> list[Sample]:
        p = self.pipeline.stats
        h = self.hub.stats
        w = self.db.stats

        def feed(name: str) -> Any:
            return lambda: getattr(self.feed_stats(), name, None)

        return [
            ("counter", "flowboard_trades", "Trades received", lambda: p.trades),
            ("counter", "flowboard_feed_gaps", "Feed gaps detected", lambda: p.gaps),
            ("counter", "flowboard_gaps_recovered", "Feed gaps repaired", lambda: p.gaps_recovered),
            (
                "counter",
                "flowboard_trades_recovered",
                "Trades backfilled",
                lambda: p.trades_recovered,
            ),
            ("counter", "flowboard_feed_reconnects", "Feed reconnects", feed("reconnects")),
            ("counter", "flowboard_feed_bad_frames", "Bad frames skipped", feed("bad_frames")),
            ("counter", "flowboard_db_rows_written", "Rows written", lambda: w.rows_written),
            ("counter", "flowboard_db_flushes", "Write transactions", lambda: w.flushes),
            ("gauge", "flowboard_db_pending", "Rows waiting to be written", lambda: w.pending),
            ("gauge", "flowboard_ws_clients", "Stream clients", lambda: self.hub.clients),
            ("counter", "flowboard_ws_dropped", "Slow clients dropped", lambda: h.dropped_slow),
            ("gauge", "flowboard_event_queue", "Events queued", self.events.qsize),
            ("gauge", "flowboard_feed_lag_ms", "Receive minus exchange ms", lambda: p.last_lag_ms),
            ("gauge", "flowboard_tick_ms", "Last 1 s tick, ms", lambda: self.board.last_tick_ms),
        ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, api.ApiError)
    return api.error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return api.json_response({"error": exc.detail}, exc.status_code)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    banner: str | None = None,
    on_ready: Callable[[Runtime], None] | None = None,
) -> Starlette:
    """The app; everything is built in its lifespan. ``on_ready`` is called once it runs."""
    if clock is None:
        clock = replay_clock(settings) if settings.source == "replay" else SystemClock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        rt = await Runtime.start(settings, clock)
        app.state.runtime = rt
        if banner:
            print(f"Flowboard ({settings.source}) on {banner}", flush=True)
        if on_ready is not None:
            on_ready(rt)
        try:
            yield {"runtime": rt}
        finally:
            await rt.stop()

    async def stream(websocket: WebSocket) -> None:
        rt: Runtime = websocket.state.runtime
        await rt.hub.serve(websocket)

    routes = [*api.routes(), *api_games.routes(), WebSocketRoute("/ws/stream", stream)]
    if STATIC_DIR.is_dir():
        routes.append(Mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static"))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={api.ApiError: _api_error, HTTPException: _http_error},
    )


async def serve(settings: Settings) -> None:
    # Bind first so that port 0 works and the printed URL is the real one.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
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
        log_level=settings.log_level.lower(),
        access_log=False,  # the embedded simulators' polls would fill it
        lifespan="on",
    )
    await uvicorn.Server(config).serve(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    try:
        settings = load(os.environ, sys.argv[1:] if argv is None else argv)
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
