"""Helper processes for the end-to-end benches, and the app served in the bench process.

A child (``bench.sim_proc``, ``bench.ws_swarm``) speaks JSON lines: commands on its stdin,
events (``{"event": ...}``) on its stdout. A child exits when its stdin closes, so it cannot
outlive the bench even if the bench is killed; ``Child.stop`` closes stdin, then terminates,
then kills, and always reaps the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import statistics
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import orjson
import psutil
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app import Flowboard, create_app
from config import Settings
from sim.embedded import EmbeddedServer

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 5.0


class ChildError(RuntimeError):
    """A helper process died or did not answer in time."""


class Child:
    """One helper process and its JSON-lines conversation."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.latest: dict[str, dict[str, Any]] = {}
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(), name=f"{name}-stdout")

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            async for line in self.proc.stdout:
                text = line.strip()
                if not text:
                    continue
                try:
                    msg = orjson.loads(text)
                except orjson.JSONDecodeError:
                    print(f"[{self.name}] {text.decode(errors='replace')}", flush=True)
                    continue
                if not isinstance(msg, dict) or "event" not in msg:
                    continue
                self.latest[msg["event"]] = msg
                if self.on_event is not None:
                    self.on_event(msg)
                self._events.put_nowait(msg)
        finally:
            self._events.put_nowait(None)

    def send(self, **cmd: Any) -> None:
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            raise ChildError(f"{self.name}: stdin is closed")
        stdin.write(orjson.dumps(cmd) + b"\n")

    async def expect(self, event: str, timeout_s: float) -> dict[str, Any]:
        """The next event named ``event``; other events are skipped (kept in ``latest``)."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    msg = await self._events.get()
                    if msg is None:
                        rc = await self.proc.wait()
                        raise ChildError(f"{self.name} exited (rc={rc}) before {event!r}")
                    if msg["event"] == event:
                        return msg
        except TimeoutError:
            raise ChildError(f"{self.name}: no {event!r} within {timeout_s:.0f} s") from None

    async def expect_ticking(
        self, event: str, timeout_s: float, tick: Callable[[], None], every_s: float = 1.0
    ) -> dict[str, Any]:
        """``expect(event)``, calling ``tick`` every ``every_s`` while waiting."""
        waiting = asyncio.ensure_future(self.expect(event, timeout_s))
        try:
            while True:
                done, _ = await asyncio.wait({waiting}, timeout=every_s)
                if done:
                    return waiting.result()
                tick()
        finally:
            if not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting

    async def stop(self) -> int:
        """Close stdin, wait; then SIGTERM, wait; then SIGKILL. Returns the exit code."""
        proc = self.proc
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        for step in (None, proc.terminate, proc.kill):
            if step is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    step()
            try:
                async with asyncio.timeout(STOP_GRACE_S):
                    await proc.wait()
                break
            except TimeoutError:
                log.warning("%s (pid %d) did not exit in time", self.name, proc.pid)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        return proc.returncode if proc.returncode is not None else -9


@asynccontextmanager
async def spawn(
    name: str, module: str, args: list[str], *, ready_timeout_s: float = 60.0
) -> AsyncIterator[tuple[Child, dict[str, Any]]]:
    """Start ``python -m module args``, wait for its ``ready`` event, stop it on exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        start_new_session=True,  # Ctrl-C reaches the bench only; the bench stops its children
        limit=2**24,
    )  # fmt: skip
    child = Child(name, proc)
    try:
        ready = await child.expect("ready", ready_timeout_s)
        yield child, ready
    finally:
        await child.stop()


# ---- the child side -------------------------------------------------------------------------


def emit(event: str, **fields: Any) -> None:
    """Write one event line to stdout (the parent reads it)."""
    sys.stdout.buffer.write(orjson.dumps({"event": event, **fields}) + b"\n")
    sys.stdout.buffer.flush()


async def commands() -> AsyncIterator[dict[str, Any]]:
    """Commands from stdin, one JSON object a line; ends when stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while line := await reader.readline():
            try:
                cmd = orjson.loads(line)
            except orjson.JSONDecodeError:
                print(f"bad command: {line!r}", file=sys.stderr)
                continue
            if isinstance(cmd, dict):
                yield cmd
    finally:
        transport.close()


# ---- keys, the app, load ---------------------------------------------------------------------


def write_keypair(directory: Path) -> tuple[Path, Path]:
    """A fresh RSA key pair as PEM files: (private, public)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = directory / "bench-key.pem"
    public = directory / "bench-key.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@dataclass
class ServedApp:
    runtime: Flowboard
    port: int

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/stream"


@asynccontextmanager
async def serve_app(
    settings: Settings, *, on_abort: Callable[[], Awaitable[object]] | None = None
) -> AsyncIterator[ServedApp]:
    """The real app (create_app + uvicorn, as ``app.serve`` runs it) on a loopback port.

    If the body fails or is cancelled, ``on_abort`` runs before the app shuts down (stop the
    exchange process there: a feed closing against a flooded socket waits for its close
    handshake)."""
    ready: asyncio.Future[Flowboard] = asyncio.get_running_loop().create_future()
    app = create_app(settings, on_ready=ready.set_result)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    config = uvicorn.Config(
        app, lifespan="on", ws_per_message_deflate=False, log_level="warning", backlog=2048
    )
    server = EmbeddedServer(config)  # Ctrl-C cancels the bench, which shuts down
    task = asyncio.create_task(server.serve(sockets=[sock]), name="bench-uvicorn")
    try:
        async with asyncio.timeout(60):
            first: set[asyncio.Future[Any]] = {ready, task}
            done, _ = await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
            raise ChildError("the app stopped during start-up")
        try:
            yield ServedApp(ready.result(), sock.getsockname()[1])
        except BaseException:
            if on_abort is not None:
                await on_abort()
            raise
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


@dataclass
class LoadMonitor:
    """CPU share of each process (100 = one core) and the machine, sampled once a second."""

    pids: dict[str, int]
    samples: dict[str, list[float]] = field(default_factory=dict)
    _procs: dict[str, psutil.Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, pid in self.pids.items():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                proc.cpu_percent(None)
                self._procs[name] = proc
        psutil.cpu_percent(None)

    def sample(self) -> dict[str, float]:
        now: dict[str, float] = {}
        for name, proc in self._procs.items():
            with contextlib.suppress(psutil.Error):
                now[name] = proc.cpu_percent(None)
        now["machine"] = psutil.cpu_percent(None) * (os.cpu_count() or 1)
        now["loadavg"] = os.getloadavg()[0]
        for name, value in now.items():
            self.samples.setdefault(name, []).append(value)
        return now

    def medians(self) -> dict[str, float]:
        return {k: statistics.median(v) for k, v in self.samples.items() if v}


def format_load(load: dict[str, float]) -> str:
    cpu = " ".join(f"{k} {v:.0f}%" for k, v in load.items() if k != "loadavg")
    return f"cpu {cpu}, loadavg {load.get('loadavg', 0.0):.1f}"


def run_bench(main: Coroutine[Any, Any, int]) -> NoReturn:
    """Run a benchmark's main coroutine and exit with its code; Ctrl-C exits 130 once the
    benchmark has stopped its helper processes."""
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    try:
        rc = asyncio.run(main)
    except KeyboardInterrupt:
        print("interrupted; every helper process stopped", flush=True)
        rc = 130
    raise SystemExit(rc)
