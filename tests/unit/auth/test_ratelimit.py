"""Failed-login limits: sliding windows of failures per account and per address.

The limiter's waiting is plain asyncio with no I/O: these tests drive it with an event loop and
a fake clock, and "in flight" means a task parked inside an attempt's block.
"""

from __future__ import annotations

import asyncio

import pytest

from services.auth.ratelimit import FailureBudget, LoginLimiter, RateLimited, SlidingWindow


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
    assert window.remaining("k") == 0


def test_a_window_slides_hits_out_one_by_one() -> None:
    clock = Clock()
    window = SlidingWindow(2, 60.0, clock=clock)
    window.hit("k")
    clock.now += 30
    window.hit("k")

    clock.now += 30.5
    assert window.retry_after("k") is None and window.remaining("k") == 1


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


async def fail(guard: LoginLimiter, account: str, address: str) -> None:
    async with guard.attempt(account, address) as attempt:
        attempt.failed()


async def succeed(guard: LoginLimiter, account: str, address: str) -> None:
    async with guard.attempt(account, address):
        pass


async def test_failures_on_one_account_lock_that_account_from_every_address() -> None:
    guard = limiter(Clock())
    for n in range(3):
        await fail(guard, "ada@example.com", f"10.0.0.{n}")

    with pytest.raises(RateLimited) as limited:
        await succeed(guard, "ada@example.com", "10.0.0.99")
    assert limited.value.retry_after_s == 60
    assert limited.value.message == "too many failed logins for this account; try again in 60 s"
    await succeed(guard, "bob@example.com", "10.0.0.99")  # another account is not affected


async def test_failures_from_one_address_lock_that_address_for_every_account() -> None:
    guard = limiter(Clock())
    for n in range(5):
        await fail(guard, f"user{n}@example.com", "10.0.0.1")

    with pytest.raises(RateLimited) as limited:
        await succeed(guard, "someone-new@example.com", "10.0.0.1")
    assert limited.value.message == "too many failed logins from this address; try again in 60 s"
    await succeed(guard, "someone-new@example.com", "10.0.0.2")


async def test_when_both_limits_are_reached_the_refusal_names_both_and_the_longer_wait() -> None:
    clock = Clock()
    guard = limiter(clock, per_account=1, per_address=2)
    await fail(guard, "bob@example.com", "10.0.0.1")
    clock.now += 20
    await fail(guard, "ada@example.com", "10.0.0.1")

    with pytest.raises(RateLimited) as limited:
        await succeed(guard, "ada@example.com", "10.0.0.1")

    assert "for this account and from this address" in limited.value.message
    # The address is free again at 160 (40 s), the account only at 180.
    assert limited.value.retry_after_s == 60


async def test_successful_attempts_use_up_nothing() -> None:
    guard = limiter(Clock())
    for _ in range(50):
        await succeed(guard, "ada@example.com", "10.0.0.1")

    await fail(guard, "ada@example.com", "10.0.0.1")  # still allowed


async def test_an_error_that_is_not_a_failed_login_counts_as_no_failure() -> None:
    guard = limiter(Clock(), per_account=1)
    with pytest.raises(OSError):
        async with guard.attempt("ada@example.com", "10.0.0.1"):
            raise OSError("database went away")

    await fail(guard, "ada@example.com", "10.0.0.1")


async def test_the_lock_lifts_once_the_window_has_passed() -> None:
    clock = Clock()
    guard = limiter(clock)
    for _ in range(3):
        await fail(guard, "ada@example.com", "10.0.0.1")

    clock.now += 60.5
    await succeed(guard, "ada@example.com", "10.0.0.1")


class Verifier:
    """Stands for the password check: parks each attempt until released, counts them."""

    def __init__(self) -> None:
        self.running = 0
        self.verified = 0
        self.most_at_once = 0
        self.go = asyncio.Event()

    async def verify(self) -> None:
        self.running += 1
        self.verified += 1
        self.most_at_once = max(self.most_at_once, self.running)
        await self.go.wait()
        self.running -= 1


