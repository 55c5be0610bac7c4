"""A scripted stand-in for the app's page endpoints, for browser tests of pure UI behaviour.

It serves ``static/`` and a ``/ws/stream`` that sends ``snapshot`` to every new connection and
then whatever the test pushes with :meth:`PageServer.send`. It records what clients send, and it
can close every socket to exercise the page's reconnect. uvicorn runs in a background thread so
that tests can stay synchronous (Playwright's sync API).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from models import Side, Trade
from stream.messages import encode, trades_message
from web.security import Security

log = logging.getLogger("flowboard.tests.page_server")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
WINDOWS = ("1m", "5m", "15m", "1h", "24h")
MINUTE_MS = 60_000
HOUR_MS = 3_600_000

Json = dict[str, Any]


# ---- scripted protocol messages ---------------------------------------------------------------


def trade(
    n: int,
    ticker: str,
    count: int,
    side: str = "yes",
    yes_price: int = 5600,
    ts_ms: int = 1_780_000_000_000,
    tier: int = 0,
    title: str | None = None,
) -> Json:
    """A TRADE; ``count`` in hundredths, prices in centicents, notional in micro-dollars."""
    price = yes_price if side == "yes" else 10_000 - yes_price
    return {
        "id": f"t-{n:06d}",
        "ticker": ticker,
        "title": title or f"Market {ticker}",
        "yes_price": yes_price,
        "count": count,
        "side": side,
        "price": price,
        "notional": price * count,  # 1e-4 $ x 1e-2 contracts = 1e-6 $
        "ts_ms": ts_ms,
        "recv_ms": ts_ms + 5,
        "tier": tier,
    }


def trades_msg(trades: list[Json], announced: Collection[str] = ()) -> Json:
    """Trade objects (oldest first) as the app puts them on the wire: the hub's own encoding,
    without the titles of the ``announced`` tickers (the client holds them already)."""
    pending = [
        (Trade(t["id"], t["ticker"], t["yes_price"], t["count"], Side(t["side"]), t["ts_ms"],
               t["recv_ms"]), t["title"], t["tier"])
        for t in trades
    ]  # fmt: skip

    def choose(markets: list[str], titles: list[str]) -> dict[str, str]:
        return {m: t for m, t in zip(markets, titles, strict=True) if m not in announced}

    return orjson.loads(encode(trades_message(pending, choose)))


def card(ticker: str, window: str, volume: int, last_price: int = 5000) -> Json:
    yes = volume * 3 // 5
    return {
        "ticker": ticker,
        "title": f"Market {ticker}",
        "series": ticker.split("-", 1)[0],
        "window": window,
        "volume": volume,
        "notional": volume * last_price,
        "trades": volume // 100,
        "yes_volume": yes,
        "no_volume": volume - yes,
        "yes_notional": yes * last_price,
        "no_notional": (volume - yes) * (10_000 - last_price),
        "net_flow": yes - (volume - yes),
        "vwap": last_price,
        "last_price": last_price,
        "first_price": last_price - 100,
        "spark": [last_price - 100, last_price - 40, last_price - 70, last_price],
    }


def hot(orders: dict[str, list[tuple[str, int]]]) -> Json:
    """``{window: [(ticker, volume), ...]}`` in rank order -> the ``hot`` payload."""
    return {w: [card(t, w, v) for t, v in orders.get(w, [])] for w in WINDOWS}


def view(mode: str, now_ms: int, scale: int = 1) -> Json:
    bucket_ms = MINUTE_MS if mode == "hour" else HOUR_MS
    n = 60 if mode == "hour" else 24
    start = now_ms - now_ms % bucket_ms - (n - 1) * bucket_ms
    buckets = []
    for i in range(n):
        volume = (1000 + 37 * ((i * 7) % 23)) * 100 * scale
        yes = volume * (40 + i % 30) // 100
        buckets.append(
            {
                "start_ms": start + i * bucket_ms,
                "volume": volume,
                "notional": volume * 5000,
                "trades": volume // 500,
                "yes_volume": yes,
                "no_volume": volume - yes,
                "yes_notional": yes * 5000,
                "no_notional": (volume - yes) * 5000,
                "markets": 10 + i % 5,
            }
        )
    total = sum(b["volume"] for b in buckets)
    yes_total = sum(b["yes_volume"] for b in buckets)
    peak = max(buckets, key=lambda b: b["volume"])
    return {
        "mode": mode,
        "bucket_ms": bucket_ms,
        "buckets": buckets,
        "total_volume": total,
        "total_notional": total * 5000,
        "total_trades": sum(b["trades"] for b in buckets),
        "peak_volume": peak["volume"],
        "peak_start_ms": peak["start_ms"],
        "avg_volume_per_bucket": total // n,
        "yes_share_bp": yes_total * 10_000 // total,
        "active_markets": 14,
    }


def status(state: str = "connected", source: str = "sim") -> Json:
    return {
        "source": source,
        "state": state,
        "trades_per_s": 12.5,
        "lag_ms": 42,
        "gaps": 3,
        "gaps_recovered": 2,
        "trades_recovered": 17,
        "reconnects": 1,
        "clients": 1,
        "trades_stored": 12_345,
    }


def snapshot(
    trades_newest_first: list[Json],
    hot_payload: Json,
    now_ms: int = 1_780_000_000_000,
    source: str = "sim",
    games: list[Json] | None = None,
    titles: dict[str, str] | None = None,
) -> Json:
    """A snapshot; ``titles`` are the markets' titles announced before it (none by default)."""
    extra = {} if games is None else {"games": games}
    return {
        **extra,
        "type": "snapshot",
        "server_ms": now_ms,
        "source": source,
        "status": status(source=source),
        "hot": hot_payload,
        "trades": trades_newest_first,
        "analytics": {"hour": view("hour", now_ms), "day": view("day", now_ms)},
        "large_trade_tiers": [1_000_000_000, 5_000_000_000, 25_000_000_000],
        "titles": titles or {},
    }


