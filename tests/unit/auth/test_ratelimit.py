"""Failed-login limits: sliding windows per account and per address, failures only."""

from __future__ import annotations

import pytest

from services.auth.ratelimit import LoginLimiter, RateLimited, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_window_allows_its_limit_then_says_how_long_to_wait() -> None:
    clock = Clock()
    window = SlidingWindow(3, 60.0, clock=clock)
    for _ in range(3):
        assert window.retry_after("k") is None
        window.hit("k")
        clock.now += 10

    assert window.retry_after("k") == 30  # the first hit (at 100) leaves the window at 160


def test_a_window_slides_hits_out_one_by_one() -> None:
    clock = Clock()
    window = SlidingWindow(2, 60.0, clock=clock)
    window.hit("k")
    clock.now += 30
    window.hit("k")

    clock.now += 30.5
    assert window.retry_after("k") is None


def test_keys_are_counted_apart() -> None:
    window = SlidingWindow(1, 60.0, clock=Clock())
    window.hit("a")

    assert window.retry_after("a") is not None and window.retry_after("b") is None


def test_the_number_of_tracked_keys_is_bounded() -> None:
    window = SlidingWindow(5, 60.0, clock=Clock(), max_keys=100)
    for n in range(1000):
        window.hit(f"sprayed-{n}@example.com")

    assert len(window._hits) <= 100


def limiter(clock: Clock, per_account: int = 3, per_address: int = 5) -> LoginLimiter:
    return LoginLimiter(per_account=per_account, per_address=per_address, window_s=60, clock=clock)


def test_failures_on_one_account_lock_that_account_from_every_address() -> None:
    guard = limiter(Clock())
    for n in range(3):
        guard.begin("ada@example.com", f"10.0.0.{n}")

    with pytest.raises(RateLimited) as limited:
        guard.begin("ada@example.com", "10.0.0.99")
    assert limited.value.retry_after_s == 60
    guard.begin("bob@example.com", "10.0.0.99")  # another account is not affected


def test_failures_from_one_address_lock_that_address_for_every_account() -> None:
    guard = limiter(Clock())
    for n in range(5):
        guard.begin(f"user{n}@example.com", "10.0.0.1")

    with pytest.raises(RateLimited):
        guard.begin("someone-new@example.com", "10.0.0.1")
    guard.begin("someone-new@example.com", "10.0.0.2")


def test_successful_attempts_use_up_nothing() -> None:
    guard = limiter(Clock())
    for _ in range(50):
        guard.succeeded(guard.begin("ada@example.com", "10.0.0.1"))

    guard.begin("ada@example.com", "10.0.0.1")  # still allowed


def test_attempts_in_flight_count_so_a_burst_cannot_slip_past_the_limit() -> None:
    guard = limiter(Clock())
    in_flight = [guard.begin("ada@example.com", "10.0.0.1") for _ in range(3)]

    with pytest.raises(RateLimited):
        guard.begin("ada@example.com", "10.0.0.1")
    assert len(in_flight) == 3


def test_the_lock_lifts_once_the_window_has_passed() -> None:
    clock = Clock()
    guard = limiter(clock)
    for _ in range(3):
        guard.begin("ada@example.com", "10.0.0.1")

    clock.now += 60.5
    guard.begin("ada@example.com", "10.0.0.1")
