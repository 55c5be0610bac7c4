"""The feed's WebSocket clients (the hand-written one and the one on websockets' sans-I/O
protocol) against an independent server (the websockets library's asyncio server) and against
hand-written handshake replies, over real loopback sockets (TLS included). Every test runs
against both readers: they must behave alike for the feed."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import ServerConnection, serve
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.uri import parse_uri

from kalshi import connection, connection_sansio
from kalshi.connection import ConnectionClosed, HandshakeRejected, WsConnection, accept_for
from kalshi.connection_sansio import SansIoConnection
from kalshi.frames import Message, ProtocolError

Handler = Callable[[ServerConnection], Awaitable[None]]
Conn = WsConnection | SansIoConnection
Connect = Callable[..., Awaitable[Conn]]


@pytest.fixture(params=["handwritten", "sansio"])
def reader(request: pytest.FixtureRequest) -> str:
    """Which reader a test runs against: each test runs against both."""
    return str(request.param)


@pytest.fixture
def connect(reader: str) -> Connect:
    return connection.connect if reader == "handwritten" else connection_sansio.connect


@asynccontextmanager
async def server(
    handler: Handler,
    *,
    process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[str]:
    async with serve(
        handler, "127.0.0.1", 0, process_request=process_request, ssl=ssl_context,
        compression=None,
    ) as srv:  # fmt: skip
        port = srv.sockets[0].getsockname()[1]
        yield f"{'wss' if ssl_context else 'ws'}://127.0.0.1:{port}/trade-api/ws/v2?x=1"


async def read_all(conn: Conn) -> tuple[list[Message], int, ConnectionClosed]:
    """Every message until the connection ends, how many batches they came in, and the end."""
    out: list[Message] = []
    batches = 0
    while True:
        try:
            batch = await conn.recv_batch()
        except ConnectionClosed as end:
            return out, batches, end
        batches += 1
        out += batch


async def test_handshake_headers_messages_both_ways_and_close(connect: Connect) -> None:
    seen: dict[str, str] = {}
    got: asyncio.Queue[str] = asyncio.Queue()
    closed_with: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        seen["path"] = ws.request.path if ws.request else ""
        seen["key"] = ws.request.headers.get("KALSHI-ACCESS-KEY", "") if ws.request else ""
        async for msg in ws:
            assert isinstance(msg, str)
            await got.put(msg)
            await ws.send(f"echo {msg}")
            await ws.send(b"\x00binary")
        closed_with.set_result(ws.close_code)

    async with server(handler) as url:
        conn = await connect(url, headers={"KALSHI-ACCESS-KEY": "k-1"}, open_timeout=5)
        await conn.send_text('{"id":1}')
        await conn.send_text(b'{"id":2}')
        received: list[Message] = []
        while len(received) < 4:
            received += await conn.recv_batch()
        await conn.close()
        assert await closed_with == 1000
    assert received == ['echo {"id":1}', b"\x00binary", 'echo {"id":2}', b"\x00binary"]
    assert [got.get_nowait(), got.get_nowait()] == ['{"id":1}', '{"id":2}']
    assert seen == {"path": "/trade-api/ws/v2?x=1", "key": "k-1"}
    assert conn.closed


async def test_a_burst_arrives_whole_in_order_and_in_few_batches(connect: Connect) -> None:
    n = 30_000

    async def handler(ws: ServerConnection) -> None:
        for i in range(n):
            await ws.send(f'{{"seq":{i}}}')
        await ws.send("x" * 3_000_000)  # one frame across many reads
        await ws.close(1001, "going away")

    async with server(handler) as url:
        conn = await connect(url, open_timeout=5)
        messages, batches, end = await read_all(conn)
    assert messages[:-1] == [f'{{"seq":{i}}}' for i in range(n)]
    assert messages[-1] == "x" * 3_000_000
    assert batches < n / 10
    assert (end.code, end.reason) == (1001, "going away")


async def test_fragmented_messages_are_joined(connect: Connect) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(["frag", "men", "ted"])  # a text message in three frames
        await ws.send([b"\x00bi", b"nary"])
        await ws.send("whole")
        await ws.close()

    async with server(handler) as url:
        conn = await connect(url, open_timeout=5)
        messages, _, end = await read_all(conn)
    assert messages == ["fragmented", b"\x00binary", "whole"]
    assert end.code == 1000


async def test_pings_are_answered(connect: Connect) -> None:
    answered: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        pong = await ws.ping(b"heartbeat")
        answered.set_result(await pong)
        await ws.send("after")
        await ws.wait_closed()

    async with server(handler) as url:
        conn = await connect(url, open_timeout=5)
        assert await conn.recv_batch() == ["after"]
        assert answered.done()
        await conn.close()


async def test_a_dropped_connection_ends_with_1006_after_the_messages_before_it(
    connect: Connect,
) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("last words")
        ws.transport.abort()

    async with server(handler) as url:
        conn = await connect(url, open_timeout=5)
        messages, _, end = await read_all(conn)
    assert messages == ["last words"]
    assert end.code == 1006


async def test_a_refusal_carries_its_status_and_body(connect: Connect) -> None:
    body = b'{"error":{"code":"authentication_error","message":"bad signature"}}'

    def refuse(ws: ServerConnection, request: Request) -> Response:
        headers = Headers({"Content-Type": "application/json", "Content-Length": str(len(body))})
        return Response(401, "Unauthorized", headers, body)

    async def handler(ws: ServerConnection) -> None:
        raise AssertionError("never reached")

    async with server(handler, process_request=refuse) as url:
        with pytest.raises(HandshakeRejected) as info:
            await connect(url, open_timeout=5)
    assert info.value.status == 401
    assert info.value.body == body


@asynccontextmanager
async def raw_server(reply: bytes) -> AsyncIterator[str]:
    """Answers any request head with ``reply`` verbatim, then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with srv:
        yield f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"


