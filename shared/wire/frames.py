"""Client <-> gateway WebSocket frames other than the agent events (those live in ``events``).

Client -> server: ``message``, ``ping``.
Server -> client: ``run_accepted``, ``error``, ``pong``, and every event from ``events``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from shared.subjects import SAFE_TOKEN_PATTERN

__all__ = [
    "CLIENT_FRAME_TYPES",
    "MAX_CONTENT_CHARS",
    "AnyClientFrame",
    "ClientFrame",
    "ErrorData",
    "ErrorFrame",
    "FrameHead",
    "Ping",
    "Pong",
    "RunAccepted",
    "SendMessage",
    "decode_client_frame",
    "decode_frame_head",
    "encode_frame",
]

MAX_CONTENT_CHARS = 16_000

SafeId = Annotated[str, msgspec.Meta(pattern=SAFE_TOKEN_PATTERN)]
Content = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_CHARS)]


class FrameHead(msgspec.Struct):
    """Decoded first, so that an unknown ``type`` can be told apart from a malformed frame."""

    type: str


class ClientFrame(msgspec.Struct, tag_field="type", kw_only=True):
    pass


class SendMessage(ClientFrame, tag="message"):
    content: Content
    thread_id: SafeId | None = None
    client_msg_id: SafeId | None = None


class Ping(ClientFrame, tag="ping"):
    pass


AnyClientFrame = SendMessage | Ping
CLIENT_FRAME_TYPES = frozenset({"message", "ping"})


class ServerFrame(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    pass


class RunAccepted(ServerFrame, tag="run_accepted"):
    run_id: str
    thread_id: str
    client_msg_id: str | None = None


class ErrorData(msgspec.Struct, kw_only=True):
    code: str
    message: str


class ErrorFrame(ServerFrame, tag="error"):
    data: ErrorData


class Pong(ServerFrame, tag="pong"):
    pass


encode_frame = msgspec.json.Encoder().encode
decode_frame_head = msgspec.json.Decoder(FrameHead).decode
decode_client_frame = msgspec.json.Decoder(AnyClientFrame).decode
