"""Gateway -> agents: a chat message taken for a run, stored in the RUNS work-queue stream.

The gateway mints the run's id (and a new thread's) before storing, so the id is the user's from
the moment ``run_accepted`` goes out. With a ``client_msg_id`` both ids are derived from the
user and that id: a resent message is the same run (the stream's duplicate window drops the copy,
and the agents' database keeps the run id unique after that window).

The message lives on ``agent.intake.<user_id>.<thread_id>.<run_id>`` (see
:mod:`shared.subjects`) until an agent process has recorded the run and acknowledged it.
"""

from __future__ import annotations

import hashlib
import uuid

import msgspec

__all__ = ["RunIntake", "decode_intake", "encode_intake", "mint_ids"]


class RunIntake(msgspec.Struct, kw_only=True, omit_defaults=True):
    run_id: str
    user_id: str  # from the verified token, never from the client's frame
    thread_id: str
    new_thread: bool  # the gateway minted ``thread_id``: the agent creates the thread
    content: str
    client_msg_id: str | None = None
    agent: str | None = None  # the agent the message names (None: the deployment's default)
    # Unix seconds: the gateway told the user "not stored" if no acknowledgement came by then, so
    # a copy the stream stored later (a slow ack, a retry) must not run.
    give_up_at: float = 0.0


def mint_ids(
    user_id: str, client_msg_id: str | None, thread_id: str | None
) -> tuple[str, str, bool]:
    """``(run_id, thread_id, new_thread)`` for a message; the same answer for a resent one."""
    if client_msg_id is None:
        run_id, fresh_thread = uuid.uuid4().hex, uuid.uuid4().hex
    else:
        run_id = _derived("run", user_id, client_msg_id)
        fresh_thread = _derived("thread", user_id, client_msg_id)
    if thread_id is not None:
        return run_id, thread_id, False
    return run_id, fresh_thread, True


def _derived(kind: str, user_id: str, client_msg_id: str) -> str:
    digest = hashlib.sha256(f"{kind}\0{user_id}\0{client_msg_id}".encode()).hexdigest()
    return digest[:32]


encode_intake = msgspec.json.Encoder().encode
decode_intake = msgspec.json.Decoder(RunIntake).decode
