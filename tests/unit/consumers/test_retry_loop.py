"""Unit tests of consumers.retry.retry: the one retry loop, with an injected clock, sleep and rng."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest

from consumers.retry import OUTAGE, RetryPolicy, is_retriable, retry
from core.errors import FlexbridgeError, InvalidEvent

log = logging.getLogger("tests.retry")


class FakeTime:
    """A clock that only moves when the loop sleeps; records every wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Flaky:
    """Fails with the given errors in turn, then returns ``"done"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def _transient(message: str = "down", retry_after: float | None = None) -> FlexbridgeError:
    return FlexbridgeError(message, retriable=True, retry_after=retry_after)


async def _run(
    op: Flaky,
    policy: RetryPolicy,
    t: FakeTime,
    rng: float = 1.0,
    retriable: Callable[[BaseException], bool] = is_retriable,
    on_retry: Callable[[BaseException], Awaitable[None]] | None = None,
) -> str:
    return await retry(
        op,
        policy,
        what="the op",
        log=log,
        retriable=retriable,
        on_retry=on_retry,
        sleep=t.sleep,
        clock=t.clock,
        rng=lambda: rng,
    )


async def test_retriable_errors_back_off_exponentially_up_to_the_cap() -> None:
    t = FakeTime()
    op = Flaky(*[_transient() for _ in range(8)])
    assert await _run(op, OUTAGE, t, rng=0.999) == "done"
    assert op.calls == 9
    assert [round(w, 2) for w in t.waits] == [0.5, 1.0, 2.0, 4.0, 7.99, 15.98, 29.97, 29.97]


async def test_the_wait_is_jittered_below_its_ceiling() -> None:
    t = FakeTime()
    await _run(Flaky(_transient(), _transient()), OUTAGE, t, rng=0.25)
    assert t.waits == [0.125, 0.25]


async def test_a_non_retriable_error_propagates_at_once() -> None:
    t = FakeTime()
    op = Flaky(_transient(), InvalidEvent("bad"))
    with pytest.raises(InvalidEvent, match="bad"):
        await _run(op, OUTAGE, t)
    assert op.calls == 2 and len(t.waits) == 1


async def test_an_error_outside_the_tree_propagates_at_once() -> None:
    t = FakeTime()
    op = Flaky(KeyError("k"))
    with pytest.raises(KeyError):
        await _run(op, OUTAGE, t)
    assert op.calls == 1 and t.waits == []


async def test_retry_after_raises_the_wait() -> None:
    t = FakeTime()
    await _run(Flaky(_transient(retry_after=7.0)), OUTAGE, t, rng=0.5)
    assert t.waits == [7.0]


async def test_the_attempt_budget_raises_the_last_error() -> None:
    t = FakeTime()
    op = Flaky(_transient("one"), _transient("two"), _transient("three"))
    with pytest.raises(FlexbridgeError, match="two"):
        await _run(op, RetryPolicy(base_seconds=1.0, max_seconds=5.0, max_attempts=2), t)
    assert op.calls == 2 and len(t.waits) == 1


async def test_the_deadline_raises_the_last_error() -> None:
    t = FakeTime()
    op = Flaky(*[_transient(str(n)) for n in range(10)])
    with pytest.raises(FlexbridgeError, match="3"):
        await _run(op, RetryPolicy(base_seconds=1.0, max_seconds=5.0, deadline_seconds=10.0), t)
    assert t.waits == [1.0, 2.0, 4.0]  # a fourth wait (5 s) would end at 12 s, past the deadline


async def test_a_predicate_can_retry_every_error_and_on_retry_sees_each() -> None:
    t = FakeTime()
    seen: list[str] = []

    async def on_retry(exc: BaseException) -> None:
        seen.append(type(exc).__name__)

    op = Flaky(KeyError("k"), InvalidEvent("bad"))
    assert await _run(op, OUTAGE, t, retriable=lambda _exc: True, on_retry=on_retry) == "done"
    assert seen == ["KeyError", "InvalidEvent"]


async def test_each_retry_is_logged_with_what_failed(caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTime()
    with caplog.at_level(logging.WARNING, logger="tests.retry"):
        await _run(Flaky(_transient("broker gone")), OUTAGE, t)
    assert caplog.messages == ["the op failed (FlexbridgeError: broker gone); retry 1 in 0.5 s"]


def test_is_retriable_reads_the_attribute() -> None:
    assert is_retriable(_transient())
    assert not is_retriable(InvalidEvent("bad"))
    assert not is_retriable(TimeoutError())


def test_a_policy_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(base_seconds=1.0, max_seconds=1.0, max_attempts=0)
