"""FlexClient calls: retries under the deadline, Retry-After, error mapping, bodies, paths, observers."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from consumers.flex.client import (
    FlexBadResponse,
    FlexClient,
    FlexConflict,
    FlexNotFound,
    FlexRejected,
    FlexUnavailable,
)
from consumers.flex.engine import FlexRequest
from core.settings import FlexSettings

EPOCH = 1_700_000_000.0
Step = httpx.Response | Exception


class Scripted:
    """A fake Flex: the token endpoint always works; API calls get ``steps`` in order (last repeats)."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps) or [httpx.Response(200, json={})]
        self.requests: list[httpx.Request] = []
        self.now = 0.0
        self.sleeps: list[float] = []
        self.calls: list[tuple[str, int | str, float]] = []
        self.retries: list[tuple[str, int | str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"accessToken": "tok-1", "expires": int((EPOCH + 3600) * 1000)})
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def client(self, rng: float = 0.5, **overrides: Any) -> FlexClient:
        values: dict[str, Any] = {
            "base_url": "https://flex.test/v1/",
            "app_key": SecretStr("k"),
            "app_secret": SecretStr("s"),
            "deadline_seconds": 60.0,
            "backoff_base_seconds": 0.2,
            "backoff_max_seconds": 10.0,
        }
        return FlexClient(
            FlexSettings(**(values | overrides)),
            transport=httpx.MockTransport(self),
            clock=lambda: self.now,
            wall_clock=lambda: EPOCH + self.now,
            sleep=self.sleep,
            rng=lambda: rng,
            on_call=lambda endpoint, status, seconds: self.calls.append((endpoint, status, seconds)),
            on_retry=lambda endpoint, cause: self.retries.append((endpoint, cause)),
        )


def ok(body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(200, json={} if body is None else body, headers=headers)


def status(code: int, body: Any = None, **headers: str) -> httpx.Response:
    if body is None:
        return httpx.Response(code, headers=headers)
    return httpx.Response(code, json=body, headers=headers)


async def test_evaluate_sends_json_and_parses() -> None:
    flex = Scripted(ok({"OrderSessionKey": "osk-1", "status": "APPROVED", "extra": 1}))
    async with flex.client() as api:
        answer = await api.evaluate({"idempotencyKey": "k", "transaction": {"amount": 1999}})
    assert (answer.order_session_key, answer.status) == ("osk-1", "APPROVED")
    (request,) = flex.requests
    assert (request.method, str(request.url)) == ("POST", "https://flex.test/v1/evaluate")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert orjson.loads(request.content)["transaction"] == {"amount": 1999}


async def test_retries_5xx_timeouts_and_drops_then_succeeds() -> None:
    request = httpx.Request("POST", "https://flex.test/v1/transmit")
    flex = Scripted(
        status(503),
        httpx.ReadTimeout("slow", request=request),
        httpx.RemoteProtocolError("dropped", request=request),
        httpx.ConnectError("refused", request=request),
        status(502),
        ok({"transmitId": 7, "result": "success"}),
    )
    async with flex.client(rng=1.0) as api:
        answer = await api.transmit({"orderId": "o"})
    assert answer.transmit_id == "7"
    assert flex.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])
    api_calls = [(e, s) for e, s, _ in flex.calls if "token" not in e]
    assert [s for _, s in api_calls] == [503, "timeout", "connection-dropped", "connect-error", 502, 200]
    causes = [503, "timeout", "connection-dropped", "connect-error", 502]
    assert flex.retries == [("POST /v1/transmit", cause) for cause in causes]


async def test_deadline_exhaustion_raises_unavailable_with_a_useful_message() -> None:
    flex = Scripted(status(503))
    async with flex.client(rng=1.0) as api:
        with pytest.raises(FlexUnavailable) as info:
            await api.evaluate({"idempotencyKey": "k"})
    error = info.value
    # waits 0.2 0.4 0.8 1.6 3.2 6.4 10 10 10 10 = 52.6 s; one more 10 s would pass 60 s
    assert str(error) == "POST /v1/evaluate: 503 after 11 attempts in 52.6 s (deadline 60 s)"
    assert (error.retriable, error.reason) == (True, "retries-exhausted")
    assert (error.attempts, error.status_code) == (11, 503)
    assert error.last_failure == "503" and error.endpoint == "POST /v1/evaluate"
    assert sum(flex.sleeps) < 60


