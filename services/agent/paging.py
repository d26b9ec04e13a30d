"""Keyset pages for the lists the agent answers: where a page ended, as an opaque cursor.

A list is sorted newest first on (a time, the row's id): threads on when they were last used,
a thread's runs on when they were sent. A page is the ``limit`` rows after a :class:`Position`,
and the next page starts after the last row *sent* (which is the last row read unless the page
was cut to fit a reply). Unlike OFFSET, rows added meanwhile do not shift the pages after them:
new runs are newest, so they land before the first page, never in the middle of a walk.

A cursor carries its list's kind, the time in whole microseconds (a float would lose the last
digit, and a keyset needs equality) and the id, base64url-encoded: opaque to clients, so its
layout can change (the leading version says which layout it is).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from shared.subjects import SAFE_TOKEN_PATTERN

__all__ = [
    "BadCursor",
    "ListKind",
    "Page",
    "Position",
    "decode_cursor",
    "encode_cursor",
    "fitting",
    "micros",
    "moment",
    "paged",
]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
_LAYOUT = "1"
_MICROS = re.compile(r"[0-9]{1,18}")
_ID = re.compile(SAFE_TOKEN_PATTERN)


class ListKind(StrEnum):
    """Which list a cursor belongs to: a threads cursor is refused by the runs list."""

    THREADS = "t"
    RUNS = "r"


class BadCursor(ValueError):
    """A cursor this service did not give out (or gave out for another list)."""


@dataclass(frozen=True, slots=True)
class Position:
    """A row's place in its list: its sort time in microseconds since the epoch, and its id."""

    micros: int
    id: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Up to ``limit`` rows in list order, each one's position, and whether more rows follow."""

    items: list[T]
    positions: list[Position]
    more: bool

    def next_after(self, sent: int) -> Position | None:
        """Where the next page starts when the first ``sent`` items went out; None: the end."""
        if sent <= 0 or (sent >= len(self.items) and not self.more):
            return None
        return self.positions[sent - 1]


def paged(
    rows: Iterable[T], place: Callable[[T], Position], limit: int, after: Position | None = None
) -> Page[T]:
    """A page of in-memory ``rows``, in list order (newest first), as the repository pages its
    tables: for fakes and tests."""
    ranked = sorted(((place(row), row) for row in rows), key=_rank, reverse=True)
    if after is not None:
        ranked = [(at, row) for at, row in ranked if _rank((at, row)) < (after.micros, after.id)]
    return Page(
        items=[row for _, row in ranked[:limit]],
        positions=[at for at, _ in ranked[:limit]],
        more=len(ranked) > limit,
    )


def _rank(entry: tuple[Position, object]) -> tuple[int, str]:
    return entry[0].micros, entry[0].id


def micros(when: datetime) -> int:
    """Whole microseconds since the epoch, exactly; a zone-less value (SQLite's) is UTC."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _ONE_MICROSECOND


def moment(value: int) -> datetime:
    """The UTC datetime ``value`` microseconds after the epoch (the inverse of :func:`micros`)."""
    return _EPOCH + timedelta(microseconds=value)


def encode_cursor(kind: ListKind, position: Position) -> str:
    text = f"{kind.value}{_LAYOUT}:{position.micros}:{position.id}"
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def decode_cursor(kind: ListKind, cursor: str) -> Position:
    """The position ``cursor`` names; BadCursor if it is not one of ``kind``'s."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (ValueError, binascii.Error):  # UnicodeError is a ValueError
        raise BadCursor("cursor: not one this list gave out") from None
    head, _, rest = text.partition(":")
    value, _, row_id = rest.partition(":")
    ours = head == f"{kind.value}{_LAYOUT}"
    if not (ours and _MICROS.fullmatch(value) and _ID.fullmatch(row_id)):
        raise BadCursor("cursor: not one this list gave out")
    return Position(micros=int(value), id=row_id)


def fitting(sizes: list[int], budget: int) -> int:
    """How many of the first items fit in ``budget`` bytes together: at least one, if any, so
    a page always moves on (one item alone over the budget is the bus's to refuse)."""
    total = 0
    for count, size in enumerate(sizes):
        total += size
        if total > budget and count > 0:
            return count
    return len(sizes)
