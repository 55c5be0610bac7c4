"""Run the real app under uvicorn on a loopback port for a test, through its lifespan."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from app import Flowboard, create_app
from clock import Clock
from config import Settings
from stream.requests import MAX_REQUEST_BYTES


@dataclass
class Running:
    url: str
    ws_url: str
    runtime: Flowboard


@asynccontextmanager
async def running_app(
    settings: Settings,
    clock: Clock | None = None,
    on_ready: Callable[[Flowboard], None] | None = None,
) -> AsyncIterator[Running]:
    """The app served on a loopback port; ``on_ready`` runs once it is built, before any of its
    tasks has run (a replay has not handled its first event yet)."""
    ready: asyncio.Future[Flowboard] = asyncio.get_running_loop().create_future()

    def built(fb: Flowboard) -> None:
        if on_ready is not None:
            on_ready(fb)
        ready.set_result(fb)

    app = create_app(settings, clock=clock, on_ready=built)
    # IPPROTO_TCP named, so that asyncio sets TCP_NODELAY on the connections it accepts (it
    # checks the socket's proto); otherwise each answer waits ~40 ms on the client's delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections made before uvicorn accepts wait in the backlog
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",
        ws_per_message_deflate=False,
        ws_max_size=MAX_REQUEST_BYTES,  # as app.serve
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(30):
            first: set[asyncio.Future[Any]] = {ready, task}
            done, _ = await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
            raise RuntimeError("the app stopped during start-up")
        yield Running(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", ready.result())
    finally:
        server.should_exit = True
        await task
        sock.close()
