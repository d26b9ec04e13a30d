import pytest

from bench.wsframes import (
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    FrameReader,
    HandshakeError,
    accept_key,
    client_frame,
    close_payload_code,
    parse_handshake_response,
)


def server_frame(payload: bytes, opcode: int = OP_TEXT, fin: bool = True) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


class Recorder:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.controls: list[tuple[int, bytes]] = []
        self.reader = FrameReader(self.on_message, lambda op, p: self.controls.append((op, p)))

    def on_message(self, buf: bytearray, start: int, end: int) -> None:
        self.messages.append(bytes(buf[start:end]))


def test_the_rfc_6455_accept_key_example():
    assert accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_handshake_must_switch_protocols_with_the_right_key():
    good = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: abc"
    parse_handshake_response(good, b"abc")
    with pytest.raises(HandshakeError):
        parse_handshake_response(good, b"xyz")
    with pytest.raises(HandshakeError):
        parse_handshake_response(b"HTTP/1.1 403 Forbidden\r\n", b"abc")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_messages_of_every_length_encoding_arrive_whole(size: int):
    rec = Recorder()
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert rec.reader.feed(server_frame(payload)) == 1
    assert rec.messages == [payload]


def test_frames_split_anywhere_across_reads_are_reassembled():
    rec = Recorder()
    stream = b"".join(server_frame(b'{"seq":%d}' % i) for i in range(50)) + server_frame(b"x" * 300)
    for i in range(0, len(stream), 7):
        rec.reader.feed(stream[i : i + 7])
    assert rec.messages == [b'{"seq":%d}' % i for i in range(50)] + [b"x" * 300]


def test_a_fragmented_message_is_delivered_once_complete():
    rec = Recorder()
    rec.reader.feed(server_frame(b"hello ", fin=False) + server_frame(b"world", opcode=0))
    assert rec.messages == [b"hello world"]


def test_control_frames_go_to_their_handler_even_between_fragments():
    rec = Recorder()
    rec.reader.feed(
        server_frame(b"a", fin=False)
        + server_frame(b"hi", opcode=OP_PING)
        + server_frame(b"b", opcode=0)
        + server_frame((4008).to_bytes(2, "big") + b"slow", opcode=OP_CLOSE)
    )
    assert rec.messages == [b"ab"]
    assert rec.controls[0] == (OP_PING, b"hi")
    assert close_payload_code(rec.controls[1][1]) == 4008


def test_a_masked_server_frame_is_refused():
    with pytest.raises(ValueError):
        Recorder().reader.feed(bytes((0x81, 0x81)) + b"mask" + b"x")


@pytest.mark.parametrize("size", [3, 200, 70_000])
def test_client_frames_are_masked_and_unmask_to_the_payload(size: int):
    payload = b"CONNECT {}\r\n" * (size // 12 + 1)
    frame = client_frame(OP_TEXT, payload, mask=b"\x01\x02\x03\x04")
    header = 2 if len(payload) < 126 else 4 if len(payload) < 65536 else 10
    assert frame[0] == 0x81 and frame[1] & 0x80
    masked = frame[header + 4 :]
    unmasked = bytes(b ^ (1, 2, 3, 4)[i % 4] for i, b in enumerate(masked))
    assert unmasked == payload
