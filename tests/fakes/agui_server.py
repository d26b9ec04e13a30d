"""A real AG-UI server: a pydantic-ai agent behind pydantic-ai's own AG-UI adapter, offline.

    python -m tests.fakes.agui_server [--port N]    prints "port N" once it listens

``POST /agent`` is the AG-UI endpoint (``AGUIAdapter.dispatch_request``: a ``RunAgentInput`` in,
AG-UI events out as SSE). The agent's model is pydantic-ai's ``FunctionModel``, which streams by
the last user message, so a test chooses the behaviour by what it says:

    "... tool ..."   thinks, says it will look, calls ``analyze_performance`` (a tool the client
                     offered: a frontend tool, answered in the next request), then names the
                     worst service from the result it is handed back
    "... slow ..."   says "one two three", then waits 30 s before saying more (for Stop)
    "... fail ..."   the model raises: the adapter answers RUN_ERROR
    "... restart ..." calls its own ``restart_service``, which requires approval: the run ends
                     with an ``interrupt`` outcome, and the next request's ``resume`` decides
                     (the answer says "Restarted db." or "I did not restart db.")
    anything else    "You said: <message>" (and how many messages it was sent)

Control, for the tests: ``GET /_requests`` (every AG-UI request body), ``GET /_disconnects``
(numbers of the requests whose client hung up before the response ended), ``POST /_reset``.
A raw ASGI wrapper records both around the adapter, which never sees it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pydantic_ai
import uvicorn
from pydantic_ai import DeferredToolRequests
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    RetryPromptPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaThinkingPart, DeltaToolCall, FunctionModel
from pydantic_ai.ui.ag_ui import AGUIAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["app", "main"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _model(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
    prompt = _last_prompt(messages)
    returns = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts]
    results = [p for p in returns if isinstance(p, ToolReturnPart)]
    if "tool" in prompt and not results:
        yield {0: DeltaThinkingPart(content="Latency is what the tool measures.")}
        yield "Let me look."
        args = json.dumps({"metric": "latency_ms"})
        yield {1: DeltaToolCall(name="analyze_performance", json_args=args)}
    elif "tool" in prompt:
        content = results[-1].content
        found = json.loads(content) if isinstance(content, str) else content
        worst = found.get("worst_service") if isinstance(found, dict) else None
        yield f"The slowest service is {worst or 'unknown'}."
    elif "slow" in prompt:
        yield "one two three"
        await asyncio.sleep(30)
        yield " never"
    elif "fail" in prompt:
        raise RuntimeError("the model fell over")
    elif "restart" in prompt and not returns_or_denials(returns):
        args = json.dumps({"service": "db"})
        yield {0: DeltaToolCall(name="restart_service", json_args=args)}
    elif "restart" in prompt:
        restarted = any(isinstance(p, ToolReturnPart) and p.content == "restarted" for p in returns)
        yield "Restarted db." if restarted else "I did not restart db."
    else:
        yield f"You said: {prompt} ({len(messages)} messages)"


def returns_or_denials(parts: list[Any]) -> bool:
    return any(isinstance(p, ToolReturnPart | RetryPromptPart) for p in parts)


def _last_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


brain = pydantic_ai.Agent(
    FunctionModel(stream_function=_model),
    instructions="Be brief.",
    output_type=[str, DeferredToolRequests],
)


@brain.tool_plain(requires_approval=True)
def restart_service(service: str) -> str:
    """Restart a service (a person approves it first)."""
    return "restarted"


async def _agent(request: Request) -> Response:
    return await AGUIAdapter.dispatch_request(request, agent=brain)


class _Recorder:
    """Every AG-UI request's body, and which of them the client left before the end."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.requests: list[Any] = []
        self.disconnects: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        route = (scope["method"], scope["path"])
        if route == ("GET", "/_requests"):
            await _json(send, self.requests)
        elif route == ("GET", "/_disconnects"):
            await _json(send, self.disconnects)
        elif route == ("POST", "/_reset"):
            self.requests, self.disconnects = [], []
            await _json(send, {})
        elif route == ("POST", "/agent"):
            await self._watched(scope, receive, send)
        else:
            await self.inner(scope, receive, send)

    async def _watched(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The adapter answers from the body read here; the real ``receive`` is watched for
        the client hanging up, which is recorded when the response had not ended."""
        body = await _read_body(receive)
        number = len(self.requests)
        self.requests.append(json.loads(body or b"null"))
        gone, ended = asyncio.Event(), False

        async def replay() -> Message:
            if not replayed:
                replayed.append(True)
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def tracked(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.body" and not message.get("more_body"):
                ended = True
            await send(message)

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not ended:
                self.disconnects.append(number)
            gone.set()

        replayed: list[bool] = []
        watcher = asyncio.ensure_future(watch())
        try:
            await self.inner(scope, replay, tracked)
        except OSError:
            pass  # uvicorn refuses to send to a client that left
        finally:
            if not ended and not gone.is_set():
                await asyncio.wait({watcher}, timeout=1)
            watcher.cancel()


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _json(send: Send, value: Any) -> None:
    body = json.dumps(value).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = _Recorder(Starlette(routes=[Route("/agent", _agent, methods=["POST"])]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    print(f"port {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
