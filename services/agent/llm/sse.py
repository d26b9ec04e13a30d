"""Server-sent events, decoded without I/O: bytes in, events out.

Chat Completions streams are ``text/event-stream`` (the WHATWG "server-sent events" format).
Parsing it here, in forty lines, keeps the whole stream testable without a socket and avoids a
dependency for what the spec defines in one page. What the spec asks, and servers rely on:

- the stream is UTF-8 whatever the headers say; a leading byte-order mark is dropped;
- lines end in CRLF, LF or CR, and a chunk may split a line (or a CRLF) anywhere;
- ``data:`` lines accumulate (joined by LF) until a blank line dispatches the event;
  one space after the colon is dropped; a line starting with ``:`` is a comment (keep-alives);
- an event still open when the stream ends is discarded (it may be cut).

``max_event_size`` (characters) bounds what a server can make us hold by never ending a line.
"""

from __future__ import annotations

import codecs
import re
from typing import NamedTuple

__all__ = ["EventTooLong", "ServerSentEvent", "SseDecoder"]

_END_OF_LINE = re.compile(r"\r\n|\r|\n")


class ServerSentEvent(NamedTuple):
    data: str
    event: str = "message"
    id: str | None = None


class EventTooLong(ValueError):
    """A line or event longer than the decoder's limit: the stream is not one we can take."""


class SseDecoder:
    def __init__(self, max_event_size: int = 4 * 1024 * 1024) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._limit = max_event_size
        self._buffer = ""
        self._started = False
        self._after_cr = False
        self._data: list[str] = []
        self._size = 0
        self._event = ""
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events that ``chunk`` completes, in order."""
        text = self._text.decode(chunk)
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr:  # the CR that ended the last chunk was the first half of a CRLF
            text = text.removeprefix("\n")
        self._after_cr = text.endswith("\r")
        self._buffer += text
        events: list[ServerSentEvent] = []
        for line in self._complete_lines():
            if (event := self._line(line)) is not None:
                events.append(event)
        if len(self._buffer) > self._limit:
            raise EventTooLong(f"a line longer than {self._limit} characters")
        return events

    def _complete_lines(self) -> list[str]:
        # Not str.splitlines: it also splits on U+2028 and friends, which JSON leaves raw.
        lines, start = [], 0
        for match in _END_OF_LINE.finditer(self._buffer):
            lines.append(self._buffer[start : match.start()])
            start = match.end()
        self._buffer = self._buffer[start:]
        return lines

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
            self._size += len(value) + 1
            if self._size > self._limit:
                raise EventTooLong(f"an event longer than {self._limit} characters")
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value
        return None  # "retry" and unknown fields are ignored, as the spec says

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event or "message"
        self._data, self._size, self._event = [], 0, ""
        if not data:
            return None
        return ServerSentEvent("\n".join(data), event, self._id)
