"""Calling one tool on the tool runner, watching that it stays alive, and stopping it.

A call is a NATS request to ``tools.call.<name>``. From the moment a runner takes the call it
heartbeats on ``tools.heartbeat.<tool_call_id>`` (every second by default; the payload says
``running`` once the call's ``tool_executing`` is stored), so the agent can tell a long tool from a
dead runner: after the first heartbeat the call fails as ``tool_lost`` when none comes for
``heartbeat_timeout_s``. Before it, the call may wait ``timeout_s`` for a runner to take it.
Each stage heard (:class:`~services.agent.models.CallStage`) is reported to ``on_stage``, so
whoever ends the run knows whether the user may have seen the call start.

The tool runner publishes the call's ``tool_executing`` and ``tool_completed`` itself and replies
only afterwards, so when :meth:`ToolClient.call` returns, both events are stored.

Failures become :class:`ToolCallError` with a code from the documented table; ``answered`` says
whether the runner's side of the call is over (its reply came, or nothing was ever sent)::

    no tool runner subscribed        tool_unavailable   answered
    the runner's ToolCallFailed      its code           answered (unknown codes: tool_failed)
    an unreadable reply              tool_failed        answered
    not started within timeout_s     tool_timeout       not answered
    heartbeats stopped               tool_lost          not answered

A call that is not answered is still open at the runner, if the runner lives: :meth:`cancel`
stops it there and says whether a runner held it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from services.agent.models import CallStage
from shared import bus, subjects, tracing
from shared.errors import AgentwireError, ErrorCode, InvalidId
from shared.wire.tools import (
    ToolCallFailed,
    ToolCallRequest,
    ToolCallSucceeded,
    decode_tool_reply,
    encode,
)

__all__ = ["ToolCallError", "ToolClient"]

# The request's own limit: heartbeats and the run's time budget decide how long a call may take.
_REPLY_LIMIT_S = 24 * 3600.0
DEFAULT_CANCEL_WAIT_S = 2.0
# The heartbeat payload once tool_executing is stored (services.tools.runner.RUNNING_BEAT).
RUNNING_BEAT = b"running"

OnStage = Callable[[CallStage], Awaitable[None]]


class ToolCallError(AgentwireError):
    code = ErrorCode.TOOL_FAILED

    def __init__(
        self, message: str, code: ErrorCode | None = None, *, answered: bool = True
    ) -> None:
        super().__init__(message, code)
        self.answered = answered


class _Heartbeats:
    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.count = 0
        self.last = self._loop.time()  # the request itself counts as the first sign of life
        self.running = False
        self.waiter: asyncio.Future[None] | None = None

    def beat(self, payload: bytes) -> None:
        self.count += 1
        self.last = self._loop.time()
        self.running = self.running or payload == RUNNING_BEAT
        self.wake()

    def wake(self, *_: object) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    @property
    def stage(self) -> CallStage:
        if self.running:
            return CallStage.RUNNING
        return CallStage.TAKEN if self.count else CallStage.REQUESTED


class ToolClient:
    def __init__(
        self,
        nc: NATS,
        *,
        timeout_s: float,
        heartbeat_timeout_s: float,
        cancel_wait_s: float = DEFAULT_CANCEL_WAIT_S,
    ) -> None:
        self._nc = nc
        self._timeout_s = timeout_s
        self._heartbeat_timeout_s = heartbeat_timeout_s
        self._cancel_wait_s = cancel_wait_s
        # One subscription for every call's heartbeats (not a SUB and UNSUB per call).
        self._watching: dict[str, _Heartbeats] = {}
        self._beats: Subscription | None = None

    async def call(
        self, request: ToolCallRequest, on_stage: OnStage | None = None
    ) -> ToolCallSucceeded:
        """Run the tool; return its success or raise ToolCallError saying why not.

        ``on_stage`` is awaited when the call is taken and when it runs (see the docstring).
        """
        name = request.tool_name
        try:
            subject = subjects.tool_call(name)
        except InvalidId:
            raise ToolCallError(f"no tool is called {name!r}", ErrorCode.UNKNOWN_TOOL) from None
        subjects.tool_heartbeat(request.tool_call_id)  # refuses an id unfit for a subject
        if self._beats is None:  # in place before the first request goes out
            self._beats = await self._nc.subscribe(
                subjects.tool_heartbeat_wildcard(), cb=self._on_beat
            )
        beats = self._watching[request.tool_call_id] = _Heartbeats()
        with tracing.span(f"execute_tool {name}", kind="client", attributes=_span(request)):
            headers = tracing.inject({})  # the runner's span joins this message's trace
            reply = asyncio.ensure_future(
                bus.request(
                    self._nc, subject, encode(request), timeout_s=_REPLY_LIMIT_S, headers=headers
                )
            )
            try:
                await self._watch(name, reply, beats, on_stage)
            finally:
                reply.cancel()
                del self._watching[request.tool_call_id]
            return _unwrap(name, _received(name, reply))

    async def _on_beat(self, msg: Msg) -> None:
        beats = self._watching.get(msg.subject.rsplit(".", 1)[-1])
        if beats is not None:
            beats.beat(msg.data)

    async def close(self) -> None:
        if self._beats is not None:
            beats, self._beats = self._beats, None
            await _unsubscribe(beats)

    async def cancel(self, tool_call_id: str) -> bool:
        """Stop the call at whichever runner holds it; True once that runner has ended it (its
        tool_completed is stored), False if no runner answered within the wait."""
        try:
            await self._nc.request(
                subjects.tool_control_cancel(tool_call_id), b"", timeout=self._cancel_wait_s
            )
        except (NoRespondersError, NatsTimeout):
            return False
        return True

    async def _watch(
        self,
        name: str,
        reply: asyncio.Future[Msg],
        beats: _Heartbeats,
        on_stage: OnStage | None,
    ) -> None:
        """Until the reply comes: fail the call when the runner goes quiet for too long."""
        loop = asyncio.get_running_loop()
        reported = CallStage.REQUESTED
        reply.add_done_callback(beats.wake)
        while not reply.done():
            limit = self._heartbeat_timeout_s if beats.count else self._timeout_s
            left = beats.last + limit - loop.time()
            if left <= 0:
                raise self._silence(name, started=bool(beats.count))
            # A plain future that a heartbeat or the reply completes: no task per wait.
            beats.waiter = loop.create_future()
            try:
                async with asyncio.timeout(left):
                    await beats.waiter
            except TimeoutError:
                pass
            finally:
                beats.waiter = None
            if beats.stage is not reported:
                reported = beats.stage
                if on_stage is not None:
                    await on_stage(reported)

    def _silence(self, name: str, *, started: bool) -> ToolCallError:
        if started:
            return ToolCallError(
                f"the tool runner working on {name} stopped responding "
                f"(no heartbeat for {self._heartbeat_timeout_s:g}s)",
                ErrorCode.TOOL_LOST,
                answered=False,
            )
        return ToolCallError(
            f"{name} did not answer within {self._timeout_s:g}s",
            ErrorCode.TOOL_TIMEOUT,
            answered=False,
        )


def _span(request: ToolCallRequest) -> dict[str, str]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": request.tool_name,
        "gen_ai.tool.call.id": request.tool_call_id,
        "messaging.system": "nats",
        "messaging.destination.name": subjects.tool_call_wildcard(),
    }


def _received(name: str, reply: asyncio.Future[Msg]) -> bytes:
    try:
        return reply.result().data
    except NoRespondersError:
        raise ToolCallError(
            f"no tool runner is serving {name}", ErrorCode.TOOL_UNAVAILABLE
        ) from None
    except NatsTimeout:
        raise ToolCallError(
            f"{name} did not answer", ErrorCode.TOOL_TIMEOUT, answered=False
        ) from None


async def _unsubscribe(subscription: Subscription) -> None:
    # When the connection is closing the subscription goes with it; nothing is left to undo.
    with contextlib.suppress(Exception):
        await subscription.unsubscribe()


def _unwrap(name: str, payload: bytes) -> ToolCallSucceeded:
    try:
        reply = decode_tool_reply(payload)
    except msgspec.DecodeError as exc:
        raise ToolCallError(f"{name} sent an unreadable reply: {exc}") from None
    match reply:
        case ToolCallSucceeded():
            return reply
        case ToolCallFailed(code=code, message=message):
            raise ToolCallError(message, _known_code(code))


def _known_code(code: str) -> ErrorCode:
    # Codes are a closed, documented registry; a code this agent does not know is still a failure.
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.TOOL_FAILED
