"""The SSE decoder: text/event-stream bytes in, events out, however the bytes are cut."""

from __future__ import annotations

import pytest

from services.agent.llm.sse import EventTooLong, ServerSentEvent, SseDecoder


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SseDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def bytewise(stream: bytes) -> list[ServerSentEvent]:
    return decode(*(stream[i : i + 1] for i in range(len(stream))))


def test_an_event_is_dispatched_by_the_blank_line_after_its_data() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b'data: {"a": 1}\n') == []
    assert decoder.feed(b"\n") == [ServerSentEvent('{"a": 1}')]


def test_openai_stream_decodes_to_its_data_lines_in_order() -> None:
    stream = b'data: {"n": 1}\n\ndata: {"n": 2}\n\ndata: [DONE]\n\n'
    assert [e.data for e in decode(stream)] == ['{"n": 1}', '{"n": 2}', "[DONE]"]


def test_several_data_lines_join_with_a_line_feed() -> None:
    assert decode(b"data: one\ndata: two\n\n") == [ServerSentEvent("one\ntwo")]


def test_only_one_space_after_the_colon_is_dropped() -> None:
    assert decode(b"data:x\n\ndata:  y\n\n") == [ServerSentEvent("x"), ServerSentEvent(" y")]


def test_comments_keep_alive_without_making_events() -> None:
    assert decode(b": OPENROUTER PROCESSING\n\n:ping\ndata: a\n\n") == [ServerSentEvent("a")]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_the_spec_allows_is_understood(end: bytes) -> None:
    stream = b"data: a" + end + end + b"event: error" + end + b"data: b" + end + end
    assert decode(stream) == [ServerSentEvent("a"), ServerSentEvent("b", event="error")]


def test_a_stream_cut_at_every_byte_gives_the_same_events() -> None:
    stream = 'data: {"content": "naïve 😀"}\r\n\r\ndata: [DONE]\r\n\r\n'.encode()
    assert bytewise(stream) == decode(stream)
    assert bytewise(stream)[0].data == '{"content": "naïve 😀"}'


def test_a_crlf_split_between_chunks_is_one_line_ending_not_two() -> None:
    assert decode(b"data: a\r", b"\ndata: b\r\n\r\n") == [ServerSentEvent("a\nb")]


def test_unicode_line_separators_inside_json_do_not_end_the_line() -> None:
    data = '{"content": "a\u2028b\u0085c"}'
    assert decode(f"data: {data}\n\n".encode()) == [ServerSentEvent(data)]


def test_a_leading_byte_order_mark_is_dropped() -> None:
    assert decode(b"\xef\xbb\xbfdata: a\n\n") == [ServerSentEvent("a")]


def test_the_id_field_is_kept_and_unknown_fields_ignored() -> None:
    assert decode(b"id: 7\nretry: 10\nfoo: bar\ndata: a\n\n") == [ServerSentEvent("a", id="7")]


def test_a_blank_line_without_data_dispatches_nothing() -> None:
    assert decode(b"\n\nevent: ping\n\n") == []


def test_an_event_left_open_when_the_stream_ends_is_not_dispatched() -> None:
    assert decode(b'data: {"cut": ') == []


def test_a_line_that_never_ends_is_refused_past_the_limit() -> None:
    decoder = SseDecoder(max_event_size=1000)
    with pytest.raises(EventTooLong):
        for _ in range(20):
            decoder.feed(b"data: " + b"x" * 100)


def test_an_event_of_many_lines_is_refused_past_the_limit() -> None:
    decoder = SseDecoder(max_event_size=1000)
    with pytest.raises(EventTooLong):
        decoder.feed(b"data: " + b"x" * 100 + b"\n" * 1 + (b"data: " + b"x" * 100 + b"\n") * 20)
