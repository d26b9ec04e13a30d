"""RFC 6455 framing for the load generator's client side, sans I/O.

The load generator has to take in far more frames per second than the server under test sends
out, so it reads frames in place: :class:`FrameReader` hands each complete data message to a
handler as ``(buffer, start, end)`` and never copies a payload unless the message was
fragmented. Server frames are never masked; client frames always are (:func:`client_frame`).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "FrameReader",
    "HandshakeError",
    "accept_key",
    "client_frame",
    "close_payload_code",
    "handshake_request",
    "parse_handshake_response",
]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# handler(buffer, start, end) for each data message; control(opcode, payload) for the rest.
MessageHandler = Callable[[bytearray, int, int], None]
ControlHandler = Callable[[int, bytes], None]


class HandshakeError(Exception):
    """The server did not switch protocols (the status line is the message)."""


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def handshake_request(
    host: str, port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[bytes, bytes]:
    """The HTTP upgrade request and the ``Sec-WebSocket-Accept`` value it must be answered with."""
    key = base64.b64encode(os.urandom(16))
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), accept_key(key)


def parse_handshake_response(head: bytes, expected_accept: bytes) -> None:
    """Raise :class:`HandshakeError` unless ``head`` (up to the blank line) is a valid 101."""
    status, *header_lines = head.split(b"\r\n")
    if not status.startswith(b"HTTP/1.1 101"):
        raise HandshakeError(status.decode(errors="replace"))
    for line in header_lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-accept":
            if value.strip() != expected_accept:
                raise HandshakeError("wrong Sec-WebSocket-Accept")
            return
    raise HandshakeError("no Sec-WebSocket-Accept")


def client_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final, masked client frame."""
    mask = mask or os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    repeated = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    return head + mask + masked


def close_payload_code(payload: bytes) -> int:
    """The status code of a close frame's payload (1005 when it carries none)."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005


class FrameReader:
    """Feed it bytes from the server; it calls ``on_message`` for every complete data message."""

    __slots__ = ("_buf", "_fragments", "on_control", "on_message")

    def __init__(self, on_message: MessageHandler, on_control: ControlHandler) -> None:
        self.on_message = on_message
        self.on_control = on_control
        self._buf = bytearray()
        self._fragments: bytearray | None = None

    def feed(self, data: bytes) -> int:
        """Consume ``data``; return how many data messages it completed."""
        buf = self._buf
        buf += data
        n = len(buf)
        pos = 0
        messages = 0
        on_message = self.on_message
        while n - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1]
            if length & 0x80:
                raise ValueError("the server sent a masked frame")
            if length < 126:
                start = pos + 2
            elif length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            else:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > n:
                break
            opcode = b0 & 0x0F
            if b0 == 0x81 or b0 == 0x82:  # final text or binary: the hot path
                on_message(buf, start, end)
                messages += 1
            else:
                messages += self._other(b0 & 0x80, opcode, bytes(buf[start:end]))
            pos = end
        del buf[:pos]
        return messages

    def _other(self, fin: int, opcode: int, payload: bytes) -> int:
        if opcode >= OP_CLOSE:
            self.on_control(opcode, payload)
            return 0
        if opcode != OP_CONT:
            self._fragments = bytearray()
        if self._fragments is None:
            raise ValueError("continuation frame without a first fragment")
        self._fragments += payload
        if not fin:
            return 0
        whole, self._fragments = self._fragments, None
        self.on_message(whole, 0, len(whole))
        return 1