async def test_timeouts_until_deadline() -> None:
    flex = Scripted(httpx.ConnectTimeout("t", request=httpx.Request("GET", "https://flex.test/")))
    async with flex.client(rng=1.0, deadline_seconds=2.0) as api:
        with pytest.raises(FlexUnavailable, match=r"GET /v1/orders/osk: timeout after 4 attempts in 1\.4 s"):
            await api.get_order("osk")


async def test_retry_after_seconds_is_honoured() -> None:
    slow_down = status(429, {"message": "slow down"}, **{"Retry-After": "7"})
    flex = Scripted(slow_down, ok({"id": "osk", "status": 7}))
    async with flex.client(rng=0.5) as api:
        order = await api.get_order("osk")
    assert order.status_label == "COMPLETED"
    assert flex.sleeps == [7.0]


async def test_retry_after_http_date_is_measured_against_the_response_date() -> None:
    headers = {"Date": "Wed, 21 Oct 2015 07:28:00 GMT", "Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}
    flex = Scripted(status(503, None, **headers), ok({"status": "APPROVED"}))
    async with flex.client() as api:
        assert (await api.outcome("osk")).status == "APPROVED"
    assert flex.sleeps == pytest.approx([30.0])


async def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    flex = Scripted(status(429, None, **{"Retry-After": "120"}))
    async with flex.client() as api:
        with pytest.raises(FlexUnavailable, match=r"429 after 1 attempt in 0\.0 s \(Retry-After 120 s"):
            await api.evaluate({"idempotencyKey": "k"})
    assert flex.sleeps == []


async def test_400_rejected_with_flat_field_map() -> None:
    body = {"TraceId": ["00-abc-01"], "IdempotencyKey": ["The IdempotencyKey field is required."]}
    flex = Scripted(status(400, body))
    async with flex.client() as api:
        with pytest.raises(FlexRejected) as info:
            await api.evaluate({"orderId": "o"})
    error = info.value
    assert type(error) is FlexRejected and not error.retriable and error.reason == "flex-rejected"
    assert error.status_code == 400 and error.errors == body
    assert str(error) == (
        "POST /v1/evaluate: 400 IdempotencyKey: The IdempotencyKey field is required. (trace 00-abc-01)"
    )
    assert len(flex.requests) == 1 and flex.sleeps == []


async def test_400_rejected_with_older_error_shape() -> None:
    body = {"status": "400", "errors": {"OrderId": ["Merchant's orderId is required"], "TraceId": ["t-1"]}}
    flex = Scripted(status(400, body))
    async with flex.client() as api:
        with pytest.raises(FlexRejected) as info:
            await api.evaluate({})
    assert info.value.errors == {"OrderId": ["Merchant's orderId is required"], "TraceId": ["t-1"]}


@pytest.mark.parametrize(("code", "cls"), [(404, FlexNotFound), (409, FlexConflict), (422, FlexRejected)])
async def test_permanent_statuses(code: int, cls: type[FlexRejected]) -> None:
    flex = Scripted(status(code, {"title": "nope"}))
    async with flex.client() as api:
        with pytest.raises(cls) as info:
            await api.cancel("osk", "key-1")
    assert type(info.value) is cls and info.value.status_code == code and not info.value.retriable
    assert len(flex.requests) == 1


async def test_refund_sends_dollars() -> None:
    flex = Scripted(ok({"status": "SUCCESS", "success": True}))
    async with flex.client() as api:
        for cents in (1250, 1, 1999):
            answer = await api.refund("osk/1", cents, "damaged")
            assert answer.status == "SUCCESS"
    bodies = [r.content for r in flex.requests]
    assert bodies == [
        b'{"amountToRefund":12.50,"refundMessage":"damaged"}',
        b'{"amountToRefund":0.01,"refundMessage":"damaged"}',
        b'{"amountToRefund":19.99,"refundMessage":"damaged"}',
    ]
    assert flex.requests[0].url.raw_path == b"/v1/orders/osk%2F1/refund"
    assert ("POST /v1/orders/{id}/refund", 200) in [(e, s) for e, s, _ in flex.calls]


async def test_refund_failed_body_is_rejected() -> None:
    item = {"item1": "Amount to refund ...", "item2": "2001", "item3": "2001", "item4": True}
    message = "Amount to refund (1.00) is greater than maximum"
    body = {"responseCode": "2001", "responseMessage": message, "success": False, "status": "FAILED",
            "errors": [item]}  # fmt: skip
    flex = Scripted(ok(body))
    async with flex.client() as api:
        with pytest.raises(FlexRejected) as info:
            await api.refund("osk", 100, None)
    error = info.value
    assert error.status_code == 200 and error.errors == {"2001": ["Amount to refund ..."]}
    assert "Amount to refund (1.00) is greater than maximum" in str(error)
    assert orjson.loads(flex.requests[0].content) == {"amountToRefund": 1.0}


async def test_capture_cancel_external_cancel_bodies_and_paths() -> None:
    flex = Scripted(ok({"status": "SUCCESS"}), ok(), httpx.Response(200), ok())
    async with flex.client() as api:
        assert (await api.capture("osk", 1999, "usd", "cap-key")).status == "SUCCESS"
        await api.cancel("osk", "cancel-key")
        await api.external_cancel("ORD 1/2", "cancel-key")  # empty body answer is fine
    capture, cancel, external = flex.requests[:3]
    assert orjson.loads(capture.content) == {"idempotencyKey": "cap-key", "orderId": "osk", "amount": 1999,
                                             "currency": "USD"}  # fmt: skip
    assert cancel.url.raw_path == b"/v1/orders/osk/cancel"
    assert orjson.loads(cancel.content) == {"idempotencyKey": "cancel-key"}
    assert external.url.raw_path == b"/v1/orders/ORD%201%2F2/external-cancel"


async def test_capture_failed_is_rejected() -> None:
    flex = Scripted(httpx.Response(200, content=b"FAILED"))
    async with flex.client() as api:
        with pytest.raises(FlexRejected, match="capture failed"):
            await api.capture("osk", 1999, "USD", "k")


async def test_path_segments_are_escaped() -> None:
    flex = Scripted(ok({"id": "x"}))
    async with flex.client() as api:
        await api.get_order("..")
        await api.get_order("a?b#c%d")
    assert [r.url.raw_path for r in flex.requests] == [b"/v1/orders/%2E%2E", b"/v1/orders/a%3Fb%23c%25d"]


async def test_order_without_id_is_not_found() -> None:
    flex = Scripted(ok({}))
    async with flex.client() as api:
        with pytest.raises(FlexNotFound):
            await api.get_order("osk")


async def test_non_json_success_is_a_bad_response() -> None:
    flex = Scripted(httpx.Response(200, content=b"<html>captive portal</html>"))
    async with flex.client() as api:
        with pytest.raises(FlexBadResponse) as info:
            await api.evaluate({"idempotencyKey": "k"})
    assert not info.value.retriable and info.value.reason == "flex-bad-response"


async def test_bodies_and_tokens_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    flex = Scripted(status(503), ok({"status": "APPROVED"}))
    async with flex.client() as api:
        await api.evaluate({"idempotencyKey": "k", "paymentMethod": {"cardNumber": "4111111111111111"}})
    assert "retry 1" in caplog.text
    for secret in ("4111111111111111", "tok-1", "cardNumber"):
        assert secret not in caplog.text


def test_a_request_shows_no_body_in_its_repr() -> None:
    request = FlexRequest(
        "POST", "oauth2/token", "token", body={"AppSecret": "s3cret"}, auth="token-endpoint"
    )
    assert "s3cret" not in repr(request) and "oauth2/token" in repr(request)


async def test_observer_failures_do_not_break_calls(caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("metrics down")

    config = FlexSettings(app_key=SecretStr("k"), app_secret=SecretStr("s"))
    transport = httpx.MockTransport(Scripted(ok({"status": "APPROVED"})))
    async with FlexClient(config, transport=transport, on_call=broken, on_retry=broken) as api:
        assert (await api.outcome("osk")).status == "APPROVED"
    assert "observer failed" in caplog.text
