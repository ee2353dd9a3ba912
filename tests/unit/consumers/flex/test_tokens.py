"""FlexClient bearer tokens: cache, refresh ahead of expiry, single flight, 401 handling, credentials."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from consumers.flex.client import FlexAuthFailed, FlexClient, FlexUnavailable
from core.settings import FlexSettings
from streams.runtime.metrics import Metrics

EPOCH = 1_700_000_000.0
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class FakeTime:
    """Monotonic and wall clocks that only move when the client sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeFlex:
    """Token endpoint issuing tok-1, tok-2 … (10-minute lifetime); ``api`` answers everything else."""

    def __init__(self, time: FakeTime, api: Handler | None = None, token_status: int = 200) -> None:
        self.time, self.api, self.token_status = time, api, token_status
        self.token_requests: list[httpx.Request] = []
        self.api_requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            self.token_requests.append(request)
            for _ in range(5):  # let concurrent callers pile up behind the lock
                await asyncio.sleep(0)
            if self.token_status != 200:
                return httpx.Response(self.token_status, json={"TraceId": ["t"], "AppKey": ["invalid"]})
            expires = int((self.time.wall() + 600) * 1000)
            body = {"accessToken": f"tok-{len(self.token_requests)}", "expires": expires}
            return httpx.Response(200, json=body)
        self.api_requests.append(request)
        if self.api is None:
            return httpx.Response(200, json={"orderSessionKey": "osk", "status": "APPROVED"})
        return await self.api(request)


def settings(**overrides: Any) -> FlexSettings:
    values: dict[str, Any] = {
        "base_url": "https://flex.test/v1/",
        "app_key": SecretStr("app-key-1"),
        "app_secret": SecretStr("app-secret-1"),
        "mid": "mid-1",
        "tokenization_key": SecretStr("tok-key-1"),
    }
    return FlexSettings(**(values | overrides))


def client(flex: FakeFlex, on_token: Callable[[str], None] | None = None, **overrides: Any) -> FlexClient:
    return FlexClient(
        settings(**overrides),
        transport=httpx.MockTransport(flex),
        clock=flex.time.monotonic,
        wall_clock=flex.time.wall,
        sleep=flex.time.sleep,
        rng=lambda: 0.5,
        on_token=on_token,
    )


async def test_token_request_shape_and_cache() -> None:
    flex = FakeFlex(FakeTime())
    async with client(flex) as api:
        assert await api.ensure_token() == "tok-1"
        await api.evaluate({"idempotencyKey": "k"})
        await api.evaluate({"idempotencyKey": "k2"})
    (token_request,) = flex.token_requests
    assert orjson.loads(token_request.content) == {"AppKey": "app-key-1", "AppSecret": "app-secret-1"}
    assert token_request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in token_request.headers
    assert [r.headers["Authorization"] for r in flex.api_requests] == ["Bearer tok-1"] * 2


async def test_token_refreshed_before_expiry() -> None:
    flex = FakeFlex(FakeTime())
    async with client(flex, token_refresh_margin_seconds=60) as api:
        assert await api.ensure_token() == "tok-1"
        flex.time.now += 539  # 61 s left: still good
        assert await api.ensure_token() == "tok-1"
        flex.time.now += 2  # 59 s left: inside the margin
        assert await api.ensure_token() == "tok-2"
        assert api.token_fetches == 2


async def test_single_flight_under_100_concurrent_calls() -> None:
    flex = FakeFlex(FakeTime())
    async with client(flex) as api:
        answers = await asyncio.gather(*(api.evaluate({"idempotencyKey": str(i)}) for i in range(100)))
        assert len(flex.token_requests) == 1
        flex.time.now += 3600  # expired again
        await asyncio.gather(*(api.ensure_token() for _ in range(100)))
    assert len(flex.token_requests) == 2
    assert {a.order_session_key for a in answers} == {"osk"}
    assert len(flex.api_requests) == 100


async def test_401_refreshes_once_and_retries() -> None:
    async def api_handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer tok-1":
            return httpx.Response(401)
        return httpx.Response(200, json={"orderSessionKey": "osk"})

    flex = FakeFlex(FakeTime(), api_handler)
    async with client(flex) as api:
        answers = await asyncio.gather(*(api.evaluate({"idempotencyKey": str(i)}) for i in range(50)))
    assert [a.order_session_key for a in answers] == ["osk"] * 50
    assert len(flex.token_requests) == 2  # 50 concurrent 401s, one refresh
    assert flex.time.sleeps == []  # a refresh is not a backoff


async def test_second_401_is_an_auth_error() -> None:
    async def api_handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401)

    flex = FakeFlex(FakeTime(), api_handler)
    async with client(flex) as api:
        with pytest.raises(FlexAuthFailed) as info:
            await api.evaluate({"idempotencyKey": "k"})
    assert info.value.status_code == 401 and not info.value.retriable
    assert info.value.reason == "flex-auth"
    assert "after a token refresh" in str(info.value)
    assert (len(flex.token_requests), len(flex.api_requests)) == (2, 2)


