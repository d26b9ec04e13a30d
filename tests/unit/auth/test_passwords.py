"""Password hashes: the right password passes, anything else fails, nothing is stored in clear."""

from __future__ import annotations

import argon2
import pytest

from services.auth.passwords import PasswordHasher


@pytest.fixture
def hasher() -> PasswordHasher:
    # Cheap parameters: the behaviour is the same, the tests stay fast.
    return PasswordHasher(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


async def test_hashed_password_verifies(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery staple")

    assert "correct horse" not in stored
    assert await hasher.verify(stored, "correct horse battery staple")


async def test_wrong_password_fails(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery staple")

    assert not await hasher.verify(stored, "correct horse battery stapler")


async def test_same_password_hashes_differently_each_time(hasher: PasswordHasher) -> None:
    assert await hasher.hash("same password") != await hasher.hash("same password")


async def test_unknown_account_never_verifies(hasher: PasswordHasher) -> None:
    assert not await hasher.verify(None, "any password at all")
