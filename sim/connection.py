"""One client WebSocket: an ordered outbound queue drained by its own sender task.

Publishing never awaits: frames are appended to the queue and the sender writes whatever has
accumulated in one go. With uvicorn's ``websockets-sansio`` protocol the sender writes frames
straight to the transport (one write per batch); any other ASGI server gets ``send_text``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from starlette.websockets import WebSocket

from sim.faults import Faults
from sim.ws_protocol import Session, dumps

log = logging.getLogger(__name__)

MAX_QUEUED = 500_000  # frames; a client this far behind is cut off (Kalshi error 25)
PING_PAYLOAD = b"heartbeat"  # AsyncAPI control_frames: Ping body 'heartbeat'


class Connection:
    def __init__(self, ws: WebSocket, session: Session, faults: Faults) -> None:
        self.ws = ws
        self.session = session
        self._faults = faults
        self._queue: deque[str] = deque()
        self._wake = asyncio.Event()
        self._proto: Any = getattr(ws._send, "__self__", None)  # uvicorn's protocol, if any
        self._fast = all(hasattr(self._proto, a) for a in ("conn", "transport", "writable"))
        self.closed = False
        self.sent = 0

    def push(self, frame: str) -> None:
        if self.closed or self._faults.silent:
            return
        self._queue.append(frame)
        if len(self._queue) > MAX_QUEUED:
            log.warning(
                "client %s too slow: %d frames queued, dropping it",
                self.ws.client,
                len(self._queue),
            )
            self._queue.clear()
            self._queue.append(
                dumps({"type": "error", "msg": {"code": 25, "msg": "Subscription buffer overflow"}})
            )
            self.abort()
            return
        self._wake.set()

    def push_many(self, frames: list[str]) -> None:
        for f in frames:
            self.push(f)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closed = True
        self._wake.set()
        transport = getattr(self._proto, "transport", None)
        if transport is not None:
            transport.abort()

    def ping(self) -> None:
        if self.closed or self._faults.silent or not self._fast:
            return
        p = self._proto
        if p.transport.is_closing():
            return
        p.conn.send_ping(PING_PAYLOAD)
        p.transport.write(b"".join(p.conn.data_to_send()))

    async def run_sender(self) -> None:
        q = self._queue
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            delay = self._faults.delay_ms
            if delay:
                await asyncio.sleep(delay / 1000)
            if not q or self.closed:
                continue
            batch = list(q)
            q.clear()
            if self._faults.silent:
                continue
            await self._write(batch)
            self.sent += len(batch)

    async def _write(self, batch: list[str]) -> None:
        if self._fast:
            p = self._proto
            await p.writable.wait()
            if p.transport.is_closing():
                self.closed = True
                return
            conn = p.conn
            for f in batch:
                conn.send_text(f.encode())
            p.transport.write(b"".join(conn.data_to_send()))
            return
        for f in batch:
            await self.ws.send_text(f)
