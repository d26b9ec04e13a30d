"""A fake OpenAI Chat Completions server: a real HTTP process answering as scripted.

    python -m tests.fakes.openai_server [--port N]    prints "port N" once it listens

``POST /v1/chat/completions`` answers the next scripted response (``openai_script``): SSE in the
exact shapes OpenAI sends (a role chunk, content / reasoning / tool-call fragment chunks, a
finish chunk, a ``"choices": []`` usage chunk when ``stream_options.include_usage`` asks, then
``data: [DONE]``), or an HTTP error in OpenAI's error shape. It first checks the request as
OpenAI does (tool names, tool messages answering the calls before them, arguments as strings)
and answers 400 without using up the script when it is wrong, so an agent's mistakes show.

``GET /v1/models`` lists one model, for clients that look before they ask.

Control, for the tests: ``POST /_script`` (a ``Script``; also forgets what was recorded),
``GET /_requests`` (every request: path, headers, JSON body), ``GET /_disconnects`` (numbers of
the requests whose client hung up before the response ended), ``GET /_health``.

A plain ASGI app on uvicorn, with no framework: the test needs to control the bytes and to see
``http.disconnect``, which is exactly what raw ASGI gives.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import uvicorn

from tests.fakes.openai_script import (
    CallArguments,
    CallStart,
    HttpError,
    Pause,
    RawData,
    Reasoning,
    Response,
    Script,
    Stream,
    Text,
)
from tests.fakes.openai_validation import request_problem

__all__ = ["app", "main"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_MODEL = {"id": "fake-model", "object": "model", "created": 0, "owned_by": "agentwire-tests"}
_RECORDED_HEADERS = (b"authorization", b"content-type", b"accept", b"user-agent")


class _State:
    def __init__(self) -> None:
        self.script: list[Response] = []
        self.requests: list[dict[str, Any]] = []
        self.disconnects: list[int] = []


state = _State()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = await _read_body(receive)
    route = (scope["method"], scope["path"])
    if route == ("POST", "/v1/chat/completions"):
        await _completion(scope, body, receive, send)
    elif route == ("POST", "/_script"):
        script = msgspec.json.decode(body, type=Script)
        state.script, state.requests, state.disconnects = list(script.responses), [], []
        await _json(send, 200, {"responses": len(script.responses)})
    elif route == ("GET", "/_requests"):
        await _json(send, 200, state.requests)
    elif route == ("GET", "/_disconnects"):
        await _json(send, 200, state.disconnects)
    elif route == ("GET", "/v1/models"):
        await _json(send, 200, {"object": "list", "data": [_MODEL]})
    elif route == ("GET", "/_health"):
        await _json(send, 200, {"status": "ok"})
    else:
        await _json(send, 404, _error("no such route", "invalid_request_error"))


async def _completion(scope: Scope, raw: bytes, receive: Receive, send: Send) -> None:
    number = len(state.requests)
    headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in _RECORDED_HEADERS}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        body = raw.decode("utf-8", errors="replace")
    state.requests.append({"path": scope["path"], "headers": headers, "body": body})
    if problem := request_problem(body):
        await _json(send, 400, _error(problem, "invalid_request_error"))
        return
    if not state.script:
        message = f"fake OpenAI server: no scripted response for request {number}"
        await _json(send, 400, _error(message, "invalid_request_error"))
        return
    response = state.script.pop(0)
    if isinstance(response, HttpError):
        await _http_error(send, response)
        return
    model = body.get("model", "fake-model")
    usage = bool((body.get("stream_options") or {}).get("include_usage"))
    stream = _StreamWriter(send, model, usage, response)
    if not await _until_disconnect(stream.run(), receive):
        state.disconnects.append(number)


async def _until_disconnect(work: Awaitable[None], receive: Receive) -> bool:
    """Run ``work``; False when the client hung up first (and ``work`` was stopped)."""
    sending = asyncio.ensure_future(work)
    listening = asyncio.ensure_future(_disconnect(receive))
    done, _ = await asyncio.wait({sending, listening}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sending, listening):
        task.cancel()
    await asyncio.gather(sending, listening, return_exceptions=True)
    if sending in done:
        sending.result()  # the writer's own failure, if it had one
        return True
    return False


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _StreamWriter:
    """One scripted stream, written chunk by chunk as OpenAI writes it."""

    def __init__(self, send: Send, model: str, usage: bool, stream: Stream) -> None:
        self.send, self.model, self.usage, self.stream = send, model, usage, stream
        self.id = f"chatcmpl-fake{time.monotonic_ns()}"
        self.created = int(time.time())

    async def run(self) -> None:
        await self.send(_start(200, {"content-type": "text/event-stream; charset=utf-8"}))
        await self._data(self._chunk({"role": "assistant", "content": "", "refusal": None}))
        made_calls = False
        for step in self.stream.steps:
            made_calls |= isinstance(step, CallStart)
            await self._step(step)
        if self.stream.end == "reset":
            return  # uvicorn drops a connection whose response was left unfinished
        if self.stream.end == "done":
            reason = self.stream.finish_reason or ("tool_calls" if made_calls else "stop")
            await self._data(self._chunk({}, reason))
            if self.usage and self.stream.usage is not None:
                await self._data(self._usage_chunk(*self.stream.usage))
            await self._data("[DONE]")
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _step(self, step: Any) -> None:
        match step:
            case Reasoning(text, field):
                await self._data(self._chunk({field: text}))
            case Text(text):
                await self._data(self._chunk({"content": text}))
            case CallStart(index, call_id, name):
                function = {"name": name, "arguments": ""}
                call = {"index": index, "id": call_id, "type": "function", "function": function}
                await self._data(self._chunk({"tool_calls": [call]}))
            case CallArguments(index, fragment):
                call = {"index": index, "function": {"arguments": fragment}}
                await self._data(self._chunk({"tool_calls": [call]}))
            case RawData(data):
                await self._data(data)
            case Pause(seconds):
                await asyncio.sleep(seconds)

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk = {**self._envelope(), "choices": [choice]}
        if self.usage:
            chunk["usage"] = None  # OpenAI's shape when usage was asked for: null until the end
        return chunk

    def _usage_chunk(self, prompt: int, completion: int) -> dict[str, Any]:
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        return {**self._envelope(), "choices": [], "usage": usage}

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
        }

    async def _data(self, payload: dict[str, Any] | str) -> None:
        if self.stream.chunk_delay_s:
            await asyncio.sleep(self.stream.chunk_delay_s)
        text = payload if isinstance(payload, str) else msgspec.json.encode(payload).decode()
        body = f"data: {text}\n\n".encode()
        await self.send({"type": "http.response.body", "body": body, "more_body": True})


async def _http_error(send: Send, error: HttpError) -> None:
    if error.body is not None:
        headers = {"content-type": "text/plain", **error.headers}
        await send(_start(error.status, headers))
        await send({"type": "http.response.body", "body": error.body.encode()})
        return
    kind = "invalid_api_key" if error.status == 401 else "scripted_error"
    await _json(send, error.status, _error(error.message, kind), error.headers)


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


async def _json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    await send(_start(status, {"content-type": "application/json", **(headers or {})}))
    await send({"type": "http.response.body", "body": msgspec.json.encode(body)})


def _start(status: int, headers: dict[str, str]) -> dict[str, Any]:
    pairs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http.response.start", "status": status, "headers": pairs}


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


class _QuietResets(logging.Filter):
    """A scripted ``end="reset"`` is the test's intent, not an error of the server's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    logging.getLogger("uvicorn.error").addFilter(_QuietResets())
    print(f"port {sock.getsockname()[1]}", flush=True)
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
