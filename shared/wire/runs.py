"""Gateway -> agent: a chat message submitted as a run (request/reply on ``agent.runs.submit``).

The gateway fills ``user_id`` from the verified token, never from the client's frame.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "RunRejected",
    "RunRequest",
    "RunStarted",
    "SubmitReply",
    "decode_run_request",
    "decode_submit_reply",
    "encode",
]


class RunRequest(msgspec.Struct, kw_only=True):
    user_id: str
    content: str
    thread_id: str | None = None
    client_msg_id: str | None = None


class RunStarted(msgspec.Struct, tag_field="status", tag="accepted", kw_only=True):
    run_id: str
    thread_id: str


class RunRejected(msgspec.Struct, tag_field="status", tag="rejected", kw_only=True):
    code: str
    message: str


SubmitReply = RunStarted | RunRejected

encode = msgspec.json.Encoder().encode
decode_run_request = msgspec.json.Decoder(RunRequest).decode
decode_submit_reply = msgspec.json.Decoder(SubmitReply).decode
