"""What the fake OpenAI server answers: one scripted response per request, in order.

A test builds its script with the helpers and hands it over (``await fake_openai.script(...)``)::

    await fake_openai.script(
        reply(reasoning("The user wants the weather."), tool_call("call_1", "weather",
              {"city": "Paris"}), tool_call("call_2", "weather", {"city": "Oslo"}, index=1)),
        http_error(429, headers={"Retry-After": "1"}),
        reply(text("It is sunny in Paris and snowing in Oslo."), usage=(120, 15)),
    )

``reply`` streams its steps as ``chat.completion.chunk`` lines, then (``end="done"``) a chunk
with the finish_reason (``tool_calls`` when it made any, else ``stop``), the usage chunk when
the request asked for it, and ``data: [DONE]``. ``end="eof"`` ends the body right after the
steps, cleanly but unfinished; ``end="reset"`` drops the connection there. ``chunk_delay_s``
paces every chunk (a slow stream to cancel); ``pause(s)`` waits once, mid-stream.
``malformed()`` and ``raw_data()`` send a data line as it is. The Structs travel to the server
as JSON, so the server process decodes exactly what the test wrote.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

__all__ = [
    "CallArguments",
    "CallStart",
    "HttpError",
    "Pause",
    "RawData",
    "Reasoning",
    "Response",
    "Script",
    "Step",
    "Stream",
    "Text",
    "http_error",
    "malformed",
    "pause",
    "raw_data",
    "reasoning",
    "reply",
    "text",
    "tool_call",
]


class Reasoning(msgspec.Struct, tag="reasoning"):
    text: str
    field: Literal["reasoning_content", "reasoning"] = "reasoning_content"


class Text(msgspec.Struct, tag="text"):
    text: str


class CallStart(msgspec.Struct, tag="call_start"):
    """A tool call's first fragment: its index, id and name, and empty arguments."""

    index: int
    id: str
    name: str


class CallArguments(msgspec.Struct, tag="call_arguments"):
    index: int
    fragment: str


class RawData(msgspec.Struct, tag="raw"):
    data: str  # sent as ``data: <data>`` verbatim


class Pause(msgspec.Struct, tag="pause"):
    seconds: float


Step = Reasoning | Text | CallStart | CallArguments | RawData | Pause


class Stream(msgspec.Struct, tag="stream", kw_only=True):
    steps: list[Step]
    finish_reason: str | None = None  # None: "tool_calls" if a call was made, else "stop"
    usage: tuple[int, int] | None = (12, 34)  # prompt and completion tokens
    end: Literal["done", "eof", "reset"] = "done"
    chunk_delay_s: float = 0.0


class HttpError(msgspec.Struct, tag="http_error", kw_only=True):
    status: int
    message: str = "scripted error"
    headers: dict[str, str] = {}
    body: str | None = None  # sent verbatim instead of OpenAI's {"error": {...}} object


Response = Stream | HttpError


class Script(msgspec.Struct):
    responses: list[Response]


def reasoning(
    words: str, *, field: Literal["reasoning_content", "reasoning"] = "reasoning_content"
) -> list[Step]:
    """Reasoning deltas, one per word (the field vLLM and OpenRouter use is ``reasoning``)."""
    return [Reasoning(piece, field) for piece in _words(words)]


def text(words: str) -> list[Step]:
    """Answer deltas, one per word, as a model streams its tokens."""
    return [Text(piece) for piece in _words(words)]


def tool_call(
    call_id: str, name: str, arguments: dict[str, Any], *, index: int = 0, pieces: int = 3
) -> list[Step]:
    """A tool call: id and name first, then its JSON arguments cut into ``pieces`` fragments."""
    encoded = msgspec.json.encode(arguments).decode()
    size = max(1, -(-len(encoded) // pieces))
    fragments = [encoded[i : i + size] for i in range(0, len(encoded), size)]
    return [CallStart(index, call_id, name), *(CallArguments(index, f) for f in fragments)]


def pause(seconds: float) -> list[Step]:
    return [Pause(seconds)]


def raw_data(data: str) -> list[Step]:
    return [RawData(data)]


def malformed() -> list[Step]:
    """A data line that is not JSON: a chunk cut in half."""
    return [RawData('{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choi')]


def reply(
    *groups: list[Step] | Step,
    finish_reason: str | None = None,
    usage: tuple[int, int] | None = (12, 34),
    end: Literal["done", "eof", "reset"] = "done",
    chunk_delay_s: float = 0.0,
) -> Stream:
    steps = [s for g in groups for s in (g if isinstance(g, list) else [g])]
    return Stream(
        steps=steps, finish_reason=finish_reason, usage=usage, end=end, chunk_delay_s=chunk_delay_s
    )


def http_error(
    status: int,
    message: str = "scripted error",
    *,
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> HttpError:
    return HttpError(status=status, message=message, headers=headers or {}, body=body)


def _words(words: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", words)
