"""Tokens the auth service signs are exactly the ones the gateway's verifier accepts."""

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
from services.auth.tokens import TokenIssuer, load_private_key
from shared.errors import Unauthorized
from shared.tokens import TokenVerifier, load_public_key

ISSUER = "agentwire-auth"
AUDIENCE = "agentwire"
USER_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def private_key(tmp_path: Path) -> Ed25519PrivateKey:
    return load_private_key(ensure_keypair(tmp_path).private_path)


@pytest.fixture
def verifier(tmp_path: Path) -> TokenVerifier:
    public_key = load_public_key(ensure_keypair(tmp_path).public_path)
    return TokenVerifier(public_key, issuer=ISSUER, audience=AUDIENCE)


def issuer_for(key: Ed25519PrivateKey, **overrides: object) -> TokenIssuer:
    options: dict = {"issuer": ISSUER, "audience": AUDIENCE, "ttl_s": 900, **overrides}
    return TokenIssuer(key, **options)


def test_issued_token_verifies_and_names_the_user(
    private_key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    issued = issuer_for(private_key).issue(USER_ID)

    claims = verifier.verify(issued.token)

    assert claims.user_id == USER_ID
    assert issued.expires_in == 900
    assert claims.expires_at == pytest.approx(time.time() + 900, abs=5)


def test_each_token_has_its_own_id(private_key: Ed25519PrivateKey) -> None:
    issuer = issuer_for(private_key)
    first, second = (issuer.issue(USER_ID).token for _ in range(2))

    assert (
        jwt.decode(first, options={"verify_signature": False})["jti"]
        != jwt.decode(second, options={"verify_signature": False})["jti"]
    )


def test_expired_token_is_refused(private_key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    an_hour_ago = time.time() - 3600
    issued = issuer_for(private_key, clock=lambda: an_hour_ago).issue(USER_ID)

    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(issued.token)


@pytest.mark.parametrize(
    "overrides", [{"audience": "someone-else"}, {"issuer": "not-agentwire-auth"}]
)
def test_token_for_another_audience_or_from_another_issuer_is_refused(
    private_key: Ed25519PrivateKey, verifier: TokenVerifier, overrides: dict
) -> None:
    issued = issuer_for(private_key, **overrides).issue(USER_ID)

    with pytest.raises(Unauthorized):
        verifier.verify(issued.token)


def test_token_signed_by_another_key_is_refused(verifier: TokenVerifier) -> None:
    issued = issuer_for(Ed25519PrivateKey.generate()).issue(USER_ID)

    with pytest.raises(Unauthorized):
        verifier.verify(issued.token)


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
