"""A refused token fetch is held for a short, growing time: the merchant's events fail fast with
the refusal instead of a token call each; a retriable failure is not held; a success resets it."""

from __future__ import annotations

import logging

import pytest

from consumers.flex.errors import FlexAuthFailed, FlexUnavailable
from consumers.flex.tokens import TokenCache
from consumers.retry import RetryPolicy
from schemas.flex import TokenResponse


class Endpoint:
    """A token endpoint that refuses, is unavailable or grants, as the test says; counts calls."""

    def __init__(self) -> None:
        self.answer: str = "refuse"
        self.calls = 0

    async def fetch(self) -> TokenResponse:
        self.calls += 1
        if self.answer == "refuse":
            raise FlexAuthFailed("Flex refused the credentials (401)")
        if self.answer == "down":
            raise FlexUnavailable(
                endpoint="POST /oauth2/token", last_failure="503", attempts=3, elapsed_seconds=5.0
            )
        return TokenResponse.model_validate({"accessToken": f"t{self.calls}", "expires": None})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache(endpoint: Endpoint, clock: Clock) -> TokenCache:
    policy = RetryPolicy(base_seconds=1.0, max_seconds=8.0)
    return TokenCache(endpoint.fetch, margin_seconds=60, clock=clock, wall_clock=clock, refusals=policy)


async def _refused(tokens: TokenCache) -> None:
    with pytest.raises(FlexAuthFailed):
        await tokens.get()


async def test_a_refusal_is_held_and_the_hold_grows_up_to_the_policy_ceiling() -> None:
    endpoint, clock = Endpoint(), Clock()
    tokens = cache(endpoint, clock)
    for _ in range(50):  # a flood of the merchant's events: one token call
        await _refused(tokens)
    assert endpoint.calls == 1
    holds = []
    for _ in range(6):
        started, calls = clock.now, endpoint.calls
        while endpoint.calls == calls:  # advance in 0.25 s steps until the next token call
            clock.now += 0.25
            await _refused(tokens)
        holds.append(clock.now - started)
    assert holds == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # 1 s doubling, capped at 8 s


async def test_a_success_after_the_hold_resets_it() -> None:
    endpoint, clock = Endpoint(), Clock()
    tokens = cache(endpoint, clock)
    await _refused(tokens)
    clock.now += 1.0
    await _refused(tokens)  # the second refusal: held 2 s
    endpoint.answer = "grant"
    clock.now += 1.0
    await _refused(tokens)  # still held: the fixed credentials are not asked for yet
    clock.now += 1.0
    assert await tokens.get() == "t3"
    tokens.invalidate()
    endpoint.answer = "refuse"
    await _refused(tokens)
    clock.now += 1.0  # the hold starts again from its shortest step
    await _refused(tokens)
    assert endpoint.calls == 5


async def test_a_retriable_failure_is_not_held() -> None:
    endpoint, clock = Endpoint(), Clock()
    endpoint.answer = "down"
    tokens = cache(endpoint, clock)
    for _ in range(3):
        with pytest.raises(FlexUnavailable):
            await tokens.get()
    assert endpoint.calls == 3  # each caller asks again (the fetch does its own retries)


async def test_each_refused_fetch_is_logged_once_with_its_merchant_and_hold(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint, clock = Endpoint(), Clock()
    policy = RetryPolicy(base_seconds=1.0, max_seconds=8.0)
    tokens = TokenCache(
        endpoint.fetch, margin_seconds=60, clock=clock, wall_clock=clock, refusals=policy, name="acme"
    )
    with caplog.at_level(logging.ERROR, logger="consumers.flex.tokens"):
        for _ in range(20):  # events failing during the hold: no token call, no log line
            await _refused(tokens)
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("Flex refused the token request of merchant acme (Flex refused the credentials")
    assert "for 1.0 s" in line
