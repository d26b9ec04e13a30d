"""The lean header parser gives exactly what nats-py's own gives, on any input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client as NatsPyClient

from shared.natsclient import Client, header

REPUBLISHED = (
    b"Nats-Stream: EVENTS\r\nNats-Subject: user.u-1.events\r\nNats-Sequence: 1234567\r\n"
    b"Nats-Time-Stamp: 2026-11-24T05:18:35.123456789Z\r\nNats-Last-Sequence: 1234001\r\n"
    b"Nats-Msg-Id: started:r-1\r\n\r\n"
)


def test_the_stream_republish_headers_parse_as_nats_py_parses_them() -> None:
    headers = Client()._parse_header_lines(REPUBLISHED)

    assert headers == NatsPyClient()._parse_header_lines(REPUBLISHED)
    assert (headers["Nats-Sequence"], headers["Nats-Last-Sequence"]) == ("1234567", "1234001")


_line = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda name, sep, value: name + sep + value,
        st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from([b":", b": ", b":\t", b" : ", b""]),
        st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
    ),
)


@given(st.lists(_line, max_size=8))
def test_any_header_block_parses_as_nats_py_parses_it(lines: list[bytes]) -> None:
    raw = b"\r\n".join(lines) + b"\r\n\r\n"

    assert Client()._parse_header_lines(raw) == NatsPyClient()._parse_header_lines(raw)


def test_a_header_value_is_read_from_the_raw_block_as_the_parser_reads_it() -> None:
    parsed = Client()._parse_header_lines(REPUBLISHED)
    block = b"NATS/1.0\r\n" + REPUBLISHED

    for name in ("Nats-Sequence", "Nats-Last-Sequence", "Nats-Stream", "Nats-Msg-Id"):
        assert header(block, name.encode()) == parsed[name].encode()
    assert header(block, b"Sequence") is None  # a name, not a substring of another
    assert header(block, b"Nats-Expected-Stream") is None
    assert header(None, b"Nats-Sequence") is None
