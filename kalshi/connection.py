"""A WebSocket client connection (RFC 6455) on an asyncio Protocol, for the exchange feed.

The feed takes messages in batches: ``recv_batch()`` returns everything that has arrived since
the last call, so a burst of frames costs one wake-up instead of one per frame. Pings are
answered as they arrive; a close frame is answered and ends the connection once the messages
before it have been taken. Reading pauses while ``MAX_UNREAD`` messages wait to be taken.

    conn = await connect("wss://host/path", headers={...}, open_timeout=10)
    await conn.send_text('{"id": 1, ...}')
    batch = await conn.recv_batch()   # raises ConnectionClosed once the connection is over
    await conn.close()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from kalshi.frames import (
    CLOSE_ABNORMAL,
    CLOSE_NO_STATUS,
    CLOSE_NORMAL,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameDecoder,
    Message,
    ProtocolError,
    WsError,
    client_frame,
    close_payload,
    parse_close,
)

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3
MAX_HEAD_BYTES = 64 * 1024  # handshake response head, and the body of a refusal
MAX_UNREAD = 8_192  # messages waiting for the reader before the socket is paused
CLOSE_TIMEOUT_S = 2.0


class HandshakeRejected(WsError):
    """The server answered the opening handshake with an HTTP status other than 101."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(f"server rejected WebSocket connection: HTTP {status}")
        self.status = status
        self.headers = headers
        self.body = body


class ConnectionClosed(WsError):
    def __init__(self, code: int, reason: str, *, received: bool) -> None:
        how = "received" if received else "no close frame received"
        super().__init__(f"{code} {reason}".strip() + f" ({how})")
        self.code = code
        self.reason = reason


