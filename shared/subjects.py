"""Every NATS subject agentwire uses, built here and nowhere else.

Any id that becomes part of a subject is checked first: a `.`, `*`, `>`, whitespace or any
other character outside ``[A-Za-z0-9_-]`` would let a caller address someone else's subject,
so it raises :class:`~shared.errors.InvalidId` instead of producing a subject.

Subject map::

    user.<user_id>.events       agent events, captured by the EVENTS JetStream stream
    live.user.<user_id>.events  the stream's republish of each stored event (headers carry its seq)
    agent.intake.<user_id>.<thread_id>.<run_id>
                                a chat message taken for a run: the RUNS work-queue stream stores
                                it, and the agents' one pull consumer hands it to whichever agent
                                process has a free slot
    agent.runs.cancel           cancel a run (queue group "agents", request/reply)
    agent.threads.list          a user's threads (queue group "agents", request/reply)
    agent.runs.list             a thread's runs (queue group "agents", request/reply)
    tools.call.<tool_name>      tool calls to the tool runner (queue group "tools", request/reply);
                                a runner subscribes to one subject per tool it has
    tools.catalog               which tools there are: every tool runner answers (no queue
                                group) with its own; the caller gathers the answers on its inbox
    auth.jwks                   the auth service's JWKS document (queue group "auth", request/reply)
    auth.jwks.changed           the new JWKS document, published when the auth key ring changes
    auth.revoked.<user_id>      a revocation of some of that user's tokens (shared/wire/revocation)
    agent.control.cancel.<run_id>     stop this run: every agent process hears it (no queue group)
    tools.control.cancel.<call_id>    stop this tool call: every tool runner hears it (request;
                                      only the runner holding the call replies, once it has ended)
    tools.heartbeat.<call_id>         "still working on it", from the tool runner to the caller:
                                      empty while the call waits, "running" once tool_executing
                                      is stored
"""

from __future__ import annotations

import re

from shared.errors import InvalidId

__all__ = [
    "AGENTS_CONSUMER",
    "AGENT_QUEUE",
    "AUTH_QUEUE",
    "EVENTS_STREAM",
    "REVOCATIONS_STREAM",
    "RUNS_STREAM",
    "SAFE_TOKEN_PATTERN",
    "TOOLS_QUEUE",
    "agent_list",
    "approval_decide",
    "approval_decided",
    "approval_decided_wildcard",
    "auth_jwks",
    "auth_jwks_changed",
    "auth_revoked",
    "auth_revoked_wildcard",
    "check_token",
    "is_safe_token",
    "live_user_events",
    "live_user_events_all",
    "live_user_events_wildcard",
    "run_cancel",
    "run_control_cancel",
    "run_control_cancel_wildcard",
    "run_intake",
    "run_intake_of_run",
    "run_intake_of_thread",
    "run_intake_of_user",
    "run_intake_wildcard",
    "run_list",
    "thread_list",
    "tool_call",
    "tool_call_wildcard",
    "tool_catalog",
    "tool_control_cancel",
    "tool_control_cancel_wildcard",
    "tool_heartbeat",
    "tool_heartbeat_wildcard",
    "user_events",
    "user_events_wildcard",
    "user_of_live_events",
]

SAFE_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_SAFE_TOKEN = re.compile(SAFE_TOKEN_PATTERN)

EVENTS_STREAM = "EVENTS"
REVOCATIONS_STREAM = "REVOCATIONS"  # auth.revoked.*, kept one access-token lifetime
RUNS_STREAM = "RUNS"  # agent.intake.*.*: messages waiting for an agent (work-queue retention)
AGENTS_CONSUMER = "agents"  # the one durable pull consumer every agent process shares
AGENT_QUEUE = "agents"
TOOLS_QUEUE = "tools"
AUTH_QUEUE = "auth"


def is_safe_token(value: object) -> bool:
    return isinstance(value, str) and _SAFE_TOKEN.fullmatch(value) is not None


