"""The NATS client protocol, as little of it as the benchmark needs, sans I/O.

Two users: the load generator's clients of nats-server's own WebSocket listener (the NATS
protocol rides inside WebSocket frames, split wherever the server likes) and the publisher
(plain TCP), which counts JetStream acks. :class:`NatsReader` parses the server's byte stream
and hands each ``MSG``/``HMSG`` payload over in place, as ``(buffer, start, end)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

__all__ = ["CONNECT", "PING", "PONG", "NatsReader", "pub", "sub"]

CONNECT = (
    b"CONNECT "
    + json.dumps(
        {
            "verbose": False,
            "pedantic": False,
            "headers": True,
            "no_responders": True,
            "protocol": 1,
            "name": "agentwire-bench",
            "lang": "python-bench",
            "version": "0",
        },
        separators=(",", ":"),
    ).encode()
    + b"\r\n"
)
PING = b"PING\r\n"
PONG = b"PONG\r\n"

# on_msg(buffer, payload_start, payload_end); on_line(verb, line) for INFO, PONG, +OK, -ERR
MsgHandler = Callable[[bytearray, int, int], None]
LineHandler = Callable[[bytes, bytes], None]


def sub(subject: str, sid: int) -> bytes:
    return f"SUB {subject} {sid}\r\n".encode()


def pub(subject: str, reply: str, payload: bytes) -> bytes:
    return b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply.encode(), len(payload), payload)


class NatsReader:
    """Feed it the server's bytes; PINGs are answered through ``send``."""

    __slots__ = ("_buf", "on_line", "on_msg", "send")

    def __init__(
        self, on_msg: MsgHandler, send: Callable[[bytes], None], on_line: LineHandler
    ) -> None:
        self.on_msg = on_msg
        self.send = send
        self.on_line = on_line
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Consume ``data``; return how many messages it completed."""
        buf = self._buf
        buf += data
        n = len(buf)
        pos = 0
        messages = 0
        while pos < n:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            first = buf[pos]
            if first == 0x48 or first == 0x4D:  # HMSG / MSG
                args = bytes(buf[pos:eol]).split()
                total = int(args[-1])
                head = int(args[-2]) if first == 0x48 else 0
                start = eol + 2
                if start + total + 2 > n:
                    break
                self.on_msg(buf, start + head, start + total)
                messages += 1
                pos = start + total + 2
                continue
            line = bytes(buf[pos:eol])
            pos = eol + 2
            if line == b"PING":
                self.send(PONG)
            else:
                self.on_line(line.split(b" ", 1)[0], line)
        del buf[:pos]
        return messages
