"""How a run of an agent came out: the one mapping from what the agent did to how the run ends.

The run host and :mod:`agentwire_sdk.testing` both call :func:`drive`, so a unit test of an
agent sees exactly the ending it would get in production::

    returned a str, or streamed an answer     Completed(answer)
    raised AgentError / an uncaught ToolFailed Failed(its code, its message)
    raised anything else                       Failed(agent_error, a generic message; logged)
    returned something else                    Failed(agent_error, ...)

Cancellation (a stop) and the time budget are the host's: ``drive`` lets them through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agentwire_sdk.agent import Agent
from agentwire_sdk.context import RunContext
from agentwire_sdk.errors import AgentError, ToolFailed
from shared.errors import AgentwireError

__all__ = ["Completed", "Failed", "Outcome", "drive"]

log = logging.getLogger(__name__)

UNEXPECTED = "the agent hit an unexpected error"


@dataclass(frozen=True, slots=True)
class Completed:
    answer: str
    message_id: str | None = None  # the streamed answer's, when it is not the run's default


@dataclass(frozen=True, slots=True)
class Failed:
    code: str
    message: str


Outcome = Completed | Failed


async def drive(agent: Agent, run: RunContext) -> Outcome:
    try:
        returned = await agent.run(run)
    except AgentError as exc:
        return Failed(exc.code, exc.message)
    except (ToolFailed, AgentwireError) as exc:  # AgentwireError: the host's (publish_failed, ...)
        return Failed(str(exc.code), exc.message)
    except Exception:
        log.exception("agent %s crashed in run %s", agent.name, run.run_id)
        return Failed("agent_error", UNEXPECTED)
    streamed = run.answered
    if returned is not None and not isinstance(returned, str):
        kind = type(returned).__name__
        log.error("agent %s returned a %s, not a str or None", agent.name, kind)
        return Failed("agent_error", f"the agent returned a {kind} instead of an answer")
    if streamed is not None:
        return Completed(streamed, run.answer_id)
    return Completed(returned or "")