def check_token(value: object, what: str) -> str:
    """Return ``value`` if it may be one subject token; else raise InvalidId naming ``what``."""
    if not is_safe_token(value):
        raise InvalidId(f"{what} must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    assert isinstance(value, str)
    return value


def user_events(user_id: str) -> str:
    return f"user.{check_token(user_id, 'user id')}.events"


def user_events_wildcard() -> str:
    return "user.*.events"


def live_user_events(user_id: str) -> str:
    return f"live.user.{check_token(user_id, 'user id')}.events"


def live_user_events_all() -> str:
    """Every user's live events: a gateway's one subscription (``LIVE_SUBSCRIPTION=all``)."""
    return "live.user.*.events"


def user_of_live_events(subject: str) -> str:
    """The user id in a ``live.user.<id>.events`` subject ("" for any other subject)."""
    if subject.startswith("live.user.") and subject.endswith(".events"):
        return subject[10:-7]
    return ""


def live_user_events_wildcard() -> str:
    """The stream's republish destination, as a JetStream subject mapping."""
    return "live.user.{{wildcard(1)}}.events"


def run_intake(user_id: str, thread_id: str, run_id: str) -> str:
    """Where the gateway stores a chat message for the agents. The subject names whose run it is
    and its thread, so a cancel finds a run still waiting (the user's own only), and an agent
    sees whether an earlier message of the same thread still waits."""
    user = check_token(user_id, "user id")
    return (
        f"agent.intake.{user}.{check_token(thread_id, 'thread id')}.{check_token(run_id, 'run id')}"
    )


def run_intake_of_thread(user_id: str, thread_id: str) -> str:
    """Every waiting message of one thread."""
    return f"agent.intake.{check_token(user_id, 'user id')}.{check_token(thread_id, 'thread id')}.*"


def run_intake_of_user(user_id: str) -> str:
    """Every waiting message of one user."""
    return f"agent.intake.{check_token(user_id, 'user id')}.*.*"


def run_intake_of_run(user_id: str, run_id: str) -> str:
    """A run's waiting message, whatever its thread."""
    return f"agent.intake.{check_token(user_id, 'user id')}.*.{check_token(run_id, 'run id')}"


def run_intake_wildcard() -> str:
    return "agent.intake.*.*.*"


def run_cancel() -> str:
    return "agent.runs.cancel"


def thread_list() -> str:
    return "agent.threads.list"


def run_list() -> str:
    return "agent.runs.list"


def agent_list() -> str:
    return "agent.agents.list"


def approval_decide() -> str:
    return "agent.approvals.decide"


def approval_decided(run_id: str) -> str:
    """Told to every agent process: a decision on one of ``run_id``'s approvals was recorded."""
    return f"agent.control.approval.{check_token(run_id, 'run_id')}"


def approval_decided_wildcard() -> str:
    return "agent.control.approval.*"


def tool_call(tool_name: str) -> str:
    return f"tools.call.{check_token(tool_name, 'tool name')}"


def tool_call_wildcard() -> str:
    return "tools.call.*"


def tool_catalog() -> str:
    return "tools.catalog"


def run_control_cancel(run_id: str) -> str:
    return f"agent.control.cancel.{check_token(run_id, 'run id')}"


def run_control_cancel_wildcard() -> str:
    return "agent.control.cancel.*"


def tool_control_cancel(tool_call_id: str) -> str:
    return f"tools.control.cancel.{check_token(tool_call_id, 'tool call id')}"


def tool_control_cancel_wildcard() -> str:
    return "tools.control.cancel.*"


def tool_heartbeat(tool_call_id: str) -> str:
    return f"tools.heartbeat.{check_token(tool_call_id, 'tool call id')}"


def tool_heartbeat_wildcard() -> str:
    """Every call's heartbeats: an agent process's one subscription for its calls."""
    return "tools.heartbeat.*"


def auth_jwks() -> str:
    return "auth.jwks"


def auth_jwks_changed() -> str:
    return "auth.jwks.changed"


def auth_revoked(user_id: str) -> str:
    return f"auth.revoked.{check_token(user_id, 'user id')}"


def auth_revoked_wildcard() -> str:
    """Every user's revocations: what a gateway subscribes to (one subscription, not per user)."""
    return "auth.revoked.*"
