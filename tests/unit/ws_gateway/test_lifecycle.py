"""A session's lifecycle goes one way only: OPEN, then CLOSING, then CLOSED."""

from __future__ import annotations

import pytest

from services.ws_gateway.lifecycle import InvalidTransition, State, check_move
from services.ws_gateway.session import Session


@pytest.mark.parametrize(
    ("current", "to"),
    [(State.OPEN, State.CLOSING), (State.OPEN, State.CLOSED), (State.CLOSING, State.CLOSED)],
)
def test_the_lifecycle_moves_forward(current: State, to: State) -> None:
    assert check_move(current, to) is to


@pytest.mark.parametrize(
    ("current", "to"),
    [(State.CLOSING, State.OPEN), (State.CLOSED, State.OPEN), (State.CLOSED, State.CLOSING)],
)
def test_the_lifecycle_never_moves_back(current: State, to: State) -> None:
    with pytest.raises(InvalidTransition, match=f"from {current.name} to {to.name}"):
        check_move(current, to)


def test_a_closing_session_ignores_client_frames_and_closes_only_once() -> None:
    session = Session("alice")
    assert len(session.close(4000, "restart")) == 1  # type: ignore[arg-type]

    assert session.receive('{"type": "ping"}') == []
    assert session.close(4000, "again") == []  # type: ignore[arg-type]
    session.closed()
    session.closed()  # the socket may report its end more than once
    assert session.state is State.CLOSED
