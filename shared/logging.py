"""One log format for every service: ``time level service message key=value ...``.

Secrets never reach a log line: callers pass ids, never tokens or passwords, and
:func:`redact` masks any value under a key that looks secret, as a second line of defence.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["configure", "redact"]

_SECRET_KEYS = ("token", "password", "secret", "authorization", "key")


def redact(fields: dict[str, object]) -> dict[str, object]:
    return {
        k: ("***" if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in fields.items()
    }


def configure(service: str, level: str = "INFO") -> logging.Logger:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return logging.getLogger(service)
