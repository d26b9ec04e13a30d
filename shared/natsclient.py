"""nats-py's client, with a leaner parser for message headers and a raw subscription.

Every message the gateway fans out carries the stream's republish headers (``Nats-Sequence``,
``Nats-Last-Sequence`` and three more), and nats-py 2.16 parses them in Python: its check that a
header name holds no whitespace runs a generator over each character. At 1,000 users that
parser was a quarter of the gateway's CPU (./dev bench, py-spy). This one returns the same dict
(``tests/unit/shared/test_natsclient.py`` holds it to nats-py's own on arbitrary input) in half
the time: the whitespace check is one regular-expression search, whose ``\\s`` matches exactly
the characters ``str.isspace`` does.

:meth:`Client.subscribe_raw` goes further for the subscriptions that carry every event: their
messages reach a plain function as bytes (subject, payload, the raw header block) straight
from nats-py's read loop, with no ``Msg``, no headers dict, no queue and no task switch per
message (:func:`header` reads the one or two values the caller needs). nats-py still owns the
subscription: it is sent again after every reconnect, and ``unsubscribe`` works as usual.

Both override private nats-py methods (``_parse_header_lines``, ``_process_msg``,
``_remove_sub``), so nats-py stays pinned (``pyproject.toml``), and the tests in
``tests/unit/shared/`` and ``tests/component/shared/test_natsclient.py`` run against whatever
version is installed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from nats.aio.client import Client as _NatsClient
from nats.aio.subscription import Subscription

__all__ = ["Client", "RawHandler", "header"]

log = logging.getLogger(__name__)

_WHITESPACE = re.compile(r"\s")

# handler(subject, payload, header block or None); it runs inside nats-py's read loop: no blocking.
RawHandler = Callable[[bytes, bytes, bytes | None], None]


def header(block: bytes | None, name: bytes) -> bytes | None:
    """The value of header ``name`` in a raw NATS header block (``NATS/1.0\\r\\n...``), if any."""
    if block is None:
        return None
    start = block.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = block.find(b"\r\n", start)
    return block[start : end if end >= 0 else len(block)].strip()


class Client(_NatsClient):
    def __init__(self) -> None:
        super().__init__()
        self._raw_handlers: dict[int, RawHandler] = {}

    async def subscribe_raw(self, subject: str, handler: RawHandler) -> Subscription:
        """Subscribe so that every message is ``handler(subject, payload, headers)``, raw."""
        subscription = await self.subscribe(subject)  # no callback: nats-py starts no task
        self._raw_handlers[subscription._id] = handler
        return subscription

    def _remove_sub(self, sid: int, max_msgs: int = 0) -> None:
        self._raw_handlers.pop(sid, None)  # unsubscribed: forget its handler too
        super()._remove_sub(sid, max_msgs)

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        handler = self._raw_handlers.get(sid)  # gone with the subscription (_remove_sub)
        if handler is None:
            await super()._process_msg(sid, subject, reply, data, headers)
            return
        self.stats["in_msgs"] += 1
        self.stats["in_bytes"] += len(data)
        try:
            handler(subject, data, headers)
        except Exception:  # a bug in one handler must not take the connection's read loop down
            log.exception("handler of subscription %d failed", sid)

    def _parse_header_lines(self, raw: bytes) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in raw.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep:
                continue
            try:
                key = name.strip().decode("ascii")
            except UnicodeDecodeError:
                continue  # a malformed name: nats-py skips it too
            if _WHITESPACE.search(key):
                continue
            out[key] = value.strip().decode("utf-8", "replace")
        return out
