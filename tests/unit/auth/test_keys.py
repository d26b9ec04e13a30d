"""The signing key ring: newest key signs, every published key is in the JWKS, reloads are safe."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from devstack.keys import add_ring_key, ensure_key_ring, ensure_keypair, retire_ring_key
from services.auth.keys import KeyRingSource, load_key_dir, load_key_file, thumbprint_kid
from shared.subjects import is_safe_token
from shared.tokens import public_keys
from shared.wire.keys import encode_jwks


def test_the_newest_key_signs_and_every_published_key_is_in_the_jwks(tmp_path: Path) -> None:
    first = add_ring_key(tmp_path, now=1_700_000_000)
    second = add_ring_key(tmp_path, now=1_800_000_000)

    ring = load_key_dir(tmp_path)

    assert ring.signing.kid == second
    assert [jwk.kid for jwk in ring.jwks().keys] == [first, second]
    assert set(public_keys(ring.jwks())) == {first, second}


def test_a_retired_key_leaves_the_published_set(tmp_path: Path) -> None:
    old = add_ring_key(tmp_path, now=1_700_000_000)
    new = add_ring_key(tmp_path, now=1_800_000_000)

    retire_ring_key(tmp_path, old)

    assert load_key_dir(tmp_path).key_ids == (new,)


def test_jwks_holds_public_keys_only(tmp_path: Path) -> None:
    ensure_key_ring(tmp_path)

    (jwk,) = json.loads(encode_jwks(load_key_dir(tmp_path).jwks()))["keys"]

    assert jwk.keys() == {"kty", "crv", "x", "kid", "use", "alg"}  # no "d": no private part
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")


def test_ring_keys_are_written_readable_by_their_owner_only(tmp_path: Path) -> None:
    kid = add_ring_key(tmp_path)

    assert (tmp_path / f"{kid}.pem").stat().st_mode & 0o777 == 0o600


def test_one_key_file_is_a_ring_of_one_with_its_rfc7638_thumbprint_as_kid(tmp_path: Path) -> None:
    ring = load_key_file(ensure_keypair(tmp_path).private_path)
    jwk = ring.jwks().keys[0]
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk.x}, separators=(",", ":"))
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")

    assert ring.signing.kid == expected.decode() == thumbprint_kid(ring.signing.private_key)
    assert is_safe_token(ring.signing.kid)


def test_a_key_named_with_an_unsafe_kid_fails_the_load(tmp_path: Path) -> None:
    kid = add_ring_key(tmp_path)
    (tmp_path / f"{kid}.pem").rename(tmp_path / "has.a.dot.pem")

    with pytest.raises(ValueError, match="key id"):
        load_key_dir(tmp_path)


def test_a_file_that_is_not_a_key_fails_the_load(tmp_path: Path) -> None:
    add_ring_key(tmp_path)
    (tmp_path / "garbage.pem").write_bytes(b"not a key")

    with pytest.raises(ValueError):
        load_key_dir(tmp_path)


def test_an_empty_directory_is_no_ring(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no"):
        load_key_dir(tmp_path)


def test_reload_picks_up_an_added_key_and_reports_the_change(tmp_path: Path) -> None:
    add_ring_key(tmp_path, now=1_700_000_000)
    source = KeyRingSource(keys_dir=tmp_path)

    assert source.reload() is False
    newest = add_ring_key(tmp_path, now=1_800_000_000)

    assert source.reload() is True
    assert source.signing_key().kid == newest


def test_a_broken_reload_keeps_signing_with_the_ring_in_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kid = add_ring_key(tmp_path)
    source = KeyRingSource(keys_dir=tmp_path)
    (tmp_path / "half-written.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\n")

    assert source.reload() is False
    assert source.signing_key().kid == kid
    assert "not reloaded" in caplog.text


def test_a_key_file_ring_is_not_reloaded(tmp_path: Path) -> None:
    source = KeyRingSource(key_file=ensure_keypair(tmp_path).private_path)

    assert source.reloadable is False
