"""Revocation messages: which tokens each one revokes, and the subjects they travel on."""

from __future__ import annotations

import pytest

from shared import subjects
from shared.errors import InvalidId
from shared.wire.revocation import Revocation, decode_revocation, encode_revocation

USER = "0123456789abcdef0123456789abcdef"


def test_a_session_revocation_revokes_that_sessions_tokens_only() -> None:
    logout = Revocation(user_id=USER, reason="logout", not_before=1000, session_id="s1")

    assert logout.revokes(issued_at=999, session_id="s1")
    assert logout.revokes(issued_at=5000, session_id="s1")
    assert not logout.revokes(issued_at=999, session_id="s2")


def test_a_user_wide_revocation_revokes_every_token_issued_before_it() -> None:
    revoke_all = Revocation(user_id=USER, reason="password_changed", not_before=1000)

    assert revoke_all.revokes(issued_at=999, session_id="any")
    assert not revoke_all.revokes(issued_at=1000, session_id="any")


def test_a_revocation_round_trips_and_old_readers_skip_new_fields() -> None:
    revocation = Revocation(user_id=USER, reason="admin", not_before=1000)

    assert decode_revocation(encode_revocation(revocation)) == revocation
    newer = b'{"user_id": "u1", "reason": "some_new_reason", "not_before": 5, "extra": [1]}'
    assert decode_revocation(newer).reason == "some_new_reason"


def test_auth_subjects() -> None:
    assert subjects.auth_jwks() == "auth.jwks"
    assert subjects.auth_jwks_changed() == "auth.jwks.changed"
    assert subjects.auth_revoked(USER) == f"auth.revoked.{USER}"
    assert subjects.auth_revoked_wildcard() == "auth.revoked.*"


@pytest.mark.parametrize("bad", ["", "a.b", "*", ">", "a b", "x" * 65, "é"])
def test_a_revocation_subject_refuses_any_id_that_is_not_one_token(bad: str) -> None:
    with pytest.raises(InvalidId):
        subjects.auth_revoked(bad)
