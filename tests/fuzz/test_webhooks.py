"""Property tests of the webhook receiver: the pure parse and signature check, then a small number of
real POSTs to a running worker (401 bad or missing signature, 400 malformed but signed, never 500,
nothing published for bad input, no card number in the worker's log)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from consumers.webhooks.signature import WebhookRejected, WebhookVerifier, http_date, new_nonce, sign
from core.errors import InvalidEvent
from schemas.webhooks import FlexWebhook, parse_webhook
from tests.conftest import Stack, Worker
from tests.fuzz.test_strategies import json_values, odd_text, pan_runs, pans, truncations
from tests.support import read_all, unique, wait_for
from tests.webhook_support import CURRENT_KEY, STRANGER_KEY, payload, signed

GOOD = payload("ORD-FUZZ")
HOST = "127.0.0.1:6066"
header_text = st.text(
    st.characters(codec="utf-8") | st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
)


def _parse(body: bytes) -> FlexWebhook | InvalidEvent:
    try:
        return parse_webhook(body)
    except InvalidEvent as exc:
        assert str(exc) and not pan_runs(str(exc))
        return exc


@given(st.binary(max_size=4096))
def test_arbitrary_bytes_parse_or_are_invalid(body: bytes) -> None:
    _parse(body)


@given(json_values)
def test_any_json_value_parses_or_is_invalid(value: Any) -> None:
    _parse(orjson.dumps(value))
    _parse(orjson.dumps(orjson.dumps(value).decode()))  # the body sent as a JSON string


@given(truncations(GOOD))
def test_a_truncated_body_is_invalid(body: bytes) -> None:
    assert isinstance(_parse(body), InvalidEvent)


@given(
    st.sampled_from(["Event", "OrderId", "ExternalOrderId", "TimeStamp", "IsResent", "IsTestMode"]),
    json_values,
)
def test_any_value_in_any_field_parses_or_is_invalid(field: str, value: Any) -> None:
    _parse(orjson.dumps({**orjson.loads(GOOD), field: value}))


@settings(max_examples=20)
@given(st.sampled_from([1 << 20, 5 << 20]) | st.integers(1, 5 << 20))
def test_huge_bodies_are_answered(size: int) -> None:
    answer = _parse(orjson.dumps({**orjson.loads(GOOD), "EventData": {"blob": "x" * size}}))
    assert isinstance(answer, FlexWebhook)
    _parse(b"[" * size)


def _verify(headers: dict[str, str], body: bytes, host: str = HOST) -> None:
    WebhookVerifier(CURRENT_KEY, max_skew_seconds=0).verify("POST", host, headers, body)


@given(
    st.dictionaries(
        st.sampled_from(
            ["x-fc-" + n for n in ("authorization", "content-sha512", "date", "nonce", "signature")]
        )
        | header_text,
        header_text,
        max_size=7,
    ),
    st.binary(max_size=256),
    header_text,
)
def test_arbitrary_headers_are_refused_with_a_reason(headers: dict[str, str], body: bytes, host: str) -> None:
    with pytest.raises(WebhookRejected):
        _verify(headers, body, host)


@given(st.binary(min_size=1, max_size=512), st.data())
def test_any_change_to_a_signed_body_is_refused(body: bytes, data: st.DataObject) -> None:
    headers = sign(body, key_b64=CURRENT_KEY, host=HOST, date=http_date(), nonce=new_nonce())
    _verify(dict(headers), body)  # the untouched delivery passes
    i = data.draw(st.integers(0, len(body) - 1))
    tampered = body[:i] + bytes([body[i] ^ data.draw(st.integers(1, 255))]) + body[i + 1 :]
    with pytest.raises(WebhookRejected) as refused:
        _verify(dict(headers), tampered)
    assert refused.value.reason == "content-hash"


@given(st.sampled_from(["x-fc-date", "x-fc-nonce", "host"]), header_text)
@example("host", "\udcff")  # how aiohttp hands over a header byte that is not UTF-8
@example("x-fc-date", " \udcff\udcfe")
def test_odd_text_in_a_signed_header_is_refused_not_an_error(name: str, junk: str) -> None:
    headers = sign(GOOD, key_b64=CURRENT_KEY, host=HOST, date=http_date(), nonce=new_nonce())
    host = HOST + junk if name == "host" else HOST
    if name != "host":
        headers[name] += junk
    try:
        _verify(headers, GOOD, host)
    except WebhookRejected:
        return
    assert not junk.strip(), "a changed signed header must not verify"


# ---- real POSTs to a running worker ---------------------------------------------------------------


def _post(worker: Worker, body: bytes, headers: dict[str, Any]) -> int:
    answer = httpx.post(worker.url + "/webhooks/flex", content=body, headers=headers, timeout=30)
    return answer.status_code


malformed = st.one_of(
    st.binary(max_size=512),
    json_values.map(orjson.dumps),
    truncations(GOOD),
    st.builds(lambda pan, text: f'{{"Event": ["{pan}"], "OrderId": "{text}"}}'.encode(), pans(), odd_text),
    pans().map(lambda pan: f"card {pan}".encode()),
)


@pytest.mark.integration
async def test_bad_deliveries_are_refused_and_nothing_of_them_is_published_or_logged(
    hooks: tuple[Stack, Worker],
) -> None:
    """401 unsigned or wrongly signed, 400 signed but malformed, never 500; afterwards only one good
    delivery is on the topics and no card number sent appears in the worker's log."""
    stack, worker = hooks
    sent: list[str] = []

    @settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(malformed, pans())
    def deliver(body: bytes, pan: str) -> None:
        body_with_pan = body + b" " + pan.encode()
        assume(isinstance(_parse(body_with_pan), InvalidEvent))
        sent.append(pan)
        assert _post(worker, body_with_pan, {}) == 401  # unsigned
        assert _post(worker, body_with_pan, signed(worker, body_with_pan, STRANGER_KEY)) == 401
        assert _post(worker, body_with_pan, signed(worker, body_with_pan)) == 400  # signed, malformed

    await asyncio.to_thread(deliver)
    assert sent
    order = unique("ORD-FZOK")
    assert _post(worker, payload(order), signed(worker, payload(order))) == 200

    async def good_one_published() -> list[Any] | None:
        records = await read_all(stack.bootstrap, stack.topics["webhooks"])
        return records or None

    records = await wait_for(good_one_published, 30, "the good webhook on flex.webhooks")
    assert [r.key for r in records] == [order.encode()]
    statuses = await read_all(stack.bootstrap, stack.topics["status"])
    assert [r.key for r in statuses] == [order.encode()]
    log = worker.process.output()
    assert "webhook refused" in log and "malformed body refused" in log  # the bad ones were logged
    digits_only = re.sub(r"[ \-]", "", log)
    for pan in sent:
        assert pan not in log and re.sub(r"[ \-]", "", pan) not in digits_only


@pytest.mark.integration
def test_header_bytes_that_are_not_utf8_are_refused(hooks: tuple[Stack, Worker]) -> None:
    _, worker = hooks
    headers: dict[str, Any] = signed(worker, GOOD)
    for name, junk in (("x-fc-date", b" \xff\xfe"), ("x-fc-nonce", b"\xc3"), ("host", b"\xff")):
        raw = {k: v.encode() for k, v in headers.items()}
        raw[name] = (headers[name].encode() if name != "host" else worker.url[7:].encode()) + junk
        assert _post(worker, GOOD, raw) == 401