@pytest.mark.parametrize(
    ("reply", "status", "body"),
    [
        (b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 503, b"hello world"),
        (b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n\r\nslow down", 429,
         b"slow down"),
    ],
)  # fmt: skip
async def test_refusal_bodies_chunked_or_to_the_end(
    connect: Connect, reply: bytes, status: int, body: bytes
) -> None:
    async with raw_server(reply) as url:
        with pytest.raises(HandshakeRejected) as info:
            await connect(url, open_timeout=5)
    assert (info.value.status, info.value.body) == (status, body)


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n", "Sec-WebSocket-Accept"),
        (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", "Upgrade"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "status line"),
    ],
)  # fmt: skip
async def test_a_bad_upgrade_is_refused(connect: Connect, reply: bytes, words: str) -> None:
    async with raw_server(reply) as url:
        with pytest.raises(ProtocolError, match=words):
            await connect(url, open_timeout=5)


async def test_a_protocol_error_closes_with_its_code(connect: Connect) -> None:
    closed_with: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        key = next(
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("sec-websocket-key")
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode()
            + b"\x81\x02ok"  # a good frame, then one with a reserved bit set
            + b"\xc1\x02no"
        )
        frame = await reader.readexactly(8)  # the client's masked close frame: 2 + 4 + 2
        mask = frame[2:6]
        code = bytes(b ^ mask[i % 4] for i, b in enumerate(frame[6:8]))
        closed_with.set_result(int.from_bytes(code, "big"))
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with srv:
        conn = await connect(f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/", open_timeout=5)
        assert await conn.recv_batch() == ["ok"]
        with pytest.raises(ProtocolError, match="reserved"):
            await conn.recv_batch()
        assert await closed_with == 1002


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_wss_verifies_the_server_and_carries_messages(
    connect: Connect, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)

    async def handler(ws: ServerConnection) -> None:
        async for msg in ws:
            assert isinstance(msg, str)
            await ws.send(f"secure {msg}")

    async with server(handler, ssl_context=server_ctx) as url:
        trusted = ssl.create_default_context(cafile=str(cert))
        conn = await connect(url, open_timeout=5, ssl_context=trusted)
        await conn.send_text("hello")
        assert await conn.recv_batch() == ["secure hello"]
        await conn.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(url, open_timeout=5)  # the system's roots do not trust it


# ---- the protocol object on a transport the test holds: backlog and UTF-8 -------------------


class HeldTransport(asyncio.Transport):
    """Records what the connection writes and whether it reads."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.reading = True
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.closing = True


def server_frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes((0x80 | opcode, len(payload))) + payload


def close_code_of(frame: bytes) -> int:
    """The close code in a masked close frame from the client."""
    assert frame[0] == 0x88 and frame[1] & 0x80
    mask, code = frame[2:6], frame[6:8]
    return int.from_bytes(bytes(b ^ mask[i] for i, b in enumerate(code)), "big")


async def opened_on(reader: str) -> tuple[Conn, HeldTransport]:
    """A connection past its handshake, reading from a transport the test feeds."""
    conn: Conn
    if reader == "handwritten":
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        conn = WsConnection(b"GET / HTTP/1.1\r\n\r\n", accept_for(key), 1 << 20)
    else:
        protocol = ClientProtocol(parse_uri("ws://127.0.0.1/"), max_size=1 << 20)
        key = protocol.key
        conn = SansIoConnection(protocol, protocol.connect())
    transport = HeldTransport()
    conn.connection_made(transport)
    conn.data_received(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode()
    )
    await conn.opened
    return conn, transport


async def test_reading_pauses_at_the_backlog_limit_and_resumes_when_taken(reader: str) -> None:
    conn, transport = await opened_on(reader)
    limit = connection.MAX_UNREAD
    assert limit == connection_sansio.MAX_UNREAD
    frames = [server_frame(0x1, str(i).encode()) for i in range(limit + 5)]
    conn.data_received(b"".join(frames[: limit - 1]))
    assert transport.reading
    conn.data_received(b"".join(frames[limit - 1 :]))
    assert not transport.reading
    batch = await conn.recv_batch()
    assert batch == [str(i) for i in range(limit + 5)]
    assert transport.reading


async def test_text_that_is_not_utf8_fails_with_1007(reader: str) -> None:
    conn, transport = await opened_on(reader)
    conn.data_received(server_frame(0x1, b"ok") + server_frame(0x1, b"\xff\xfe"))
    assert await conn.recv_batch() == ["ok"]
    with pytest.raises(ProtocolError, match="UTF-8") as info:
        await conn.recv_batch()
    assert info.value.code == 1007
    assert close_code_of(transport.written[-1]) == 1007
