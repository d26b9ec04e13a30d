"""Finding the access token in a WebSocket handshake."""

from __future__ import annotations

from services.ws_gateway.auth import SUBPROTOCOL, read_handshake

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"


def test_token_from_authorization_header() -> None:
    handshake = read_handshake({"authorization": f"Bearer {JWT}"}, [])

    assert handshake.token == JWT
    assert handshake.subprotocol is None


def test_bearer_scheme_is_case_insensitive() -> None:
    assert read_handshake({"authorization": f"bearer {JWT}"}, []).token == JWT


def test_other_authorization_schemes_carry_no_token() -> None:
    assert read_handshake({"authorization": "Basic dXNlcjpwYXNz"}, []).token is None
    assert read_handshake({"authorization": "Bearer "}, []).token is None


def test_token_from_subprotocol_list_and_the_answer_is_agentwire_v1() -> None:
    handshake = read_handshake({}, ["agentwire.v1", f"bearer.{JWT}"])

    assert handshake.token == JWT
    assert handshake.subprotocol == SUBPROTOCOL == "agentwire.v1"


def test_answer_never_echoes_the_token_subprotocol() -> None:
    handshake = read_handshake({}, [f"bearer.{JWT}"])

    assert handshake.token == JWT
    assert handshake.subprotocol is None


def test_header_wins_over_subprotocol() -> None:
    handshake = read_handshake({"authorization": f"Bearer {JWT}"}, ["agentwire.v1", "bearer.other"])

    assert handshake.token == JWT
    assert handshake.subprotocol == "agentwire.v1"


def test_no_token_anywhere() -> None:
    handshake = read_handshake({}, ["agentwire.v1"])

    assert handshake.token is None
    assert handshake.subprotocol == "agentwire.v1"


def test_handshake_repr_does_not_show_the_token() -> None:
    assert JWT not in repr(read_handshake({"authorization": f"Bearer {JWT}"}, []))