async def guess(guard: LoginLimiter, verifier: Verifier, account: str, address: str) -> str:
    try:
        async with guard.attempt(account, address) as attempt:
            await verifier.verify()
            attempt.failed()
    except RateLimited:
        return "limited"
    return "wrong"


async def log_in(guard: LoginLimiter, verifier: Verifier, account: str, address: str) -> str:
    async with guard.attempt(account, address):
        await verifier.verify()
    return "ok"


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_concurrent_guesses_at_one_account_get_no_more_verifications_than_its_limit() -> None:
    guard, verifier = limiter(Clock(), per_account=10, per_address=1000), Verifier()
    guesses = [
        asyncio.create_task(guess(guard, verifier, "ada@example.com", "10.0.0.1"))
        for _ in range(50)
    ]
    await settle()
    assert verifier.running == 10  # the rest wait for a unit of the budget

    verifier.go.set()
    outcomes = await asyncio.gather(*guesses)

    assert verifier.verified == 10
    assert outcomes.count("wrong") == 10 and outcomes.count("limited") == 40


async def test_concurrent_guesses_at_many_accounts_from_one_address_stay_within_its_limit() -> None:
    guard, verifier = limiter(Clock(), per_account=3, per_address=5), Verifier()
    guesses = [
        asyncio.create_task(guess(guard, verifier, f"user{n}@example.com", "10.0.0.1"))
        for n in range(40)
    ]
    await settle()
    verifier.go.set()
    outcomes = await asyncio.gather(*guesses)

    assert verifier.verified == 5
    assert outcomes.count("wrong") == 5 and outcomes.count("limited") == 35


async def test_correct_logins_at_once_beyond_the_limits_all_get_through() -> None:
    guard, verifier = limiter(Clock(), per_account=3, per_address=5), Verifier()
    logins = [
        asyncio.create_task(log_in(guard, verifier, f"user{n % 4}@example.com", "10.0.0.1"))
        for n in range(200)
    ]
    await settle()
    assert verifier.running == 5  # never more in flight than the address could still fail

    verifier.go.set()
    assert await asyncio.gather(*logins) == ["ok"] * 200
    assert verifier.most_at_once == 5


async def test_a_failure_in_flight_shrinks_what_the_waiting_attempts_may_use() -> None:
    guard = limiter(Clock(), per_account=2, per_address=100)
    first_in, release_first = asyncio.Event(), asyncio.Event()

    async def slow_failure() -> None:
        async with guard.attempt("ada@example.com", "10.0.0.1") as attempt:
            first_in.set()
            await release_first.wait()
            attempt.failed()

    first = asyncio.create_task(slow_failure())
    await first_in.wait()
    verifier = Verifier()
    waiting = [
        asyncio.create_task(guess(guard, verifier, "ada@example.com", "10.0.0.1")) for _ in range(5)
    ]
    await settle()
    assert verifier.running == 1  # one unit held by the slow attempt, one by a guess

    release_first.set()
    verifier.go.set()
    await first
    outcomes = await asyncio.gather(*waiting)

    assert outcomes.count("wrong") == 1 and outcomes.count("limited") == 4


async def test_a_waiter_cancelled_as_it_is_woken_passes_the_wake_up_on() -> None:
    budget = FailureBudget(1, 60, refusal="too many", clock=Clock())
    holding, release = asyncio.Event(), asyncio.Event()
    waiters: list[asyncio.Task[str]] = []

    async def hold() -> None:
        async with budget.attempt("k"):
            holding.set()
            await release.wait()
        # Leaving woke the first waiter; cancel it before it could run and take the unit.
        waiters[0].cancel()

    async def take() -> str:
        async with budget.attempt("k"):
            return "took"

    holder = asyncio.create_task(hold())
    await holding.wait()
    waiters += [asyncio.create_task(take()), asyncio.create_task(take())]
    await settle()
    release.set()

    await holder
    assert await asyncio.wait_for(waiters[1], 1) == "took"
    assert waiters[0].cancelled()
    assert budget._holders == {}  # idle keys keep no entry: memory follows what is in flight
