"""What a socket may still do, without a socket: renewing, expiring, revoked, rate-limited."""

from __future__ import annotations

import json

from services.ws_gateway.auth import origin_allowed
from services.ws_gateway.guard import Credentials, RateLimits
from services.ws_gateway.revocations import RevocationList
from services.ws_gateway.session import Authenticate, Close, Command, Send, Session, State
from shared.errors import CloseCode
from shared.tokens import AccessClaims
from shared.wire.revocation import Revocation

USER = "user-1"
PING = '{"type": "ping"}'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claims(user_id: str = USER, *, exp: float = 2000.0, iat: float = 1000.0, sid: str = "s1"):
    return AccessClaims(user_id=user_id, expires_at=exp, issued_at=iat, session_id=sid)


def session(*, grace_s: float = 30, warning_s: float = 60, **kwargs) -> Session:
    creds = Credentials(claims(), grace_s=grace_s, warning_s=warning_s)
    return Session(USER, credentials=creds, **kwargs)


def sent(commands: list[Command]) -> list[dict]:
    return [json.loads(c.frame) for c in commands if isinstance(c, Send)]


# Re-authentication on an open socket


def test_an_auth_frame_asks_for_verification_and_never_shows_the_token_in_repr() -> None:
    [command] = session().receive('{"type": "auth", "token": "secret-token"}')

    assert command == Authenticate("secret-token")
    assert "secret-token" not in repr(command)


def test_a_fresh_token_of_the_same_user_keeps_the_socket_and_moves_its_expiry() -> None:
    s = session()

    assert sent(s.reauthenticated(claims(exp=5000))) == [{"type": "auth_ok", "expires_at": 5000}]
    assert s.expiry(2100) == []  # the old token's expiry + grace has passed; the new one holds
    assert s.state is State.OPEN


def test_a_token_of_another_user_gets_an_error_frame_then_close_4401() -> None:
    [close] = session().reauthenticated(claims("user-2"))

    assert isinstance(close, Close) and close.code == CloseCode.UNAUTHORIZED
    assert close.last_frame is not None
    assert json.loads(close.last_frame)["data"]["code"] == "unauthorized"


def test_a_revoked_token_in_an_auth_frame_closes_4403_with_its_error_frame() -> None:
    [close] = session().reauth_refused(CloseCode.SESSION_REVOKED, "session revoked: logout")

    assert isinstance(close, Close) and close.code == CloseCode.SESSION_REVOKED
    assert json.loads(close.last_frame or b"")["data"]["code"] == "session_revoked"


# Expiry (the gateway's timer calls expiry(now))


def test_a_socket_is_warned_once_before_expiry_then_closed_after_the_grace() -> None:
    s = session(grace_s=30, warning_s=60)

    assert s.expiry(1900) == []
    assert sent(s.expiry(1950)) == [{"type": "token_expiring", "expires_at": 2000, "grace_s": 30}]
    assert s.expiry(1960) == []  # once
    assert s.expiry(2029) == []  # expired, but in its grace
    assert s.expiry(2030) == [Close(CloseCode.UNAUTHORIZED, "token expired")]


def test_a_session_without_claims_never_expires() -> None:
    assert Session(USER).expiry(10**12) == []


# Revocation


def test_a_logout_closes_the_sockets_of_that_session_only() -> None:
    mine, other = session(), Session(USER, credentials=Credentials(claims(sid="s2")))
    logout = Revocation(user_id=USER, reason="logout", not_before=1001, session_id="s1")

    [close] = mine.revoke(logout)
    assert close == Close(CloseCode.SESSION_REVOKED, "session revoked: logout")
    assert other.revoke(logout) == []


def test_a_password_change_closes_every_token_issued_before_the_cut_off() -> None:
    old = session()
    newer = Session(USER, credentials=Credentials(claims(iat=1005, sid="s9")))
    change = Revocation(user_id=USER, reason="password_changed", not_before=1001)

    assert old.revoke(change)[0].code == CloseCode.SESSION_REVOKED  # type: ignore[union-attr]
    assert newer.revoke(change) == []


def test_another_users_revocation_closes_nothing() -> None:
    change = Revocation(user_id="user-2", reason="admin", not_before=10**10)
    assert session().revoke(change) == []


def test_revocations_are_remembered_for_a_token_lifetime_then_forgotten() -> None:
    clock = Clock()
    revoked = RevocationList(remember_s=960, clock=clock)
    revoked.add(Revocation(user_id=USER, reason="logout", not_before=1001, session_id="s1"))
    revoked.add(Revocation(user_id=USER, reason="admin", not_before=900))

    assert revoked.covering(claims(sid="s1")) is not None
    assert revoked.covering(claims(sid="s2")) is None  # iat 1000 is after the cut-off 900
    assert revoked.covering(claims(iat=899, sid="s2")) is not None
    clock.now += 961
    revoked.prune()
    assert revoked.covering(claims(sid="s1")) is None and len(revoked) == 0


# Message rate


def test_frames_over_the_burst_get_rate_limited_and_the_socket_stays() -> None:
    clock = Clock()
    s = Session(USER, rate=RateLimits(messages_per_second=2, burst=3, close_after=100), clock=clock)

    answers = [sent(s.receive(PING))[0] for _ in range(4)]
    assert [a["type"] for a in answers] == ["pong", "pong", "pong", "error"]
    assert answers[3]["data"]["code"] == "rate_limited"
    clock.now += 0.5  # one token back
    assert sent(s.receive(PING)) == [{"type": "pong"}]
    assert s.state is State.OPEN


def test_a_sustained_flood_is_closed_with_4429() -> None:
    clock = Clock()
    s = Session(
        USER, rate=RateLimits(messages_per_second=20, burst=40, close_after=100), clock=clock
    )
    closes: list[Command] = []
    for _ in range(5 * 20 * 5):  # 5x the rate for 5 s
        clock.now += 1 / 100
        closes += [c for c in s.receive(PING) if isinstance(c, Close)]

    assert closes == [Close(CloseCode.TOO_MANY_REQUESTS, "too many messages")]


def test_a_client_at_the_rate_is_never_limited() -> None:
    clock = Clock()
    s = Session(USER, rate=RateLimits(messages_per_second=20, burst=40), clock=clock)
    for _ in range(20 * 30):
        clock.now += 1 / 20
        assert sent(s.receive(PING)) == [{"type": "pong"}]


# Origin allow-list


def test_the_default_origin_rule_allows_non_browsers_and_the_gateways_own_loopback_page() -> None:
    assert origin_allowed(None, "127.0.0.1:8002", ())
    assert origin_allowed("http://127.0.0.1:8002", "127.0.0.1:8002", ())
    assert origin_allowed("http://localhost:8002/", "localhost:8002", ())
    assert not origin_allowed("https://evil.example", "127.0.0.1:8002", ())
    assert not origin_allowed("http://localhost:9999", "localhost:8002", ())
    # DNS rebinding: the attacker's name resolving to us is still not our origin.
    assert not origin_allowed("http://evil.example:8002", "evil.example:8002", ())


def test_an_origin_list_allows_exactly_its_origins_or_any_with_a_star() -> None:
    allowed = ("https://app.example.com",)
    assert origin_allowed("https://APP.example.com", "gw:8002", allowed)
    assert not origin_allowed("http://127.0.0.1:8002", "127.0.0.1:8002", allowed)
    assert origin_allowed("https://anything.example", "gw", ("*",))
