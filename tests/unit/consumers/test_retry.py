"""Unit tests of consumers.retry: classification, backoff, Retry-After, deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.retry import (
    Disposition,
    RetryPolicy,
    classify,
    classify_exception,
    classify_status,
    failure_name,
    parse_retry_after,
)

POLICY = RetryPolicy(base_seconds=0.2, max_seconds=10.0, deadline_seconds=60.0)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Disposition.SUCCESS),
        (201, Disposition.SUCCESS),
        (204, Disposition.SUCCESS),
        (401, Disposition.REAUTH),
        (408, Disposition.RETRY),
        (425, Disposition.RETRY),
        (429, Disposition.RETRY),
        (500, Disposition.RETRY),
        (502, Disposition.RETRY),
        (503, Disposition.RETRY),
        (504, Disposition.RETRY),
        (599, Disposition.RETRY),
        (301, Disposition.PERMANENT),
        (400, Disposition.PERMANENT),
        (403, Disposition.PERMANENT),
        (404, Disposition.PERMANENT),
        (409, Disposition.PERMANENT),
        (422, Disposition.PERMANENT),
        (451, Disposition.PERMANENT),
    ],
)
def test_classify_status(status: int, expected: Disposition) -> None:
    assert classify_status(status) is expected
    assert classify(status) is expected


REQUEST = httpx.Request("POST", "https://flex.test/v1/evaluate")


@pytest.mark.parametrize(
    ("exc", "expected", "name"),
    [
        (httpx.ConnectTimeout("t", request=REQUEST), Disposition.RETRY, "timeout"),
        (httpx.ReadTimeout("t", request=REQUEST), Disposition.RETRY, "timeout"),
        (httpx.WriteTimeout("t", request=REQUEST), Disposition.RETRY, "timeout"),
        (httpx.PoolTimeout("t", request=REQUEST), Disposition.RETRY, "timeout"),
        (httpx.ConnectError("refused", request=REQUEST), Disposition.RETRY, "connect-error"),
        (httpx.ReadError("reset", request=REQUEST), Disposition.RETRY, "network-error"),
        (httpx.RemoteProtocolError("dropped", request=REQUEST), Disposition.RETRY, "connection-dropped"),
        (httpx.ProxyError("proxy down", request=REQUEST), Disposition.RETRY, "proxy-error"),
        (httpx.UnsupportedProtocol("ftp", request=REQUEST), Disposition.PERMANENT, "unsupported-protocol"),
        (httpx.LocalProtocolError("bad", request=REQUEST), Disposition.PERMANENT, "local-protocol-error"),
        (ValueError("not httpx"), Disposition.PERMANENT, "value-error"),
    ],
)
def test_classify_exception(exc: BaseException, expected: Disposition, name: str) -> None:
    assert classify_exception(exc) is expected
    assert classify(exc) is expected
    assert failure_name(exc) == name


def test_backoff_grows_exponentially_then_caps() -> None:
    ceilings = [POLICY.ceiling(n) for n in range(8)]
    assert ceilings == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0])
    assert POLICY.ceiling(10_000) == 10.0  # no overflow on absurd attempt numbers


def test_backoff_is_full_jitter() -> None:
    assert POLICY.backoff(3, lambda: 0.0) == 0.0
    assert POLICY.backoff(3, lambda: 0.5) == pytest.approx(0.8)
    assert POLICY.backoff(3, lambda: 1.0) == pytest.approx(1.6)
    assert POLICY.backoff(3, lambda: 7.0) == pytest.approx(1.6)  # a bad rng cannot exceed the cap


def test_retry_after_raises_the_wait() -> None:
    assert POLICY.next_wait(0, elapsed=0.0, rng=lambda: 0.5, retry_after=5.0) == 5.0
    assert POLICY.next_wait(6, elapsed=0.0, rng=lambda: 1.0, retry_after=2.0) == 10.0


def test_deadline_stops_retries() -> None:
    assert POLICY.next_wait(6, elapsed=49.0, rng=lambda: 1.0) == 10.0
    assert POLICY.next_wait(6, elapsed=50.0, rng=lambda: 1.0) is None
    assert POLICY.next_wait(0, elapsed=0.0, rng=lambda: 0.0, retry_after=60.0) is None


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(base_seconds=0, max_seconds=1, deadline_seconds=1)


@given(
    base=st.floats(0.001, 5),
    cap=st.floats(0.001, 60),
    deadline=st.floats(0.1, 600),
    retry=st.integers(0, 10_000),
    elapsed=st.floats(0, 700),
    factor=st.floats(0, 1),
    retry_after=st.none() | st.floats(0, 1_000),
)
def test_wait_never_exceeds_cap_or_deadline(
    base: float,
    cap: float,
    deadline: float,
    retry: int,
    elapsed: float,
    factor: float,
    retry_after: float | None,
) -> None:
    policy = RetryPolicy(base_seconds=base, max_seconds=cap, deadline_seconds=deadline)
    assert 0 <= policy.backoff(retry, lambda: factor) <= cap
    wait = policy.next_wait(retry, elapsed=elapsed, rng=lambda: factor, retry_after=retry_after)
    if wait is not None:
        assert elapsed + wait < deadline
        assert wait <= max(cap, retry_after or 0.0)
        assert retry_after is None or wait >= retry_after


def test_parse_retry_after_seconds() -> None:
    assert parse_retry_after("120", now=0) == 120.0
    assert parse_retry_after(" 1.5 ", now=0) == 1.5
    assert parse_retry_after("-3", now=0) == 0.0
    assert parse_retry_after(None, now=0) is None
    assert parse_retry_after("", now=0) is None
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after("nan", now=0) is None


def test_parse_retry_after_http_date() -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert later == "Wed, 21 Oct 2015 07:28:30 GMT"
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30.0)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0