async def test_token_400_is_auth_failed_naming_the_settings() -> None:
    flex = FakeFlex(FakeTime(), token_status=400)
    async with client(flex) as api:
        with pytest.raises(FlexAuthFailed) as info:
            await api.evaluate({"idempotencyKey": "k"})
    message = str(info.value)
    assert "FLEXBRIDGE_FLEX__APP_KEY" in message and "APP_SECRET" in message
    assert "app-secret-1" not in message
    assert info.value.status_code == 400 and not info.value.retriable
    assert flex.api_requests == [] and len(flex.token_requests) == 1


async def test_token_endpoint_outage_is_shared_by_waiters() -> None:
    flex = FakeFlex(FakeTime(), token_status=503)
    async with client(flex, deadline_seconds=5) as api:
        results = await asyncio.gather(*(api.ensure_token() for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, FlexUnavailable) and r.retriable for r in results)
    first = results[0]
    assert isinstance(first, FlexUnavailable)
    assert len(flex.token_requests) == first.attempts  # one retry loop, not twenty


@pytest.mark.parametrize(
    ("missing", "name"),
    [("app_key", "FLEXBRIDGE_FLEX__APP_KEY"), ("app_secret", "FLEXBRIDGE_FLEX__APP_SECRET")],
)
async def test_missing_credentials_name_the_setting(missing: str, name: str) -> None:
    flex = FakeFlex(FakeTime())
    async with client(flex, **{missing: None}) as api:
        with pytest.raises(FlexAuthFailed, match=name):
            await api.ensure_token()
    assert flex.token_requests == []


async def test_tokenize_keeps_the_tokenization_key_out_of_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def api_handler(request: httpx.Request) -> httpx.Response:
        token = {"transaction": {"payment_method": {"token": "card-token-1"}}, "success": True}
        return httpx.Response(200, json=token)

    flex = FakeFlex(FakeTime(), api_handler)
    card = {"first_name": "Joe", "last_name": "Jones", "number": "4111111111111111", "month": "03"}
    caplog.set_level(logging.DEBUG)
    async with client(flex) as api:
        assert await api.tokenize(card, email="a@b.c") == "card-token-1"
    (request,) = flex.api_requests
    assert request.url.params["environment"] == "tok-key-1" and request.url.params["mid"] == "mid-1"
    assert orjson.loads(request.content) == {"payment_method": {"credit_card": card, "email": "a@b.c"}}
    assert "/v1/tokenize" in caplog.text  # httpx logged the call …
    for secret in ("tok-key-1", "app-secret-1", "tok-1", "4111111111111111"):
        assert secret not in caplog.text  # … but nothing secret


async def test_tokenize_without_app_credentials_sends_no_bearer() -> None:
    async def api_handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"transaction": {"payment_method": {"token": "t"}}})

    flex = FakeFlex(FakeTime(), api_handler)
    async with client(flex, app_key=None, app_secret=None) as api:
        body = {"payment_method": {"credit_card": {"number": "4111111111111111"}}}
        assert await api.tokenize(body, tokenization_key="explicit") == "t"
    assert "Authorization" not in flex.api_requests[0].headers
    assert flex.api_requests[0].url.params["environment"] == "explicit"
    assert flex.token_requests == []


async def test_tokenize_requires_key_and_mid() -> None:
    flex = FakeFlex(FakeTime())
    async with client(flex, tokenization_key=None) as api:
        with pytest.raises(FlexAuthFailed, match="FLEXBRIDGE_FLEX__TOKENIZATION_KEY"):
            await api.tokenize({"number": "4111111111111111"})
    async with client(flex, mid=None) as api:
        with pytest.raises(FlexAuthFailed, match="FLEXBRIDGE_FLEX__MID"):
            await api.tokenize({"number": "4111111111111111"})


@pytest.mark.parametrize(
    ("token_status", "overrides", "results"),
    [
        (200, {}, {"ok": 2.0}),  # the first fetch and the refresh after expiry
        (400, {}, {"flex-auth": 1.0}),
        (503, {"deadline_seconds": 5}, {"retries-exhausted": 1.0}),  # one per fetch, not per attempt
        # no HTTP call: the first caller's refusal is held, so the nine others fail without a fetch
        (200, {"app_secret": None}, {"flex-auth": 1.0}),
    ],
)
async def test_each_token_fetch_is_counted_by_result(
    token_status: int, overrides: dict[str, Any], results: dict[str, float]
) -> None:
    metrics = Metrics()
    flex = FakeFlex(FakeTime(), token_status=token_status)
    api = client(flex, on_token=metrics.flex_token_fetch, **overrides)
    async with api:
        for _ in range(2):
            await asyncio.gather(*(api.ensure_token() for _ in range(10)), return_exceptions=True)
            flex.time.now += 3600  # the token (if any) expired: the next round fetches again
            if token_status != 200 or overrides:
                break
    counted = {
        s.labels["result"]: s.value
        for family in metrics.registry.collect()
        if family.name == "flexbridge_flex_token_fetches"
        for s in family.samples
        if s.name.endswith("_total") and s.value  # every result is exported at 0 from the start
    }
    assert counted == results


def test_a_fresh_worker_exports_every_token_result_at_zero() -> None:
    """increase() cannot see a series appear: the one refused fetch at start-up must be a rise from 0."""
    text = Metrics().render().decode()
    for result in ("ok", "flex-auth", "retries-exhausted", "flex-bad-response", "flex-request"):
        assert f'flexbridge_flex_token_fetches_total{{merchant="default",result="{result}"}} 0.0' in text