# ---- NBA: GameView-shaped games (probabilities in ppm, prices in centicents, points in tenths)


def nba_market(
    ticker: str,
    kind: str,
    yes_team: str | None = None,
    strike_tenths: int | None = None,
    last_cc: int | None = 5000,
    status: str = "active",
    result: str | None = None,
) -> Json:
    return {
        "ticker": ticker,
        "kind": kind,
        "yes_team": yes_team,
        "strike_tenths": strike_tenths,
        "last_cc": last_cc,
        "bid_cc": None if last_cc is None else last_cc - 100,
        "ask_cc": None if last_cc is None else last_cc + 100,
        "status": status,
        "result": result,
    }


def win_history(
    start_ms: int, n: int, step_ms: int = 10_000, home_ppm: int = 550_000
) -> list[list[Any]]:
    """``n`` points of [ts_ms, kalshi, consensus, fair], a slow drift; Kalshi missing at first."""
    points: list[list[Any]] = []
    for i in range(n):
        fair = min(990_000, max(10_000, home_ppm + 7_000 * ((i * 5) % 11 - 5)))
        kalshi = None if i < 2 else min(999_000, max(1_000, fair + 40_000 * (i % 3 - 1)))
        books = min(999_000, max(1_000, fair - 30_000 + 2_000 * i))
        points.append([start_ms + i * step_ms, kalshi, books, fair])
    return points