async def connect(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    open_timeout: float = 10.0,
    max_size: int = 16 * 1024 * 1024,
    ssl_context: ssl.SSLContext | None = None,
) -> WsConnection:
    """Open a connection to a ``ws://`` or ``wss://`` URL. Raises HandshakeRejected (with the
    response body) on a refusal, ProtocolError on a bad upgrade, OSError or TimeoutError."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a WebSocket URL: {url!r}")
    secure = parts.scheme == "wss"
    host = parts.hostname
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = f"[{host}]" if ":" in host else host
    if parts.port and parts.port != (443 if secure else 80):
        host_header += f":{parts.port}"
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "User-Agent: flowboard",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    conn = WsConnection(request, accept_for(key), max_size)
    context = (ssl_context or ssl.create_default_context()) if secure else None
    try:
        async with asyncio.timeout(open_timeout):
            await loop.create_connection(
                lambda: conn, host, port, ssl=context, server_hostname=host if secure else None
            )
            await conn.opened
    except BaseException:
        if not conn.opened.done():
            conn.opened.cancel()
        conn.abort()
        raise
    return conn


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


class BatchingConnection(asyncio.Protocol):
    """What both WebSocket readers share: the inbox that ``recv_batch`` hands over whole, reading
    paused while MAX_UNREAD messages wait, write flow control, and the end of the connection.
    Subclasses fill ``_inbox`` from the bytes they decode and call ``_wake``."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.opened: asyncio.Future[None] = loop.create_future()
        self._closed: asyncio.Future[None] = loop.create_future()
        self._inbox: list[Message] = []
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self._closing = False  # a close frame was sent: what still comes is thrown away
        self._end: WsError | None = None  # why the connection is over
        self._write_ok = asyncio.Event()
        self._write_ok.set()

    def _lost(self, exc: Exception | None) -> None:
        """The tail of ``connection_lost``: the connection is over, every waiter wakes."""
        if self._end is None:
            detail = f"connection lost: {exc}" if exc else "connection lost"
            self._end = ConnectionClosed(CLOSE_ABNORMAL, detail, received=False)
        if not self._closed.done():
            self._closed.set_result(None)
        self._write_ok.set()
        self._wake()

    def pause_writing(self) -> None:
        self._write_ok.clear()

    def resume_writing(self) -> None:
        self._write_ok.set()

    async def recv_batch(self) -> list[Message]:
        """Every message received since the last call, at least one; raises ConnectionClosed
        (or ProtocolError) once the messages before the end have all been taken."""
        while not self._inbox:
            if self._end is not None:
                raise self._end
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        batch, self._inbox = self._inbox, []
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return batch

    async def _await_end(self, transport: asyncio.Transport) -> None:
        """After the close frame went out: drop what is unread, wait up to CLOSE_TIMEOUT_S for
        the connection to end, then drop the socket."""
        self._inbox = []
        if self._paused:
            self._paused = False
            transport.resume_reading()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.shield(self._closed)
        if not self._closed.done():
            transport.abort()

    def abort(self) -> None:
        """Drop the socket at once, without a closing handshake."""
        if self._transport is not None:
            self._transport.abort()

    @property
    def closed(self) -> bool:
        return self._end is not None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class WsConnection(BatchingConnection):
    def __init__(self, request: bytes, accept: str, max_size: int) -> None:
        super().__init__()
        self._request = request
        self._accept = accept
        self._head = bytearray()
        self._refusal: tuple[int, dict[str, str], int | None] | None = None
        self._decoder = FrameDecoder(max_size)

    # ---- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self._handshake(data)
            return
        if self._end is not None:
            return
        try:
            # once a close frame is sent, what still comes is read and thrown away
            self._decoder.feed(data, self._inbox if not self._closing else [])
        except ProtocolError as exc:
            self._fail(exc)
            return
        if self._decoder.controls:
            self._on_controls()
        if self._inbox:
            self._wake()
            if len(self._inbox) >= MAX_UNREAD and not self._paused and self._transport:
                self._paused = True
                self._transport.pause_reading()

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            if self._refusal is not None:
                self._refuse(bytes(self._head))
            else:
                self.opened.set_exception(
                    exc or ConnectionError("connection closed during handshake")
                )
        self._lost(exc)

    # ---- API ----------------------------------------------------------------------------------

    async def send_text(self, text: str | bytes) -> None:
        """Send a text message (``bytes`` must be UTF-8)."""
        if self._end is not None or self._closing:
            raise self._end or ConnectionClosed(CLOSE_NORMAL, "closing", received=False)
        data = text.encode() if isinstance(text, str) else text
        self._write(client_frame(OP_TEXT, data))
        await self._write_ok.wait()

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """The closing handshake: send a close frame, wait up to CLOSE_TIMEOUT_S for the
        server's, then drop the socket."""
        transport = self._transport
        if transport is None or self._closed.done():
            return
        if not self._closing and self._end is None:
            self._closing = True
            self._write(client_frame(OP_CLOSE, close_payload(code, reason)))
        await self._await_end(transport)

    # ---- internals ----------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _on_controls(self) -> None:
        controls = self._decoder.controls
        for opcode, payload in controls:
            if opcode == OP_PING:
                if not self._closing:
                    self._write(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                code, reason = parse_close(payload)
                if not self._closing:
                    self._closing = True
                    echo = b"" if code == CLOSE_NO_STATUS else code.to_bytes(2, "big")
                    self._write(client_frame(OP_CLOSE, echo))
                self._end = ConnectionClosed(code, reason, received=True)
                # the server closes TCP first (RFC 6455 7.1.1); close() drops it after a wait
                if self._transport is not None:
                    self._transport.close()
        controls.clear()
        self._wake()

    def _fail(self, exc: ProtocolError) -> None:
        self._end = exc
        if not self._closing:
            self._closing = True
            self._write(client_frame(OP_CLOSE, close_payload(exc.code, str(exc))))
        if self._transport is not None:
            self._transport.close()
        self._wake()

    # ---- the opening handshake ---------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        self._head += data
        if self._refusal is not None:
            self._refusal_body()
            return
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HEAD_BYTES:
                self._handshake_failed(ProtocolError("handshake response head too long"))
            return
        head = bytes(self._head[:end]).decode("latin-1")
        rest = bytes(self._head[end + 4 :])
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            self._handshake_failed(ProtocolError(f"bad handshake status line {status_line!r}"))
            return
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep:
                self._handshake_failed(ProtocolError(f"bad handshake header {line!r}"))
                return
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if status != 101:
            length = headers.get("content-length")
            self._refusal = (status, headers, int(length) if length and length.isdigit() else None)
            self._head = bytearray(rest)
            self._refusal_body()
            return
        problem = self._check_upgrade(headers)
        if problem:
            self._handshake_failed(ProtocolError(f"bad handshake response: {problem}"))
            return
        self._head = bytearray()
        self.opened.set_result(None)
        if rest:
            self.data_received(rest)

    def _check_upgrade(self, headers: dict[str, str]) -> str | None:
        if headers.get("upgrade", "").lower() != "websocket":
            return "no 'Upgrade: websocket'"
        if "upgrade" not in (t.strip().lower() for t in headers.get("connection", "").split(",")):
            return "no 'Connection: Upgrade'"
        if headers.get("sec-websocket-accept") != self._accept:
            return "wrong Sec-WebSocket-Accept"
        if "sec-websocket-extensions" in headers:
            return "an extension nobody asked for"
        if "sec-websocket-protocol" in headers:
            return "a subprotocol nobody asked for"
        return None

    def _refusal_body(self) -> None:
        """A refusal's body is kept for the error: Content-Length bytes, chunks, or to EOF."""
        assert self._refusal is not None
        _, headers, length = self._refusal
        body = bytes(self._head)
        if length is not None and len(body) >= length:
            self._refuse(body[:length])
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            decoded = _dechunk(body)
            if decoded is not None:
                self._refuse(decoded)
        if len(self._head) > MAX_HEAD_BYTES and not self.opened.done():
            self._refuse(body[:MAX_HEAD_BYTES])

    def _refuse(self, body: bytes) -> None:
        assert self._refusal is not None
        status, headers, _ = self._refusal
        if not self.opened.done():
            self.opened.set_exception(HandshakeRejected(status, headers, body))
        if self._transport is not None:
            self._transport.close()

    def _handshake_failed(self, exc: WsError) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()


def _dechunk(data: bytes) -> bytes | None:
    """A complete chunked body, or None while it is not complete."""
    out = bytearray()
    i = 0
    while True:
        eol = data.find(b"\r\n", i)
        if eol < 0:
            return None
        size_text = data[i:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return bytes(out)  # not chunked after all: keep what decoded
        if size == 0:
            return bytes(out)
        start = eol + 2
        if len(data) < start + size + 2:
            return None
        out += data[start : start + size]
        i = start + size + 2
