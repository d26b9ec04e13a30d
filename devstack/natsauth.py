"""Least-privilege NATS: one user per service, allowed only the subjects its job needs.

``./dev up`` (and every test stack that runs its own nats-server) writes random passwords to
``<data>/nats/credentials.json`` (mode 0600) and puts this table into the server's config. A
service connects as its own user (``NATS_USER`` / ``NATS_PASSWORD``); anything outside its
row is refused by nats-server with a permissions violation. ``operator`` may do anything: it is
for people and tests inspecting the system, never for a service.

``allow_responses`` lets a responder answer a request's reply inbox without any publish right
on ``_INBOX.>``. JetStream is reached through its API subjects, so each row names exactly the
stream operations it uses on the ``EVENTS``, ``REVOCATIONS`` and ``RUNS`` streams.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

__all__ = ["OPERATOR", "PERMISSIONS", "authorization_block", "ensure_credentials"]

OPERATOR = "operator"

_STREAM_SETUP = [  # ensure_events_stream: look, create, bring up to date
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.EVENTS",
    "$JS.API.STREAM.CREATE.EVENTS",
    "$JS.API.STREAM.UPDATE.EVENTS",
]
_EVENT_PRODUCER = ["user.*.events", *_STREAM_SETUP]  # publish events, wait for the acks
_RUNS_SETUP = [  # ensure_runs_stream
    "$JS.API.STREAM.INFO.RUNS",
    "$JS.API.STREAM.CREATE.RUNS",
    "$JS.API.STREAM.UPDATE.RUNS",
]
_READ_STREAM = [  # the gateway's replay and gap repair
    "$JS.API.STREAM.INFO.EVENTS",
    "$JS.API.STREAM.MSG.GET.EVENTS",
    "$JS.API.DIRECT.GET.EVENTS",
    "$JS.API.DIRECT.GET.EVENTS.>",
    "$JS.API.CONSUMER.CREATE.EVENTS",
    "$JS.API.CONSUMER.CREATE.EVENTS.>",
    "$JS.API.CONSUMER.DELETE.EVENTS.>",
    "$JS.API.CONSUMER.INFO.EVENTS.>",
    "$JS.API.CONSUMER.MSG.NEXT.EVENTS.>",
]


def _discovery(name: str) -> list[str]:
    """The NATS Services API subjects a service answers (shared/discovery.py): ``nats micro``."""
    return [f"$SRV.{verb}{tail}" for verb in ("PING", "INFO", "STATS")
            for tail in ("", f".{name}", f".{name}.*")]  # fmt: skip


PERMISSIONS: dict[str, dict[str, list[str]]] = {
    "auth": {
        "publish": [
            "auth.revoked.*",
            "auth.jwks.changed",
            "$JS.API.INFO",
            "$JS.API.STREAM.INFO.REVOCATIONS",
            "$JS.API.STREAM.CREATE.REVOCATIONS",
            "$JS.API.STREAM.UPDATE.REVOCATIONS",
        ],
        "subscribe": ["auth.jwks", "_INBOX.>"],
    },
    "agent": {
        "publish": [
            *_EVENT_PRODUCER,
            "tools.call.*",
            "tools.catalog",  # which tools there are (services/agent/catalog.py)
            "tools.control.cancel.*",
            "agent.control.cancel.*",
            "agent.control.approval.*",  # a decision recorded: the waiting run's owner wakes
            *_RUNS_SETUP,  # the intake: the agents' consumer, pulls, acks, cancels of waiting runs
            "$JS.API.CONSUMER.CREATE.RUNS.agents",
            "$JS.API.CONSUMER.CREATE.RUNS.agents.>",
            "$JS.API.CONSUMER.DURABLE.CREATE.RUNS.agents",
            "$JS.API.CONSUMER.INFO.RUNS.agents",
            "$JS.API.CONSUMER.MSG.NEXT.RUNS.agents",
            "$JS.ACK.RUNS.agents.>",
            "$JS.API.DIRECT.GET.RUNS",
            "$JS.API.DIRECT.GET.RUNS.>",
        ],
        "subscribe": [
            "agent.runs.cancel",
            "agent.threads.list",
            "agent.runs.list",
            "agent.agents.list",
            "agent.approvals.decide",
            "agent.control.cancel.*",
            "agent.control.approval.*",
            "tools.heartbeat.*",
            *_discovery("agentwire-agent"),
            "_INBOX.>",
        ],
    },
    "tools": {
        "publish": [
            *_EVENT_PRODUCER,
            "tools.heartbeat.*",
            # The users' changes to the generated infrastructure (services/tools/infra.py).
            "$JS.API.STREAM.INFO.KV_INFRA",
            "$JS.API.STREAM.CREATE.KV_INFRA",
            "$KV.INFRA.>",
            "$JS.API.DIRECT.GET.KV_INFRA.>",
            "$JS.API.STREAM.MSG.GET.KV_INFRA",
        ],
        "subscribe": [
            "tools.call.*",
            "tools.catalog",
            "tools.control.cancel.*",
            *_discovery("agentwire-tools"),
            "_INBOX.>",
        ],
    },
    "ws_gateway": {
        "publish": [
            "agent.intake.*.*.*",  # the intake: store a message for the agents
            *_RUNS_SETUP,
            "$JS.API.CONSUMER.INFO.RUNS.agents",  # how many runs wait ahead
            "agent.runs.cancel",
            "agent.threads.list",
            "agent.runs.list",
            "agent.agents.list",
            "agent.approvals.decide",
            "auth.jwks",
            *_STREAM_SETUP,
            *_READ_STREAM,
            "$JS.API.DIRECT.GET.REVOCATIONS",  # the revocations it missed
        ],
        "subscribe": [
            "live.user.*.events",
            "auth.revoked.*",
            "auth.jwks.changed",
            "_INBOX.>",
        ],
    },
}


def ensure_credentials(directory: Path) -> dict[str, str]:
    """user -> password for every service and the operator; made once, then reused."""
    path = directory / "credentials.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = [*PERMISSIONS, OPERATOR]
    if all(user in known for user in wanted):
        return known
    directory.mkdir(parents=True, exist_ok=True)
    known |= {user: secrets.token_urlsafe(24) for user in wanted if user not in known}
    path.touch(mode=0o600)
    path.write_text(json.dumps(known, indent=2))
    return known


def _quoted(subjects: list[str]) -> str:
    return "[" + ", ".join(json.dumps(s) for s in subjects) + "]"


def authorization_block(passwords: dict[str, str]) -> str:
    """The ``authorization {}`` section of nats-server's config for these passwords."""
    users = [f'    {{user: "{OPERATOR}", password: "{passwords[OPERATOR]}"}}']
    for user, allowed in PERMISSIONS.items():
        users.append(
            f'    {{user: "{user}", password: "{passwords[user]}", permissions: {{\n'
            f"      publish: {{allow: {_quoted(allowed['publish'])}}}\n"
            f"      subscribe: {{allow: {_quoted(allowed['subscribe'])}}}\n"
            f"      allow_responses: true\n"
            f"    }}}}"
        )
    return "authorization {\n  users: [\n" + "\n".join(users) + "\n  ]\n}\n"
