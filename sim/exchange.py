"""The Kalshi-compatible exchange simulator: REST + WebSocket on one port, and its CLI.

    python -m sim.exchange --host 127.0.0.1 --port 0 --key-id ID --public-key key.pem \
        [--nba-games 15 --game-speed 10 --tipoff-s 60]
prints ``READY rest=<url> ws=<url>`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from clock import Clock, SystemClock
from models import MarketInfo, format_count, format_price
from sim.auth import Verifier
from sim.connection import Connection
from sim.embedded import EmbeddedServer, embedded_config
from sim.faults import Faults
from sim.history import KEEP_TRADES
from sim.market_model import (
    LIFECYCLE_EVERY,
    DeltaEv,
    LifeEv,
    MarketModel,
    SimEvent,
    TickerEv,
    TradeEv,
)
from sim.nba_games import NightSim
from sim.nba_markets import NbaMarkets
from sim.ratelimit import RateLimiter
from sim.rest import RequestLog, RestApi, json_response, snapshot_msg
from sim.shapes import lifecycle_ws_msg, rfc3339, ticker_ws_msg, trade_ws_msg
from sim.ws_protocol import Session, data_frame

log = logging.getLogger(__name__)

WS_PATH = "/trade-api/ws/v2"
PING_INTERVAL_S = 10.0
TICK_S = 0.01
# Kalshi lists and settles markets on a calendar, not per trade: at a high rate, lifecycle steps
# come at most about this often (at the default 50 trades/s, every LIFECYCLE_EVERY trades is
# that already). Per trade, 2,000 trades/s listed ~10,000 markets an hour, each of which the
# app's windows hold for a day after its last trade.
LIFECYCLE_MIN_GAP_S = 30.0


class SimExchange:
    def __init__(
        self,
        *,
        key_id: str,
        public_key_pem: bytes,
        seed: int = 1,
        rate: float = 50.0,
        n_markets: int = 300,
        clock: Clock | None = None,
        require_auth: bool = True,
        rate_limit_per_s: float = 20.0,
        rate_limit_burst: int = 100,
        night: NightSim | None = None,
        id_salt: int = 0,
        history_keep: int = KEEP_TRADES,
    ) -> None:
        """With a ``night`` the NBA events are its games, priced from its truth and
        settled on its scores; the emit loop (or ``emit_trades``) steps it with this clock.
        ``id_salt`` gives the trade ids a fresh space (an exchange restarted with its seed).
        REST serves the newest ``history_keep`` trades (``sim.history``)."""
        self._clock: Clock = clock or SystemClock()
        self._rate = rate
        now = self._clock.now_ms()
        self._model = MarketModel(
            seed=seed, n_markets=n_markets, start_ms=now, random_nba=night is None,
            id_salt=id_salt, history_keep=history_keep,
            lifecycle_every=max(LIFECYCLE_EVERY, round(rate * LIFECYCLE_MIN_GAP_S)),
        )  # fmt: skip
        self.nba: NbaMarkets | None = None
        if night is not None:
            self.nba = NbaMarkets(self._model, night, seed=seed, now_ms=now)
        self._verifier = Verifier({key_id: public_key_pem}, self._clock) if require_auth else None
        self._limiter = RateLimiter(rate_limit_per_s, rate_limit_burst, self._clock)
        self.faults = Faults(
            on_drop=self._drop_all, on_skip_seq=self._skip_seq, on_malformed=self._malformed
        )
        self.rest_log = RequestLog()  # every REST answer, by route and status
        self._conns: set[Connection] = set()
        self._clients_changed = asyncio.Event()
        self._server: EmbeddedServer | None = None
        self._sock: socket.socket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self.rest_url = ""
        self.ws_url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        api = RestApi(self._model, self._verifier, self._limiter, self.faults, self.rest_log)
        rest = Starlette(routes=api.routes())

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            # The WS route bypasses Starlette's middleware so the connection can reach the
            # server protocol's own send (batched writes, pings, abort).
            if scope["type"] == "websocket" and scope["path"] == WS_PATH:
                await self._ws_endpoint(WebSocket(scope, receive, send))
            elif scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await rest(scope, receive, send)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.rest_url = f"http://{host}:{self.port}/trade-api/v2"
        self.ws_url = f"ws://{host}:{self.port}{WS_PATH}"
        config = embedded_config(
            app,
            ws="websockets-sansio",
            ws_ping_interval=None,
            ws_per_message_deflate=False,
            lifespan="off",
        )
        server = EmbeddedServer(config)
        self._server = server
        serve = asyncio.create_task(server.serve(sockets=[sock]))
        self._tasks.append(serve)
        while not server.started:
            if serve.done():
                serve.result()
                raise RuntimeError("the simulated exchange stopped during start-up")
            await asyncio.sleep(0.005)
        self._tasks.append(asyncio.create_task(self._ping_loop()))
        if self._rate > 0:
            self._tasks.append(asyncio.create_task(self._emit_loop()))
        log.info("simulated exchange on %s", self.rest_url)

    async def stop(self) -> None:
        tasks: Sequence[asyncio.Task[None] | None] = self._tasks or [None]
        serve, *others = tasks
        for t in others:
            if t is not None:
                t.cancel()
        for t in others:
            if t is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        for c in list(self._conns):
            c.abort()
        if self._server is not None:
            self._server.should_exit = True
        if serve is not None:
            await serve
        if self._sock is not None:
            self._sock.close()
        self._tasks.clear()

    # -- the model ---------------------------------------------------------------------------

    async def emit_trades(self, n: int) -> list[str]:
        """Produce ``n`` trades now (recorded in history, broadcast on WS); their ids. With a
        night, this also steps it to now (``n`` may be 0 for just that)."""
        return self._emit(n)

    def _emit(self, n: int) -> list[str]:
        hist = self._model.history
        first = len(hist)
        events = self._model.step(n, self._clock.now_ms())
        self._broadcast(events)
        hist.trim()  # after the broadcast, which reads this step's rows
        return [hist.trade_id(i) for i in range(first, len(hist))]

    def produced_trade_ids(self) -> list[str]:
        """Every trade id produced, those REST no longer serves too."""
        hist = self._model.history
        return [hist.trade_id(i) for i in range(len(hist))]

    def book(self, ticker: str) -> tuple[dict[int, int], dict[int, int]]:
        m = self._model.by_ticker[ticker]
        return dict(m.book_yes), dict(m.book_no)

    def tickers(self) -> list[str]:
        return [m.ticker for m in self._model.markets]

    def open_tickers(self) -> list[str]:
        return [m.ticker for m in self._model.iter_open()]

    def markets(self) -> list[MarketInfo]:
        return [self._model.info(m) for m in self._model.markets]

    def set_event_fee(
        self, event_ticker: str, fee_type: str | None, multiplier_ppm: int | None
    ) -> None:
        """Set (or with both None, clear) an event's fee override: Kalshi's ``event_fee_update``
        on every lifecycle subscription (that channel takes no ticker filter)."""
        mult = None if multiplier_ppm is None else multiplier_ppm / 1_000_000
        body = orjson.dumps({"event_ticker": event_ticker, "fee_type_override": fee_type,
                             "fee_multiplier_override": mult}).decode()  # fmt: skip
        for c in self._conns:
            for sub in c.session.by_channel.get("market_lifecycle_v2", ()):
                c.push(data_frame("event_fee_update", sub.sid, sub.next_seq(), body))

    async def wait_clients(self, n: int) -> None:
        """Resolves when ``n`` WS connections have at least one subscription."""
        while sum(1 for c in self._conns if c.session.subs) < n:
            self._clients_changed.clear()
            await self._clients_changed.wait()

    async def _emit_loop(self) -> None:
        # Paced by the injected clock: owed = rate x elapsed; k trades per tick, so a high
        # rate costs one model step and one broadcast per tick, not per trade.
        start = self._clock.now_ms()
        done = 0
        max_per_tick = max(1, int(self._rate / 5))
        while True:
            await asyncio.sleep(TICK_S)
            owed = int((self._clock.now_ms() - start) * self._rate / 1000) - done
            if owed > max_per_tick * 10:  # fell far behind: forget the debt
                done += owed - max_per_tick
                owed = max_per_tick
            k = min(owed, max_per_tick)
            if k > 0 or self.nba is not None:
                self._emit(k)
                done += k

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(PING_INTERVAL_S)
            for c in list(self._conns):
                c.ping()

    # -- broadcast ---------------------------------------------------------------------------

    def _broadcast(self, events: list[SimEvent]) -> None:
        conns = [c for c in self._conns if c.session.subs]
        if not conns:
            return
        markets = self._model.markets
        hist = self._model.history
        drops = self.faults.book_drops
        for ev in events:
            if type(ev) is TradeEv:
                r = hist.row(ev.row)
                ticker = markets[r.market].ticker
                body = None
                for c in conns:
                    for s in c.session.by_channel["trade"]:
                        if s.tickers is None or ticker in s.tickers:
                            if body is None:
                                body = orjson.dumps(trade_ws_msg(r, ticker)).decode()
                            c.push(data_frame("trade", s.sid, s.next_seq(), body))
            elif type(ev) is DeltaEv:
                m = markets[ev.market]
                ticker = m.ticker
                lost = drops.get(ticker, 0)
                if lost:
                    drops[ticker] = lost - 1
                bodies: dict[bool, str] = {}
                for c in conns:
                    for s in c.session.by_channel["orderbook_delta"]:
                        if s.tickers is not None and ticker in s.tickers:
                            seq = s.next_seq()
                            if lost:
                                continue
                            yes_leg = s.use_yes and not ev.yes_side
                            body = bodies.get(yes_leg)
                            if body is None:
                                body = bodies[yes_leg] = self._delta_body(
                                    m.ticker, m.market_id, ev, yes_leg
                                )
                            c.push(data_frame("orderbook_delta", s.sid, seq, body))
            elif type(ev) is TickerEv:
                self._push_ticker(conns, ev)
            elif type(ev) is LifeEv:
                m = markets[ev.market]
                body = None
                for c in conns:
                    for s in c.session.by_channel["market_lifecycle_v2"]:
                        if s.tickers is None or m.ticker in s.tickers:
                            if body is None:
                                body = orjson.dumps(
                                    lifecycle_ws_msg(m, ev.event_type, ev.ts_ms)
                                ).decode()
                            c.push(data_frame("market_lifecycle_v2", s.sid, s.next_seq(), body))

    def _push_ticker(self, conns: list[Connection], ev: TickerEv) -> None:
        m = self._model.markets[ev.market]
        body = None
        for c in conns:
            for s in c.session.by_channel["ticker"]:
                if s.tickers is None or m.ticker in s.tickers:
                    if body is None:
                        body = orjson.dumps(ticker_ws_msg(m, ev.last_size, ev.ts_ms)).decode()
                    # The ticker channel carries no seq (AsyncAPI tickerPayload).
                    c.push(f'{{"type":"ticker","sid":{s.sid},"msg":{body}}}')

    @staticmethod
    def _delta_body(ticker: str, market_id: str, ev: DeltaEv, yes_leg: bool) -> str:
        price = 10_000 - ev.price if yes_leg else ev.price
        return orjson.dumps(
            {
                "market_ticker": ticker,
                "market_id": market_id,
                "price_dollars": format_price(price),
                "delta_fp": format_count(ev.delta),
                "side": "yes" if ev.yes_side else "no",
                "ts": rfc3339(ev.ts_ms, micros=True),
                "ts_ms": ev.ts_ms,
            }
        ).decode()

    # -- faults ------------------------------------------------------------------------------

    def _drop_all(self) -> None:
        for c in list(self._conns):
            c.abort()

    def _skip_seq(self, channel: str, n: int) -> None:
        for c in self._conns:
            for s in c.session.by_channel.get(channel, ()):
                s.skip += n

    def _malformed(self, text: str) -> None:
        for c in self._conns:
            c.push(text)

    # -- the WebSocket endpoint --------------------------------------------------------------

    async def _ws_endpoint(self, ws: WebSocket) -> None:
        if self._verifier is not None:
            # The upgrade is signed as GET /trade-api/ws/v2.
            result = self._verifier.check(ws.headers, "GET", WS_PATH)
            if not isinstance(result, str):
                await ws.send_denial_response(json_response(result.body, 401))
                return
        await ws.accept()
        model = self._model
        session = Session(
            lambda t: t in model.by_ticker, lambda t, yes: snapshot_msg(model.by_ticker[t], yes)
        )
        conn = Connection(ws, session, self.faults)
        self._conns.add(conn)
        sender = asyncio.create_task(conn.run_sender())
        try:
            while not conn.closed:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                text = msg.get("text")
                if text is None:
                    text = (msg.get("bytes") or b"").decode("utf-8", "replace")
                conn.push_many(session.handle(text))
                self._clients_changed.set()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            conn.closed = True
            self._conns.discard(conn)
            self._clients_changed.set()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m sim.exchange", description="Kalshi-compatible exchange simulator"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--key-id", required=True)
    p.add_argument("--public-key", required=True, help="PEM file of the registered public key")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rate", type=float, default=50.0, help="trades per second")
    p.add_argument("--markets", type=int, default=300)
    p.add_argument("--no-auth", action="store_true")
    p.add_argument("--rate-limit", type=float, default=20.0, help="REST requests per second")
    p.add_argument("--rate-limit-burst", type=int, default=100)
    p.add_argument(
        "--nba-games",
        type=int,
        default=0,
        help="NBA events are a simulated night of this many games (1..15) starting "
        "today (US Eastern date); 0 = random NBA events",
    )
    p.add_argument("--game-speed", type=float, default=10.0, help="game seconds per second")
    p.add_argument("--tipoff-s", type=int, default=60, help="seconds until the first tip-off")
    p.add_argument("--game-stagger-s", type=int, default=0, help="seconds between tip-offs")
    return p.parse_args(argv)


def _night(args: argparse.Namespace, clock: Clock) -> NightSim | None:
    if args.nba_games <= 0:
        return None
    now = clock.now_ms()
    day = datetime.fromtimestamp(now / 1000, ZoneInfo("America/New_York")).date().isoformat()
    return NightSim(
        args.seed,
        day,
        now + args.tipoff_s * 1000,
        args.nba_games,
        acceleration=args.game_speed,
        stagger_ms=args.game_stagger_s * 1000,
    )


async def _serve(args: argparse.Namespace, pem: bytes) -> None:
    clock = SystemClock()
    ex = SimExchange(
        key_id=args.key_id,
        public_key_pem=pem,
        seed=args.seed,
        rate=args.rate,
        n_markets=args.markets,
        clock=clock,
        require_auth=not args.no_auth,
        rate_limit_per_s=args.rate_limit,
        rate_limit_burst=args.rate_limit_burst,
        night=_night(args, clock),
    )
    await ex.start(args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY rest={ex.rest_url} ws={ex.ws_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await ex.stop()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    args = _parse_args(argv)
    with open(args.public_key, "rb") as f:
        pem = f.read()
    asyncio.run(_serve(args, pem))


if __name__ == "__main__":
    main()
