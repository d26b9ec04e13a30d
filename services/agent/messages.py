"""The built-in agent's streamed messages: their ids, and typing a whole text out at a pace.

The built-in planner hands over whole thoughts and a whole answer; an LLM hands over tokens. So
that a user sees the same thing either way, the runner types each whole text out as a streamed
message (see :class:`shared.streaming.MessageWriter`): word-sized tokens, whitespace kept (the
deltas join to exactly the text), at ``tokens_per_s`` (``STREAM_TOKENS_PER_S``; 0: no pacing,
the whole text at once). The writer coalesces them into deltas every ``flush_s``.

Message ids are derived from the run, not drawn at random: ``agent_completed`` always names the
answer's id, also when a sweeper announces the end of a run whose agent died, and a run
published twice (a retry) names its messages the same way.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Protocol

from agentwire_sdk.context import answer_message_id, thought_message_id
from shared.streaming import DEFAULT_DELTA_INTERVAL_S

__all__ = [
    "DEFAULT_TOKENS_PER_S",
    "Typing",
    "Writer",
    "answer_message_id",
    "thought_message_id",
    "tokens",
]

# About a fast reader's pace: the answer appears as it would from an LLM, not all at once.
DEFAULT_TOKENS_PER_S = 40.0

_TOKEN = re.compile(r"\S+\s*|\s+")


def tokens(text: str) -> list[str]:
    """``text`` in word-sized pieces, each word with the whitespace after it (whitespace at the
    very start is a piece of its own): ``"".join(tokens(text)) == text``."""
    return _TOKEN.findall(text)


class Writer(Protocol):
    def write(self, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Typing:
    """How the runner streams a whole text: its pace, and how often deltas are published."""

    tokens_per_s: float = DEFAULT_TOKENS_PER_S  # 0: no pacing
    flush_s: float = DEFAULT_DELTA_INTERVAL_S

    async def type_out(self, writer: Writer, text: str) -> None:
        """Write ``text`` to ``writer`` token by token at the pace (against a schedule, so the
        pace holds however long each sleep overshoots). A cancel stops it between tokens."""
        if self.tokens_per_s <= 0:
            writer.write(text)  # one delta: the writer would coalesce the tokens into one anyway
            return
        pieces = tokens(text)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, piece in enumerate(pieces):
            due = start + index / self.tokens_per_s
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            writer.write(piece)
