"""Keyset pages: cursors out and back, refused when they are not ours, pages cut to a budget."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import msgspec
import pytest

from services.agent.paging import (
    BadCursor,
    ListKind,
    Page,
    Position,
    decode_cursor,
    encode_cursor,
    fitting,
    micros,
    moment,
    paged,
)
from shared.wire.runs import CURSOR_MAX_CHARS, PageCursor

AT = Position(micros=1_767_225_600_123_457, id="9b2e" * 16)


@pytest.mark.parametrize("kind", list(ListKind))
def test_a_cursor_comes_back_as_the_position_it_was_made_from(kind: ListKind) -> None:
    assert decode_cursor(kind, encode_cursor(kind, AT)) == AT


def test_a_cursor_is_an_opaque_bounded_url_safe_string() -> None:
    cursor = encode_cursor(ListKind.RUNS, AT)  # the longest id a cursor can carry

    assert len(cursor) <= CURSOR_MAX_CHARS
    assert cursor.replace("-", "").replace("_", "").isalnum()
    assert AT.id not in cursor  # clients are not invited to build their own


def test_a_threads_cursor_is_refused_by_the_runs_list() -> None:
    with pytest.raises(BadCursor):
        decode_cursor(ListKind.RUNS, encode_cursor(ListKind.THREADS, AT))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "a",  # a length no base64 can have
        _b64("r1:123"),  # no id
        _b64("r1:12x:abc"),  # not a number
        _b64("r1:-5:abc"),
        _b64("r1:1:a.b"),  # an id that could not be one
        _b64("r2:1:abc"),  # a layout this version does not know
        _b64("r1:" + "9" * 19 + ":abc"),
        base64.urlsafe_b64encode(b"r1:1:\xff\xfe").decode(),  # not text
    ],
)
def test_anything_but_a_cursor_we_gave_out_is_refused(cursor: str) -> None:
    with pytest.raises(BadCursor, match="not one this list gave out"):
        decode_cursor(ListKind.RUNS, cursor)


def test_microseconds_are_exact_both_ways_and_a_zoneless_time_is_utc() -> None:
    when = datetime(2026, 1, 1, 0, 0, 0, 123457, tzinfo=UTC)

    assert moment(micros(when)) == when
    assert micros(when.replace(tzinfo=None)) == micros(when)
    assert micros(when) % 1_000_000 == 123457  # a float of the seconds would not promise this


def test_pages_walk_a_list_newest_first_with_ties_broken_by_id() -> None:
    rows = [(t, f"id{i:02d}") for i, t in enumerate([5, 5, 5, 4, 9, 1, 5, 0])]

    def place(row: tuple[int, str]) -> Position:
        return Position(*row)

    walked: list[tuple[int, str]] = []
    after: Position | None = None
    pages = 0
    while True:
        page = paged(rows, place, limit=3, after=after)
        walked += page.items
        pages += 1
        after = page.next_after(len(page.items))
        if after is None:
            break

    assert walked == sorted(rows, reverse=True)
    assert pages == 3


def test_a_page_cut_short_goes_on_from_the_last_item_sent() -> None:
    positions = [Position(3, "a"), Position(2, "b"), Position(1, "c")]
    last_page = Page(items=["a", "b", "c"], positions=positions, more=False)

    assert last_page.next_after(3) is None  # everything went out, and nothing follows
    assert last_page.next_after(1) == Position(3, "a")  # b and c open the next page
    assert Page(items=["a"], positions=positions[:1], more=True).next_after(1) == Position(3, "a")
    assert Page(items=[], positions=[], more=False).next_after(0) is None


@pytest.mark.parametrize(
    ("sizes", "budget", "fit"),
    [
        ([], 10, 0),
        ([4, 4, 4], 12, 3),
        ([4, 4, 4], 11, 2),
        ([20, 1], 10, 1),  # one item alone over the budget still goes, so a page moves on
        ([1, 20], 10, 1),
    ],
)
def test_a_page_holds_the_first_items_that_fit_the_budget(
    sizes: list[int], budget: int, fit: int
) -> None:
    assert fitting(sizes, budget) == fit


def test_the_wire_bounds_a_cursor_before_the_agent_reads_it() -> None:
    decode = msgspec.json.Decoder(PageCursor).decode
    assert decode(b'"' + encode_cursor(ListKind.RUNS, AT).encode() + b'"')
    for bad in (b'""', b'"a.b"', b'"' + b"a" * (CURSOR_MAX_CHARS + 1) + b'"', b"5"):
        with pytest.raises(msgspec.ValidationError):
            decode(bad)
