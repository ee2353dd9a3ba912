"""Helpers of the webhook receiver tests: subscriber keys, payloads, signed deliveries, topic reads."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from consumers.webhooks.signature import http_date, new_nonce, sign
from streams.runtime.webhooks import DEDUPE_HEADER
from tests.conftest import Stack, Worker
from tests.support import read_all


def subscriber_key(seed: str) -> str:
    return base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()


CURRENT_KEY = subscriber_key("webhook-tests-current")
PREVIOUS_KEY = subscriber_key("webhook-tests-previous")
STRANGER_KEY = subscriber_key("webhook-tests-stranger")
KEYS_ENV = {
    "FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY": CURRENT_KEY,
    "FLEXBRIDGE_WEBHOOK__PREVIOUS_SUBSCRIBER_KEY": PREVIOUS_KEY,
}


def payload(
    order_id: str, event: str = "order.completed", *, resent: bool = False, session: str = ""
) -> bytes:
    return orjson.dumps(
        {
            "Event": event,
            "TimeStamp": "2026-11-24T10:00:00.123456Z",
            "EventData": None,
            "ExternalOrderId": order_id,
            "OrderId": session or f"fx-{order_id}",
            "ConfirmationId": "22ACD1D9",
            "IsTestMode": True,
            "IsResent": resent,
        }
    )


def signed(worker: Worker, body: bytes, key: str = CURRENT_KEY, *, age: float = 0) -> dict[str, str]:
    date = http_date(datetime.now(UTC) - timedelta(seconds=age))
    host = worker.url.removeprefix("http://")
    headers = sign(body, key_b64=key, host=host, date=date, nonce=new_nonce())
    return headers | {"Content-Type": "text/plain; charset=utf-8"}


async def deliver(worker: Worker, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(worker.url + "/webhooks/flex", content=body, headers=headers)


async def send(worker: Worker, body: bytes, key: str = CURRENT_KEY) -> tuple[int, str]:
    answer = await deliver(worker, body, signed(worker, body, key))
    outcome: str = answer.json()["status"]
    return answer.status_code, outcome


async def published(stack: Stack, topic: str, order_id: str) -> list[Any]:
    """The records on ``topic`` keyed by ``order_id``."""
    records = await read_all(stack.bootstrap, stack.topics[topic])
    return [r for r in records if r.key == order_id.encode()]


def dedupe_header(record: Any) -> str:
    value: bytes = dict(record.headers)[DEDUPE_HEADER]
    return value.decode()
