"""The feed's RFC 6455 frame decoder and encoder, on hand-built frames split every way."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi.frames import (
    CLOSE_INVALID_DATA,
    CLOSE_TOO_BIG,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameDecoder,
    Message,
    ProtocolError,
    apply_mask,
    client_frame,
    close_payload,
    parse_close,
)


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame as a server sends it, with the shortest length encoding."""
    b0 = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    if n < 126:
        return bytes((b0, n)) + payload
    if n < 1 << 16:
        return bytes((b0, 126)) + n.to_bytes(2, "big") + payload
    return bytes((b0, 127)) + n.to_bytes(8, "big") + payload


def decode(data: bytes, cuts: list[int] | None = None, max_size: int = 1 << 20) -> tuple[
    list[Message], list[tuple[int, bytes]]
]:  # fmt: skip
    dec = FrameDecoder(max_size)
    out: list[Message] = []
    controls: list[tuple[int, bytes]] = []
    prev = 0
    for cut in [*sorted(cuts or []), len(data)]:
        dec.feed(data[prev:cut], out)
        controls += dec.controls
        dec.controls.clear()
        prev = cut
    return out, controls


def test_small_text_frames_in_one_read() -> None:
    data = b"".join(server_frame(OP_TEXT, f'{{"seq":{i}}}'.encode()) for i in range(1000))
    out, controls = decode(data)
    assert out == [f'{{"seq":{i}}}' for i in range(1000)]
    assert controls == []


def test_every_length_encoding_and_every_split_point() -> None:
    payloads = [b"", b"x" * 125, b"y" * 126, b"z" * 65535, b"w" * 65536]
    data = b"".join(server_frame(OP_BINARY, p) for p in payloads)
    whole, _ = decode(data)
    assert whole == payloads
    # a cut inside each header and each payload
    for cut in range(0, 140):
        assert decode(data, [cut])[0] == payloads
    assert decode(data, list(range(0, len(data), 997)))[0] == payloads


def test_fragmented_message_with_a_ping_in_between() -> None:
    text = "héllo wörld " * 50
    raw = text.encode()
    data = (
        server_frame(OP_TEXT, raw[:7], fin=False)  # splits a two-byte character
        + server_frame(OP_PING, b"hb")
        + server_frame(OP_CONT, raw[7:300], fin=False)
        + server_frame(OP_CONT, raw[300:])
        + server_frame(OP_TEXT, b"next")
    )
    out, controls = decode(data)
    assert out == [text, "next"]
    assert controls == [(OP_PING, b"hb")]


def test_nothing_is_read_after_a_close_frame() -> None:
    data = (
        server_frame(OP_TEXT, b"a")
        + server_frame(OP_CLOSE, close_payload(1001, "going away"))
        + server_frame(OP_TEXT, b"b")
    )
    dec = FrameDecoder()
    out: list[Message] = []
    dec.feed(data, out)
    assert out == ["a"]
    assert dec.closed
    assert dec.controls == [(OP_CLOSE, close_payload(1001, "going away"))]
    assert parse_close(dec.controls[0][1]) == (1001, "going away")
    dec.feed(server_frame(OP_TEXT, b"c"), out)
    assert out == ["a"]


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (bytes((0x81, 0x81)) + b"\0\0\0\0" + b"x", 1002, "masked"),
        (server_frame(OP_TEXT, b"x", rsv=4), 1002, "reserved bits"),
        (server_frame(0x3, b"x"), 1002, "unknown opcode"),
        (server_frame(OP_CONT, b"x"), 1002, "continuation"),
        (server_frame(OP_TEXT, b"a", fin=False) + server_frame(OP_TEXT, b"b"), 1002, "before"),
        (server_frame(OP_PING, b"x", fin=False), 1002, "fragmented control"),
        (server_frame(OP_PING, b"x" * 126), 1002, "125"),
        (server_frame(OP_CLOSE, b"\x03"), 1002, "one byte"),
        (server_frame(OP_CLOSE, (1005).to_bytes(2, "big")), 1002, "may not be sent"),
        (server_frame(OP_TEXT, b"\xff\xfe"), CLOSE_INVALID_DATA, "UTF-8"),
        (server_frame(OP_TEXT, b"\xc3", fin=False) + server_frame(OP_CONT, b"("), 1007, "UTF-8"),
        (server_frame(OP_BINARY, b"x" * 2000), CLOSE_TOO_BIG, "over 1000"),
        (bytes((0x82, 127)) + (1 << 40).to_bytes(8, "big"), CLOSE_TOO_BIG, "over 1000"),
        (server_frame(OP_TEXT, b"x" * 600, fin=False) + server_frame(OP_CONT, b"y" * 600),
         CLOSE_TOO_BIG, "over 1000"),
    ],
)  # fmt: skip
def test_protocol_errors(data: bytes, code: int, words: str) -> None:
    with pytest.raises(ProtocolError, match=words) as info:
        decode(data, max_size=1000)
    assert info.value.code == code


def test_an_oversized_frame_is_refused_before_its_payload_arrives() -> None:
    dec = FrameDecoder(max_size=1000)
    with pytest.raises(ProtocolError):
        dec.feed(bytes((0x82, 126)) + (5000).to_bytes(2, "big") + b"x" * 10, [])


def test_client_frames_are_masked_and_round_trip() -> None:
    for n in (0, 1, 125, 126, 65535, 65536):
        payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        frame = client_frame(OP_TEXT, payload, mask=b"\x01\x02\x03\x04")
        assert frame[0] == 0x80 | OP_TEXT
        assert frame[1] & 0x80
        head = 2 + {126: 2, 127: 8}.get(frame[1] & 0x7F, 0)
        assert frame[head : head + 4] == b"\x01\x02\x03\x04"
        assert apply_mask(frame[head + 4 :], b"\x01\x02\x03\x04") == payload
    assert client_frame(OP_PONG, b"")[1] == 0x80


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Message], list[tuple[int, bytes]], list[int]]:
    """A run of messages, some fragmented, with pings between frames, cut at random points."""
    data = b""
    messages: list[Message] = []
    controls: list[tuple[int, bytes]] = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.booleans()):
            text = draw(st.text(max_size=300))
            messages.append(text)
            op, raw = OP_TEXT, text.encode()
        else:
            raw = draw(st.binary(max_size=300))
            messages.append(raw)
            op = OP_BINARY
        cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        for k, piece in enumerate(pieces):
            data += server_frame(op if k == 0 else OP_CONT, piece, fin=k == len(pieces) - 1)
            if draw(st.integers(0, 4)) == 0:
                ping = draw(st.binary(max_size=20))
                data += server_frame(OP_PING, ping)
                controls.append((OP_PING, ping))
    reads = draw(st.lists(st.integers(0, len(data)), max_size=8))
    return data, messages, controls, reads


@settings(max_examples=300, deadline=None)
@given(streams())
def test_any_stream_cut_anywhere_decodes_to_its_messages(
    case: tuple[bytes, list[Message], list[tuple[int, bytes]], list[int]],
) -> None:
    data, messages, controls, reads = case
    assert decode(data, reads) == (messages, controls)
