"""RFC 6455 framing for a client: a decoder for the server's frames, an encoder for the client's.

The exchange feed reads tens of thousands of small text frames a second; the decoder walks the
received bytes with plain indexing and hands each finished message to the caller's list, with
no object per frame. Messages come out as ``str`` (text) or ``bytes`` (binary); control frames
are collected in ``controls`` for the connection to answer. No extension is ever negotiated, so
any reserved bit is an error.
"""

from __future__ import annotations

import os

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL_OPCODES = frozenset((OP_CLOSE, OP_PING, OP_PONG))
MAX_CONTROL_PAYLOAD = 125

# Close codes (RFC 6455 7.4.1)
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_NO_STATUS = 1005
CLOSE_ABNORMAL = 1006
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009


class WsError(Exception):
    """Anything that ends a WebSocket connection other than a clean close."""


class ProtocolError(WsError):
    """The peer broke RFC 6455; ``code`` is the close code to answer with."""

    def __init__(self, message: str, code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


Message = str | bytes


class FrameDecoder:
    """Server-to-client frames in, whole messages out.

    ``feed(data, out)`` appends every message completed by ``data`` to ``out`` and every control
    frame to ``controls`` as ``(opcode, payload)``; after a close frame the rest is ignored.
    Raises ProtocolError on a frame RFC 6455 forbids or on a message over ``max_size`` bytes.
    """

    __slots__ = ("_chunks", "_frag", "_frag_op", "_frag_size", "_have", "_need", "closed",
                 "controls", "max_size")  # fmt: skip

    def __init__(self, max_size: int = 16 * 1024 * 1024) -> None:
        self.max_size = max_size
        self.controls: list[tuple[int, bytes]] = []
        self.closed = False
        self._chunks: list[bytes] = []  # the unparsed tail, joined once enough has come
        self._have = 0
        self._need = 0
        self._frag: list[bytes] = []
        self._frag_op = 0  # opcode of the fragmented message under way, 0 if none
        self._frag_size = 0

    def feed(self, data: bytes, out: list[Message]) -> None:
        if self.closed or not data:
            return
        if self._chunks:
            self._chunks.append(data)
            self._have += len(data)
            if self._have < self._need:
                return
            data = b"".join(self._chunks)
            self._chunks.clear()
        buf = data
        n = len(buf)
        i = 0
        max_size = self.max_size
        while n - i >= 2:
            b0 = buf[i]
            b1 = buf[i + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - i < 4:
                    break
                length = (buf[i + 2] << 8) | buf[i + 3]
                head = 4
            elif length == 127:
                if n - i < 10:
                    break
                length = int.from_bytes(buf[i + 2 : i + 10], "big")
                head = 10
            if b1 & 0x80:
                raise ProtocolError("the server masked a frame")
            if b0 & 0x70:
                raise ProtocolError("reserved bits set with no extension negotiated")
            if length > max_size:
                raise ProtocolError(f"frame of {length} bytes over {max_size}", CLOSE_TOO_BIG)
            end = i + head + length
            if end > n:
                break
            opcode = b0 & 0x0F
            if opcode == OP_TEXT and b0 & 0x80 and not self._frag_op:
                try:
                    out.append(buf[i + head : end].decode())
                except UnicodeDecodeError:
                    raise ProtocolError("text frame is not UTF-8", CLOSE_INVALID_DATA) from None
            else:
                self._frame(b0 & 0x80, opcode, buf[i + head : end], out)
                if self.closed:
                    return
            i = end
        if i < n:
            rest = buf[i:]
            self._chunks.append(rest)
            self._have = len(rest)
            self._need = self._frame_size(rest)
        else:
            self._have = self._need = 0

    def _frame_size(self, rest: bytes) -> int:
        """Bytes needed before the frame starting ``rest`` can be parsed (its header at least)."""
        if len(rest) < 2:
            return 2
        length = rest[1] & 0x7F
        if length == 126:
            return 4 if len(rest) < 4 else 4 + ((rest[2] << 8) | rest[3])
        if length == 127:
            return 10 if len(rest) < 10 else 10 + int.from_bytes(rest[2:10], "big")
        return 2 + length

    def _frame(self, fin: int, opcode: int, payload: bytes, out: list[Message]) -> None:
        if opcode in CONTROL_OPCODES:
            if not fin:
                raise ProtocolError("fragmented control frame")
            if len(payload) > MAX_CONTROL_PAYLOAD:
                raise ProtocolError("control frame payload over 125 bytes")
            if opcode == OP_CLOSE:
                parse_close(payload)  # raises on a malformed close frame
                self.closed = True
            self.controls.append((opcode, payload))
            return
        if opcode == OP_CONT:
            if not self._frag_op:
                raise ProtocolError("continuation frame with no message under way")
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._frag_op:
                raise ProtocolError("new message before the fragmented one ended")
            self._frag_op = opcode
        else:
            raise ProtocolError(f"unknown opcode {opcode:#x}")
        self._frag.append(payload)
        self._frag_size += len(payload)
        if self._frag_size > self.max_size:
            raise ProtocolError(f"message over {self.max_size} bytes", CLOSE_TOO_BIG)
        if not fin:
            return
        data = b"".join(self._frag)
        op = self._frag_op
        self._frag.clear()
        self._frag_op = self._frag_size = 0
        if op == OP_BINARY:
            out.append(data)
            return
        try:
            out.append(data.decode())
        except UnicodeDecodeError:
            raise ProtocolError("text message is not UTF-8", CLOSE_INVALID_DATA) from None


def parse_close(payload: bytes) -> tuple[int, str]:
    """A close frame's code and reason (1005 if it has no code)."""
    if not payload:
        return CLOSE_NO_STATUS, ""
    if len(payload) == 1:
        raise ProtocolError("close frame of one byte")
    code = int.from_bytes(payload[:2], "big")
    if code < 1000 or code in (1004, CLOSE_NO_STATUS, CLOSE_ABNORMAL, 1015) or 1016 <= code < 3000:
        raise ProtocolError(f"close code {code} may not be sent")
    try:
        return code, payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError("close reason is not UTF-8", CLOSE_INVALID_DATA) from None


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()[:123]


def client_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame from client to server, masked as RFC 6455 5.3 requires."""
    key = os.urandom(4) if mask is None else mask
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + key + apply_mask(payload, key)


def apply_mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
