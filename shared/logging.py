"""One log format for every service: ``time level service message key=value ...``, or JSON.

``LOG_FORMAT=json`` writes one JSON object per line: ``time``, ``level``, ``service``,
``logger``, ``message``, and ``run_id``, ``user_id``, ``thread_id``, ``trace_id`` wherever they
are known. They are known through :func:`bind`: a context variable, so a run's task (and every
task it starts) carries its run's ids into every line it logs; ``trace_id`` comes from the
current OpenTelemetry span when tracing is on.

Secrets never reach a log line: callers pass ids, never tokens or passwords, and
:func:`redact` masks any value under a key that looks secret, as a second line of defence.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["JsonFormatter", "bind", "bound", "configure", "fields", "redact", "unbind"]

_SECRET_KEYS = ("token", "password", "secret", "authorization", "key")
_NONE: dict[str, str] = {}  # never mutated: bind() makes a new dict
_FIELDS: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("log_fields")


def redact(fields: dict[str, object]) -> dict[str, object]:
    return {
        k: ("***" if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in fields.items()
    }


def fields() -> dict[str, str]:
    """The ids bound in the current context."""
    return _FIELDS.get(_NONE)


def bind(fresh: bool = False, **values: str | None) -> contextvars.Token[dict[str, str]]:
    """Add ids (``run_id=...``) to every line logged from this context and the tasks it starts;
    ``fresh``: these ids only, forgetting the ones bound before."""
    given = {k: v for k, v in values.items() if v is not None}
    return _FIELDS.set(given if fresh else {**_FIELDS.get(_NONE), **given})


def unbind(token: contextvars.Token[dict[str, str]]) -> None:
    """Undo a :func:`bind` (with its token)."""
    _FIELDS.reset(token)


@contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """:func:`bind` for the length of a block."""
    token = bind(**values)
    try:
        yield
    finally:
        unbind(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= redact(dict(_FIELDS.get(_NONE)))
        trace_id = _trace_id()
        if trace_id is not None:
            line["trace_id"] = trace_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _trace_id() -> str | None:
    from shared import tracing  # imported late: tracing imports OpenTelemetry only when on

    return tracing.current_trace_id()


def configure(service: str, level: str = "INFO", log_format: str = "text") -> logging.Logger:
    handler = logging.StreamHandler(sys.stdout)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return logging.getLogger(service)