def game_view(
    gid: int,
    away: str,
    home: str,
    *,
    date: str = "2026-06-01",
    status: str = "live",
    away_score: int = 0,
    home_score: int = 0,
    period: int = 1,
    seconds_left: int = 720,
    clock: str = "Q1 12:00",
    start_ms: int | None = None,
    ts_ms: int | None = None,
    home_ppm: int | None = 550_000,
    markets: list[Json] | None = None,
    history: list[list[Any]] | None = None,
) -> Json:
    tag = f"26JUN01{away}{home}"
    last = None if home_ppm is None else home_ppm // 100
    default_markets = [
        nba_market(f"KXNBAGAME-{tag}-{home}", "game", home, None, last),
        nba_market(
            f"KXNBAGAME-{tag}-{away}", "game", away, None, None if last is None else 10_000 - last
        ),
        nba_market(f"KXNBASPREAD-{tag}-{home}5", "spread", home, 55, 4800),
        nba_market(f"KXNBATOTAL-{tag}-220", "total", None, 2205, 5100),
    ]
    return {
        "id": gid,
        "date": date,
        "home": home,
        "away": away,
        "home_score": home_score,
        "away_score": away_score,
        "status": status,
        "period": period,
        "seconds_left": seconds_left,
        "clock": clock,
        "start_ms": start_ms if start_ms is not None else NOW_MS - 3_600_000,
        "ts_ms": ts_ms if ts_ms is not None else NOW_MS,
        "fair": {"home_win_ppm": home_ppm},
        "consensus": {
            "home_win_ppm": None if home_ppm is None else home_ppm - 5_000,
            "spread_tenths": -35,
            "total_tenths": 2215,
            "books": 4,
        },
        "kalshi": {"home_win_ppm": None if last is None else last * 100},
        "markets": default_markets if markets is None else markets,
        "freshness_ms": {"scores": 1200, "odds": 4300},
        "history": [] if history is None else history,
    }


NOW_MS = 1_780_000_000_000


def nba_games() -> list[Json]:
    """A scripted night: one game live (30 points of history), one final with settled markets,
    one not started."""
    live = game_view(
        101, "BOS", "SAS", status="live", away_score=54, home_score=61, period=3,
        seconds_left=312, clock="Q3 5:12", start_ms=NOW_MS - 5_400_000,
        history=win_history(NOW_MS - 300_000, 30),
    )  # fmt: skip
    tag = "26JUN01LALDEN"
    final = game_view(
        102, "LAL", "DEN", status="final", away_score=99, home_score=112, period=4,
        seconds_left=0, clock="Final", start_ms=NOW_MS - 9_000_000, home_ppm=1_000_000,
        history=win_history(NOW_MS - 900_000, 12, home_ppm=900_000),
        markets=[
            nba_market(f"KXNBAGAME-{tag}-DEN", "game", "DEN", None, 9900, "finalized", "yes"),
            nba_market(f"KXNBAGAME-{tag}-LAL", "game", "LAL", None, 100, "finalized", "no"),
            nba_market(f"KXNBASPREAD-{tag}-DEN9", "spread", "DEN", 95, 9800, "finalized", "yes"),
            nba_market(f"KXNBATOTAL-{tag}-215", "total", None, 2155, 700, "finalized", "no"),
        ],
    )  # fmt: skip
    later = game_view(
        103, "NYK", "MIA", status="scheduled", period=0, seconds_left=2880, clock="19:30 ET",
        start_ms=NOW_MS + 3_600_000, home_ppm=None, history=[],
    )  # fmt: skip
    return [later, live, final]


def nba_snapshot() -> Json:
    return snapshot(first_trades(), hot(HOT_ORDERS), NOW_MS, games=nba_games())


HOT_ORDERS: dict[str, list[tuple[str, int]]] = {
    "1m": [("KXA-1", 9_000), ("KXB-1", 7_000), ("KXC-1", 5_000), ("KXD-1", 3_000)],
    "5m": [("KXB-1", 90_000), ("KXC-1", 70_000), ("KXD-1", 50_000), ("KXA-1", 30_000)],
    "15m": [("KXC-1", 200_000), ("KXD-1", 150_000), ("KXA-1", 100_000), ("KXB-1", 80_000)],
    "1h": [("KXD-1", 900_000), ("KXA-1", 800_000), ("KXB-1", 700_000), ("KXC-1", 600_000)],
    "24h": [("KXA-1", 9_000_000), ("KXD-1", 8_000_000), ("KXC-1", 7_000_000), ("KXB-1", 1_000)],
}


def first_trades() -> list[Json]:
    """Ten trades, newest first: sizes 1..10 contracts alternating sides, one large."""
    rows = [
        trade(
            i,
            f"KX{'ABCD'[i % 4]}-1",
            (i + 1) * 100,
            "yes" if i % 2 else "no",
            4000 + i * 150,
            NOW_MS - (10 - i) * 1000,
        )
        for i in range(10)
    ]
    rows.append(trade(10, "KXBIG-26", 500_000, "yes", 5000, NOW_MS, tier=2))
    return list(reversed(rows))


