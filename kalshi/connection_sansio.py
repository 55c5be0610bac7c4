"""The feed's WebSocket client on the ``websockets`` library's sans-I/O ``ClientProtocol``.

The same reader as ``kalshi.connection`` (same ``connect()``, ``recv_batch()``, ``send_text()``,
``close()``, same errors), with the framing, the handshake checks, the ping answers and the
closing handshake left to the library: bytes from the socket go into
``ClientProtocol.receive_data``, the frames come out of ``events_received()``, and whatever the
protocol wants sent (pongs, the close echo, the request) is taken from ``data_to_send()`` and
written after every call that may produce it. What stays here is the I/O and the batching:
``recv_batch()`` returns every message that has arrived since the last call, and reading pauses
while ``MAX_UNREAD`` messages wait to be taken. A refused handshake keeps its status and body.

The library hands over frames, not messages: joining fragments and decoding text as UTF-8 are
done here (``websockets``' own asyncio client does them in its message assembler).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import SEND_EOF, Event, State
from websockets.typing import BytesLike
from websockets.uri import parse_uri

from kalshi.connection import (
    CLOSE_TIMEOUT_S,
    MAX_UNREAD,
    BatchingConnection,
    ConnectionClosed,
    HandshakeRejected,
)
from kalshi.frames import (
    CLOSE_ABNORMAL,
    CLOSE_INVALID_DATA,
    CLOSE_NORMAL,
    ProtocolError,
    WsError,
)

__all__ = [
    "MAX_UNREAD",
    "ConnectionClosed",
    "HandshakeRejected",
    "ProtocolError",
    "SansIoConnection",
    "WsError",
    "connect",
]

USER_AGENT = "flowboard"
_TEXT, _BINARY, _CONT, _CLOSE = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.CLOSE


async def connect(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    open_timeout: float = 10.0,
    max_size: int = 16 * 1024 * 1024,
    ssl_context: ssl.SSLContext | None = None,
) -> SansIoConnection:
    """Open a connection to a ``ws://`` or ``wss://`` URL. Raises HandshakeRejected (with the
    response body) on a refusal, ProtocolError on a bad upgrade, OSError or TimeoutError."""
    try:
        uri = parse_uri(url)
    except InvalidURI:
        raise ValueError(f"not a WebSocket URL: {url!r}") from None
    # no extensions offered (so no permessage-deflate), no subprotocols: as the hand-written one
    protocol = ClientProtocol(uri, max_size=max_size)
    request = protocol.connect()
    request.headers["User-Agent"] = USER_AGENT
    try:
        for name, value in (headers or {}).items():
            request.headers[name] = value
    except InvalidHandshake as exc:
        raise ValueError(f"bad header for the WebSocket request: {exc}") from None
    loop = asyncio.get_running_loop()
    conn = SansIoConnection(protocol, request)
    context = (ssl_context or ssl.create_default_context()) if uri.secure else None
    try:
        async with asyncio.timeout(open_timeout):
            await loop.create_connection(
                lambda: conn,
                uri.host,
                uri.port,
                ssl=context,
                server_hostname=uri.host if uri.secure else None,
            )
            await conn.opened
    except BaseException:
        if not conn.opened.done():
            conn.opened.cancel()
        conn.abort()
        raise
    return conn


class SansIoConnection(BatchingConnection):
    def __init__(self, protocol: ClientProtocol, request: Request) -> None:
        super().__init__()
        self._protocol = protocol
        self._request = request
        self._fragments: list[BytesLike] = []
        self._fragment_op: Opcode | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # ---- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._protocol.send_request(self._request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._protocol.receive_data(data)
        self._after_receive()

    def eof_received(self) -> bool:
        # a refusal without Content-Length ends its body here, so the protocol must see it
        self._protocol.receive_eof()
        self._after_receive()
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("connection closed during handshake"))
        self._lost(exc)

    # ---- API ----------------------------------------------------------------------------------

    async def send_text(self, text: str | bytes) -> None:
        """Send a text message (``bytes`` must be UTF-8)."""
        if self._end is not None or self._closing or self._protocol.state is not State.OPEN:
            raise self._end or ConnectionClosed(CLOSE_NORMAL, "closing", received=False)
        self._protocol.send_text(text.encode() if isinstance(text, str) else text)
        self._flush()
        await self._write_ok.wait()

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """The closing handshake: send a close frame, wait up to CLOSE_TIMEOUT_S for the
        server to end the connection, then drop the socket."""
        transport = self._transport
        if transport is None or self._closed.done():
            return
        self._closing = True
        if self._protocol.state is State.OPEN and self._end is None:
            self._protocol.send_close(code, reason)
            self._after_send()
        await self._await_end(transport)

    # ---- internals ----------------------------------------------------------------------------

    def _after_receive(self) -> None:
        """After each receive_*: write what the protocol queued (pongs, the close echo), take
        its frames, settle the handshake, and note how the connection ends."""
        protocol = self._protocol
        self._flush()
        events = protocol.events_received()
        if not self.opened.done():
            if protocol.handshake_exc is not None:
                self._handshake_failed(protocol.handshake_exc)
                return
            if protocol.state is State.CONNECTING:
                return
            self.opened.set_result(None)
        if events:
            self._on_frames(events)
        if self._end is None and protocol.parser_exc is not None:
            self._on_parser_error(protocol.parser_exc)
        if protocol.close_expected():
            self._arm_close_timer()
        if self._inbox:
            self._wake()
            if len(self._inbox) >= MAX_UNREAD and not self._paused and self._transport:
                self._paused = True
                self._transport.pause_reading()

    def _on_frames(self, events: list[Event]) -> None:
        inbox = self._inbox if not self._closing else []
        for frame in events:
            if not isinstance(frame, Frame):
                continue  # the handshake response
            opcode = frame.opcode
            if opcode is _TEXT and frame.fin and self._fragment_op is None:
                try:
                    inbox.append(str(frame.data, "utf-8"))
                except UnicodeDecodeError:
                    self._fail(ProtocolError("text frame is not UTF-8", CLOSE_INVALID_DATA))
                    return
            elif opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
                # the protocol has checked the order of fragments and the size of the message
                if opcode is not _CONT:
                    self._fragment_op = opcode
                self._fragments.append(frame.data)
                if frame.fin:
                    data = b"".join(self._fragments)
                    op, self._fragment_op = self._fragment_op, None
                    self._fragments.clear()
                    if op is _BINARY:
                        inbox.append(data)
                        continue
                    try:
                        inbox.append(data.decode())
                    except UnicodeDecodeError:
                        self._fail(ProtocolError("text message is not UTF-8", CLOSE_INVALID_DATA))
                        return
            elif opcode is _CLOSE:
                # the protocol has queued the echo (flushed already) and discards what follows
                close = self._protocol.close_rcvd
                assert close is not None
                self._end = ConnectionClosed(close.code, close.reason, received=True)
            # pings were answered by the protocol: the pong went out in _flush()

    def _on_parser_error(self, exc: Exception) -> None:
        if isinstance(exc, EOFError):
            return  # the TCP connection ended without a close frame: connection_lost says 1006
        sent = self._protocol.close_sent
        code = sent.code if sent is not None else CLOSE_ABNORMAL
        self._end = ProtocolError(str(exc), code)
        self._closing = True
        self._wake()

    def _fail(self, exc: ProtocolError) -> None:
        """Fail the connection for what the library leaves to the application (UTF-8)."""
        self._end = exc
        self._closing = True
        if self._protocol.state is State.OPEN:
            self._protocol.fail(exc.code, str(exc))
            self._after_send()
        self._wake()

    def _after_send(self) -> None:
        self._flush()
        if self._protocol.close_expected():
            self._arm_close_timer()

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self._protocol.data_to_send():
            if transport.is_closing():
                break
            if data == SEND_EOF:
                if transport.can_write_eof():
                    transport.write_eof()
                else:
                    transport.close()  # TLS cannot half-close
            else:
                transport.write(data)

    def _arm_close_timer(self) -> None:
        """The server is to end the TCP connection now; drop it if it does not in time."""
        if self._close_timer is None and self._transport is not None:
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT_S, self._transport.abort)

    def _handshake_failed(self, exc: Exception) -> None:
        if isinstance(exc, InvalidStatus):
            response = exc.response
            headers = {name: ", ".join(response.headers.get_all(name)) for name in response.headers}
            error: Exception = HandshakeRejected(
                response.status_code, headers, bytes(response.body)
            )
        elif isinstance(exc.__cause__, EOFError):
            error = ConnectionError("connection closed during handshake")
        else:
            cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
            error = ProtocolError(f"bad handshake response: {exc}{cause}")
        if not self.opened.done():
            self.opened.set_exception(error)
        if self._transport is not None:
            self._transport.close()
