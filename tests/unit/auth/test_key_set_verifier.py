"""The gateway's key-set verifier: every forgery refused, key rotation followed, fetches bounded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.errors import Unauthorized
from shared.tokens import KeySetVerifier, jwk_for, public_keys
from shared.wire.keys import Jwk, Jwks, decode_jwks, encode_jwks

ISSUER = "agentwire-auth"
AUDIENCE = "agentwire"
USER_ID = "0123456789abcdef0123456789abcdef"
SESSION_ID = "fedcba9876543210fedcba9876543210"
OLD_KID, NEW_KID = "20260101T000000Z-aaaa", "20260201T000000Z-bbbb"

OLD_KEY = Ed25519PrivateKey.generate()
NEW_KEY = Ed25519PrivateKey.generate()


def key_set(*entries: tuple[str, Ed25519PrivateKey]) -> Jwks:
    return Jwks(keys=[jwk_for(kid, key.public_key()) for kid, key in entries])


def claims(**changes: object) -> dict:
    now = int(time.time())
    base = {
        "sub": USER_ID,
        "sid": SESSION_ID,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def sign(
    key: Ed25519PrivateKey = OLD_KEY, kid: object = OLD_KID, headers: dict | None = None, **changes
) -> str:
    header = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims(**changes), key, algorithm="EdDSA", headers=header | (headers or {}))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict, body: dict, sign_with: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    return f"{signing_input}.{b64(sign_with(signing_input.encode()))}"


def hs256(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


@pytest.fixture
def verifier() -> KeySetVerifier:
    return KeySetVerifier(key_set((OLD_KID, OLD_KEY)), issuer=ISSUER, audience=AUDIENCE)


def test_a_genuine_token_verifies_with_its_user_session_and_key(verifier: KeySetVerifier) -> None:
    verified = verifier.verify(sign())

    assert (verified.user_id, verified.session_id, verified.key_id) == (
        USER_ID,
        SESSION_ID,
        OLD_KID,
    )


_PUBLIC_RAW = OLD_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
_PUBLIC_PEM = OLD_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
_ATTACKER = Ed25519PrivateKey.generate()

# name -> (how to forge it, what the refusal must say: refused for the right reason)
FORGERIES: dict[str, tuple[Callable[[], str], str]] = {
    "signed by another key under a known kid": (lambda: sign(_ATTACKER), "Signature"),
    "payload changed after signing": (
        lambda: _swap_payload(sign(), claims(sub="someone_else")),
        "Signature",
    ),
    "expired": (lambda: sign(exp=int(time.time()) - 60), "token expired"),
    "not yet valid (nbf)": (lambda: sign(nbf=int(time.time()) + 3600), "not yet valid (nbf)"),
    "issued in the future (iat)": (lambda: sign(iat=int(time.time()) + 3600), "(iat)"),
    "wrong audience": (lambda: sign(aud="another-service"), "Audience"),
    "wrong issuer": (lambda: sign(iss="https://evil.example"), "issuer"),
    "alg none": (
        lambda: jwt.encode(claims(), None, algorithm="none", headers={"kid": OLD_KID}),
        "algorithm not allowed",
    ),
    "alg none, hand made": (
        lambda: hand_signed({"alg": "none", "kid": OLD_KID}, claims(), lambda _: b""),
        "algorithm not allowed",
    ),
    "HS256 keyed with the raw public key": (
        lambda: hand_signed({"alg": "HS256", "kid": OLD_KID}, claims(), hs256(_PUBLIC_RAW)),
        "algorithm not allowed",
    ),
    "HS256 keyed with the PEM public key": (
        lambda: hand_signed({"alg": "HS256", "kid": OLD_KID}, claims(), hs256(_PUBLIC_PEM)),
        "algorithm not allowed",
    ),
    "HS256 keyed with the JWK x": (
        lambda: hand_signed(
            {"alg": "HS256", "kid": OLD_KID}, claims(), hs256(b64(_PUBLIC_RAW).encode())
        ),
        "algorithm not allowed",
    ),
    "unknown kid": (lambda: sign(NEW_KEY, NEW_KID), "unknown key id"),
    "no kid": (lambda: sign(kid=None), "key id"),
    "kid not a string": (
        lambda: hand_signed({"alg": "EdDSA", "kid": 7}, claims(), OLD_KEY.sign),
        "Key ID",
    ),
    "kid that is a path": (lambda: sign(kid="../../etc/passwd"), "malformed key id"),
    "attacker's own key embedded in the header": (
        lambda: sign(
            _ATTACKER,
            headers={"jwk": msgspec.structs.asdict(jwk_for(OLD_KID, _ATTACKER.public_key()))},
        ),
        "Signature",
    ),
    "subject that would widen a NATS subject": (lambda: sign(sub="*"), "malformed subject"),
    "subject with a dot": (lambda: sign(sub="u1.events"), "malformed subject"),
    "not a JWT": (lambda: "not-a-jwt", "invalid token"),
    "empty": (lambda: "", "missing token"),
    "three dots of nothing": (lambda: "..", "invalid token"),
    "header that is not JSON": (
        lambda: f"{b64(b'{nope')}.{b64(b'{}')}.{b64(b'x')}",
        "invalid token",
    ),
    "a megabyte long": (lambda: "e" * 1_000_000, "too long"),
}


def _swap_payload(token: str, body: dict) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(body).encode())}.{signature}"


@pytest.mark.parametrize(("forge", "reason"), FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_and_invalid_tokens_are_refused_for_the_right_reason(
    verifier: KeySetVerifier, forge: Callable[[], str], reason: str
) -> None:
    with pytest.raises(Unauthorized) as refused:
        verifier.verify(forge())

    assert reason in refused.value.message


def test_a_hand_made_token_with_the_right_key_verifies(verifier: KeySetVerifier) -> None:
    # The forgeries above are made by the same hand: this shows the hand itself is sound.
    token = hand_signed({"alg": "EdDSA", "kid": OLD_KID}, claims(), OLD_KEY.sign)

    assert verifier.verify(token).user_id == USER_ID


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat", "iss", "aud", "sub"])
def test_a_token_missing_a_required_claim_is_refused(verifier: KeySetVerifier, claim: str) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(sign(**{claim: None}))


def test_a_retired_key_stops_working_once_the_new_set_is_installed(
    verifier: KeySetVerifier,
) -> None:
    old_token = sign()
    verifier.replace(key_set((NEW_KID, NEW_KEY)))

    with pytest.raises(Unauthorized, match="unknown key id"):
        verifier.verify(old_token)
    assert verifier.verify(sign(NEW_KEY, NEW_KID)).key_id == NEW_KID


def test_keys_of_other_kinds_in_the_set_are_skipped() -> None:
    genuine = jwk_for(OLD_KID, OLD_KEY.public_key())
    document = Jwks(
        keys=[
            Jwk(kty="RSA", kid="rsa-key", use="sig", alg="RS256"),
            Jwk(kty="OKP", crv="X25519", x=genuine.x, kid="x25519"),
            Jwk(kty="OKP", crv="Ed25519", x=genuine.x, kid="for-encryption", use="enc"),
            Jwk(kty="OKP", crv="Ed25519", x=genuine.x, kid="other-alg", alg="ES256"),
            Jwk(kty="OKP", crv="Ed25519", x="dG9vIHNob3J0", kid="short-x"),
            Jwk(kty="OKP", crv="Ed25519", x=genuine.x, kid="bad kid with spaces"),
            genuine,
        ]
    )

    assert set(public_keys(document)) == {OLD_KID}


def test_a_key_set_round_trips_through_its_wire_form() -> None:
    document = key_set((OLD_KID, OLD_KEY), (NEW_KID, NEW_KEY))

    decoded = decode_jwks(encode_jwks(document))

    assert decoded == document
    assert json.loads(encode_jwks(document))["keys"][0] == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64(_PUBLIC_RAW),
        "kid": OLD_KID,
        "use": "sig",
        "alg": "EdDSA",
    }


class FakeAuthService:
    """Stands in for the NATS fetch: counts the calls, serves whatever set it holds now."""

    def __init__(self, document: Jwks) -> None:
        self.document = document
        self.fetches = 0
        self.fail = False

    async def fetch(self) -> Jwks:
        self.fetches += 1
        await asyncio.sleep(0)  # a real fetch yields to the loop: let racing callers pile up
        if self.fail:
            raise TimeoutError("no auth service answered")
        return self.document


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refreshing(auth: FakeAuthService, clock: Clock, **options: float) -> KeySetVerifier:
    return KeySetVerifier(
        key_set((OLD_KID, OLD_KEY)),
        issuer=ISSUER,
        audience=AUDIENCE,
        fetch=auth.fetch,
        clock=clock,
        **options,
    )


async def test_a_new_key_works_at_once_by_refreshing_on_its_unknown_kid() -> None:
    auth = FakeAuthService(key_set((OLD_KID, OLD_KEY), (NEW_KID, NEW_KEY)))
    verifier = refreshing(auth, Clock())

    verified = await verifier.averify(sign(NEW_KEY, NEW_KID))

    assert verified.key_id == NEW_KID and auth.fetches == 1


async def test_forged_kids_cause_at_most_one_fetch_per_interval() -> None:
    auth, clock = FakeAuthService(key_set((OLD_KID, OLD_KEY))), Clock()
    verifier = refreshing(auth, clock, min_refresh_interval_s=5.0)

    for n in range(20):
        with pytest.raises(Unauthorized, match="unknown key id"):
            await verifier.averify(sign(_ATTACKER, f"forged-{n}"))
    assert auth.fetches == 1

    clock.now += 5.0
    with pytest.raises(Unauthorized):
        await verifier.averify(sign(_ATTACKER, "forged-later"))
    assert auth.fetches == 2


async def test_racing_verifications_of_a_new_kid_share_one_fetch() -> None:
    auth = FakeAuthService(key_set((NEW_KID, NEW_KEY)))
    verifier = refreshing(auth, Clock())
    token = sign(NEW_KEY, NEW_KID)

    results = await asyncio.gather(*(verifier.averify(token) for _ in range(10)))

    assert all(r.key_id == NEW_KID for r in results) and auth.fetches == 1


async def test_an_old_set_is_refetched_so_a_retired_key_stops_working() -> None:
    auth, clock = FakeAuthService(key_set((NEW_KID, NEW_KEY))), Clock()
    verifier = refreshing(auth, clock, max_age_s=60.0)
    old_token = sign()
    assert (await verifier.averify(old_token)).key_id == OLD_KID

    clock.now += 61.0
    with pytest.raises(Unauthorized, match="unknown key id"):
        await verifier.averify(old_token)
    assert auth.fetches == 1


async def test_a_failed_fetch_keeps_the_keys_already_held() -> None:
    auth, clock = FakeAuthService(key_set()), Clock()
    auth.fail = True
    verifier = refreshing(auth, clock, max_age_s=60.0)
    clock.now += 61.0

    assert (await verifier.averify(sign())).key_id == OLD_KID
    assert auth.fetches == 1 and verifier.key_ids == {OLD_KID}


async def test_without_a_fetch_an_unknown_kid_is_simply_refused() -> None:
    verifier = KeySetVerifier(Jwks(), issuer=ISSUER, audience=AUDIENCE)

    with pytest.raises(Unauthorized, match="unknown key id"):
        await verifier.averify(sign())