def first_snapshot() -> Json:
    return snapshot(first_trades(), hot(HOT_ORDERS), NOW_MS)


# ---- the server ------------------------------------------------------------------------------

_CLOSE = object()
_GONE = object()


class PageServer:
    """Serves the page and a scripted /ws/stream on 127.0.0.1 at an OS-chosen port."""

    def __init__(self, first_snapshot: Json) -> None:
        self.snapshot: Json = first_snapshot
        self.markets: dict[str, Json] = {}  # ticker -> GET /api/markets/{ticker} body
        self.market_trades: dict[str, list[Json]] = {}
        self.received: list[Json] = []
        self.connections_total = 0
        self._cond = threading.Condition()
        self._queues: dict[int, asyncio.Queue[object]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # IPPROTO_TCP: TCP_NODELAY on what it accepts (see tests/serving.py)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)  # connections made before uvicorn accepts wait in the backlog
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self._app(),
            lifespan="off",
            ws_per_message_deflate=False,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="page-server", daemon=True)
        self._failure: BaseException | None = None

    # lifecycle

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by stop()
            self._failure = exc

    async def _serve(self) -> None:
        with self._cond:
            self._loop = asyncio.get_running_loop()
            self._cond.notify_all()
        await self._server.serve(sockets=[self._sock])

    def start(self) -> PageServer:
        self._thread.start()
        self._wait(lambda: self._loop is not None, 10, "the server loop did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self.close_clients()  # so that shutdown does not wait on open sockets
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()
        if self._thread.is_alive():
            raise RuntimeError("page server did not stop")
        if self._failure is not None:
            raise RuntimeError("page server failed") from self._failure

    def __enter__(self) -> PageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # scripting, from the test thread

    def send(self, msg: Json) -> None:
        """Push one protocol message to every connected client."""
        self._post(json.dumps(msg))

    def close_clients(self) -> None:
        """Close every /ws/stream socket with 1012 (service restart)."""
        self._post(_CLOSE)

    @property
    def clients(self) -> int:
        with self._cond:
            return len(self._queues)

    def wait_for_connections(self, total: int, timeout: float = 10) -> None:
        """Block until ``total`` connections have been accepted since start and one is open."""
        self._wait(
            lambda: self.connections_total >= total and len(self._queues) > 0,
            timeout,
            f"expected {total} connections, saw {self.connections_total}",
        )

    def wait_for_received(self, pred: Callable[[Json], bool], timeout: float = 10) -> Json:
        found: list[Json] = []

        def check() -> bool:
            found[:] = [m for m in self.received if pred(m)]
            return bool(found)

        self._wait(check, timeout, f"no matching client message in {self.received!r}")
        return found[-1]

    def pump(self, rate: int, seconds: float, batch_ms: int = 100) -> tuple[threading.Event, str]:
        """Stream ``rate`` trades/s for ``seconds`` in batches every ``batch_ms`` (as the app does),
        with a ``hot`` and an ``analytics`` update every second. Returns (done, last trade id)."""
        done = threading.Event()
        per_batch = max(1, rate * batch_ms // 1000)
        batches = max(1, int(seconds * 1000 // batch_ms))
        loop = self._loop
        assert loop is not None, "server not started"

        def begin() -> None:
            task = loop.create_task(self._pump(per_batch, batches, batch_ms, done))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        loop.call_soon_threadsafe(begin)
        return done, f"p-{per_batch * batches - 1:07d}"

    async def _pump(
        self, per_batch: int, batches: int, batch_ms: int, done: threading.Event
    ) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        markets = [f"KXLOAD{m:03d}-26" for m in range(200)]
        for b in range(batches):
            rows = []
            for _ in range(per_batch):
                size = 100 * (1 + (n * 7919) % 97) if n % 50 else 400_000
                row = trade(n, markets[(n * 31) % 200], size, "yes" if n % 3 else "no",
                            500 + (n * 37) % 9000, NOW_MS + n)  # fmt: skip
                row["id"] = f"p-{n:07d}"
                row["tier"] = 1 if size >= 200_000 else 0
                rows.append(row)
                n += 1
            self._broadcast(json.dumps(trades_msg(rows)))
            if b % max(1, 1000 // batch_ms) == 0:
                k = b // max(1, 1000 // batch_ms)
                order = markets[k % 7 :: 7][:24]
                ranked = {w: [(t, 10_000 * (30 - i)) for i, t in enumerate(order)] for w in WINDOWS}
                self._broadcast(json.dumps({"type": "hot", "hot": hot(ranked)}))
                self._broadcast(
                    json.dumps(
                        {
                            "type": "analytics",
                            "hour": view("hour", NOW_MS),
                            "day": view("day", NOW_MS),
                        }
                    )
                )
            # paced load: the next batch is due at a fixed offset from the start, on a timer
            tick: asyncio.Future[None] = loop.create_future()
            timer = loop.call_at(start + (b + 1) * batch_ms / 1000, tick.set_result, None)
            try:
                await tick
            finally:
                timer.cancel()
        done.set()

    def _broadcast(self, text: str) -> None:
        with self._cond:
            queues = list(self._queues.values())
        for q in queues:
            q.put_nowait(text)

    def _wait(self, cond: Callable[[], bool], timeout: float, why: str) -> None:
        with self._cond:
            if not self._cond.wait_for(cond, timeout=timeout):
                raise TimeoutError(why)

    def _post(self, item: object) -> None:
        with self._cond:
            loop, queues = self._loop, list(self._queues.values())
        assert loop is not None, "server not started"
        for q in queues:
            loop.call_soon_threadsafe(q.put_nowait, item)

    # the app

    def _app(self) -> Starlette:
        routes = [
            Route("/api/markets/{ticker}", self._market),
            Route("/api/markets/{ticker}/trades", self._market_trades),
            Route("/api/paper/accounts", self._paper_accounts),
            WebSocketRoute("/ws/stream", self._stream),
            Mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static"),
        ]
        # the app's own security headers, so that the page is tested under its real CSP
        return Starlette(
            routes=routes, middleware=[Middleware(Security, token=None, loopback=True)]
        )

    async def _market(self, request: Request) -> JSONResponse:
        ticker = request.path_params["ticker"]
        body = self.markets.get(ticker)
        if body is None:
            return JSONResponse({"error": f"unknown ticker {ticker}", "param": "ticker"}, 404)
        return JSONResponse(body)

    async def _paper_accounts(self, request: Request) -> JSONResponse:
        """A server without a paper desk: the page keeps the desk's panel hidden."""
        return JSONResponse({"accounts": [], "killed": False})

    async def _market_trades(self, request: Request) -> JSONResponse:
        ticker = request.path_params["ticker"]
        limit = int(request.query_params.get("limit", "100"))
        rows = self.market_trades.get(ticker, [])[:limit]
        return JSONResponse({"ticker": ticker, "trades": rows})

    async def _stream(self, ws: WebSocket) -> None:
        await ws.accept()
        q: asyncio.Queue[object] = asyncio.Queue()
        key = id(q)
        await ws.send_text(json.dumps(self.snapshot))
        with self._cond:
            self._queues[key] = q
            self.connections_total += 1
            self._cond.notify_all()
        reader = asyncio.create_task(self._read(ws, q))
        try:
            while True:
                item = await q.get()
                if item is _GONE:
                    break
                if item is _CLOSE:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
                    await ws.close(code=1012)
                    break
                assert isinstance(item, str)
                await ws.send_text(item)
        except WebSocketDisconnect:
            log.info("client went away while sending")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            with self._cond:
                self._queues.pop(key, None)
                self._cond.notify_all()

    async def _read(self, ws: WebSocket, q: asyncio.Queue[object]) -> None:
        try:
            async for text in ws.iter_text():
                with self._cond:
                    self.received.append(json.loads(text))
                    self._cond.notify_all()
        finally:
            q.put_nowait(_GONE)
