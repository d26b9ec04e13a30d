"""Server-Sent Events framing (the WHATWG ``text/event-stream`` format), LF line endings only.

    event(data, id)   ->  b"id: <id>\\ndata: <data>\\n\\n"
    comment(text)     ->  b": <text>\\n\\n"          (a keep-alive: readers skip it)

``data`` is one JSON document; a JSON encoder never writes a raw line break, so it is always one
``data:`` line (a line break inside would end the field and corrupt the event, so it is refused).
An ``id`` is what a browser's EventSource, or any client, sends back as ``Last-Event-ID``.
"""

from __future__ import annotations

__all__ = ["CONTENT_TYPE", "comment", "event"]

CONTENT_TYPE = "text/event-stream"


def event(data: bytes, id: str | None = None) -> bytes:
    """One event carrying ``data`` (a single line), with ``id`` when given."""
    if b"\n" in data or b"\r" in data:
        raise ValueError("SSE data must be one line")
    if id is not None and ("\n" in id or "\r" in id or "\0" in id):
        raise ValueError("an SSE id is one line without NUL")
    head = b"" if id is None else b"id: " + id.encode() + b"\n"
    return head + b"data: " + data + b"\n\n"


def comment(text: str) -> bytes:
    """A comment line (readers ignore it): keeps proxies and clients from timing the stream out."""
    return b": " + text.replace("\n", " ").replace("\r", " ").encode() + b"\n\n"
