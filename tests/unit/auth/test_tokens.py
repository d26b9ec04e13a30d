"""Tokens the auth service signs are exactly the ones the gateway's verifiers accept."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from devstack.keys import ensure_keypair
from services.auth.keys import KeyRing, SigningKey, load_private_key
from services.auth.tokens import TokenIssuer
from shared.errors import Unauthorized
from shared.tokens import KeySetVerifier, TokenVerifier, load_public_key

ISSUER = "agentwire-auth"
AUDIENCE = "agentwire"
USER_ID = "0123456789abcdef0123456789abcdef"
SESSION_ID = "fedcba9876543210fedcba9876543210"
KID = "20260101T000000Z-00000001"


@pytest.fixture
def private_key(tmp_path: Path) -> Ed25519PrivateKey:
    return load_private_key(ensure_keypair(tmp_path).private_path)


@pytest.fixture
def verifier(tmp_path: Path) -> TokenVerifier:
    public_key = load_public_key(ensure_keypair(tmp_path).public_path)
    return TokenVerifier(public_key, issuer=ISSUER, audience=AUDIENCE)


def issuer_for(key: Ed25519PrivateKey, kid: str = KID, **overrides: object) -> TokenIssuer:
    options: dict = {"issuer": ISSUER, "audience": AUDIENCE, "ttl_s": 900, **overrides}
    return TokenIssuer(lambda: SigningKey(kid, key), **options)


def issue(key: Ed25519PrivateKey, **overrides: object) -> str:
    return issuer_for(key, **overrides).issue(USER_ID, session_id=SESSION_ID).token


def test_issued_token_verifies_and_names_the_user_and_the_session(
    private_key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    issued = issuer_for(private_key).issue(USER_ID, session_id=SESSION_ID)

    claims = verifier.verify(issued.token)

    assert claims.user_id == USER_ID
    assert claims.session_id == SESSION_ID
    assert issued.expires_in == 900
    assert claims.expires_at == pytest.approx(time.time() + 900, abs=5)


def test_issued_token_names_its_signing_key_and_verifies_against_the_key_set(
    private_key: Ed25519PrivateKey,
) -> None:
    ring = KeyRing((SigningKey(KID, private_key),))
    key_set = KeySetVerifier(ring.jwks(), issuer=ISSUER, audience=AUDIENCE)

    token = issue(private_key)

    assert jwt.get_unverified_header(token)["kid"] == KID
    assert key_set.verify(token).key_id == KID


def test_token_carries_every_claim_the_verifiers_check(private_key: Ed25519PrivateKey) -> None:
    claims = jwt.decode(issue(private_key), options={"verify_signature": False})

    assert {"sub", "sid", "iss", "aud", "iat", "nbf", "exp", "jti"} <= claims.keys()
    assert claims["nbf"] == claims["iat"] and claims["exp"] == claims["iat"] + 900


def test_each_token_has_its_own_id(private_key: Ed25519PrivateKey) -> None:
    first, second = (issue(private_key) for _ in range(2))

    assert (
        jwt.decode(first, options={"verify_signature": False})["jti"]
        != jwt.decode(second, options={"verify_signature": False})["jti"]
    )


def test_a_token_never_starts_before_the_users_cut_off(private_key: Ed25519PrivateKey) -> None:
    # A revocation at second 1000.4 sets the cut-off to 1001: a token issued right after, in
    # the same second, must not look older than the revocation.
    issuer = issuer_for(private_key, clock=lambda: 1000.7)

    token = issuer.issue(USER_ID, session_id=SESSION_ID, valid_from=1001).token

    assert jwt.decode(token, options={"verify_signature": False})["iat"] == 1001


def test_issuer_signs_with_whatever_key_is_current(private_key: Ed25519PrivateKey) -> None:
    current = [SigningKey("a", private_key)]
    issuer = TokenIssuer(lambda: current[0], issuer=ISSUER, audience=AUDIENCE, ttl_s=60)
    first = issuer.issue(USER_ID, session_id=SESSION_ID).token

    current[0] = SigningKey("b", Ed25519PrivateKey.generate())
    second = issuer.issue(USER_ID, session_id=SESSION_ID).token

    assert [jwt.get_unverified_header(t)["kid"] for t in (first, second)] == ["a", "b"]


def test_expired_token_is_refused(private_key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    an_hour_ago = time.time() - 3600
    token = issue(private_key, clock=lambda: an_hour_ago)

    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)


@pytest.mark.parametrize(
    "overrides", [{"audience": "someone-else"}, {"issuer": "not-agentwire-auth"}]
)
def test_token_for_another_audience_or_from_another_issuer_is_refused(
    private_key: Ed25519PrivateKey, verifier: TokenVerifier, overrides: dict
) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(issue(private_key, **overrides))


def test_token_signed_by_another_key_is_refused(verifier: TokenVerifier) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(issue(Ed25519PrivateKey.generate()))


def test_a_megabyte_token_is_refused_before_any_decoding(verifier: TokenVerifier) -> None:
    with pytest.raises(Unauthorized, match="too long"):
        verifier.verify("a" * 1_000_000)


def _forgery_claims() -> dict:
    now = int(time.time())
    return {"sub": USER_ID, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 900}


def test_unsigned_alg_none_token_is_refused(verifier: TokenVerifier) -> None:
    forged = jwt.encode(_forgery_claims(), None, algorithm="none")

    with pytest.raises(Unauthorized):
        verifier.verify(forged)


def test_hs256_token_keyed_with_the_public_key_is_refused(
    private_key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    # The classic algorithm-confusion forgery: HMAC keyed with the (public) verification key.
    # PyJWT refuses to HMAC with a PEM key, so sign by hand as an attacker would.
    public_pem = private_key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    forged = _hs256_sign(_forgery_claims(), public_pem)

    with pytest.raises(Unauthorized):
        verifier.verify(forged)


def _hs256_sign(claims: dict, secret: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"
