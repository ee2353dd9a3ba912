"""Helpers for the FlexClient-against-sandbox tests: the sandbox's inspection API, settings, bodies."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from consumers.flex.client import FlexClient
from core.settings import FlexSettings
from sandbox import DEV_APP_KEY, DEV_APP_SECRET, DEV_MID, RunningSandbox
from sandbox.samples import evaluate_body

__all__ = [
    "DROPPED",
    "EVALUATE",
    "FLEX_ERRORS",
    "TOKEN",
    "Admin",
    "MakeClient",
    "approved",
    "at",
    "authorization",
    "by_key",
    "capture_required",
    "flex_settings",
    "key",
]

EVALUATE = "/v1/evaluate"
TOKEN = "/v1/oauth2/token"
DROPPED = {"connection-dropped", "network-error"}  # EOF or reset, depending on timing
FLEX_ERRORS = {500, 503, 429}

MakeClient = Callable[..., FlexClient]


class Admin:
    """The sandbox's inspection and control API (``/_sandbox/...``) over HTTP."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _listing(self, resource: str, params: dict[str, str] | None) -> list[dict[str, Any]]:
        response = await self.http.get(resource, params=params)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()[resource]
        return found

    async def journal(self, path: str | None = None) -> list[dict[str, Any]]:
        return await self._listing("requests", {"path": path} if path else None)

    async def orders(self, order_id: str | None = None) -> list[dict[str, Any]]:
        return await self._listing("orders", {"orderId": order_id} if order_id else None)

    async def order(self, order_session_key: str) -> dict[str, Any]:
        (found,) = [o for o in await self.orders() if o["orderSessionKey"] == order_session_key]
        return found

    async def faults(self, **config: Any) -> None:
        response = await self.http.post("faults", json=config)
        assert response.status_code == 200, response.text

    async def clear_faults(self) -> None:
        (await self.http.delete("faults")).raise_for_status()

    async def set_status(self, order_session_key: str, status: str) -> None:
        response = await self.http.post(f"orders/{order_session_key}/status", json={"status": status})
        response.raise_for_status()


def flex_settings(sandbox: RunningSandbox, **overrides: Any) -> FlexSettings:
    values: dict[str, Any] = {
        "base_url": sandbox.url,
        "app_key": SecretStr(DEV_APP_KEY),
        "app_secret": SecretStr(DEV_APP_SECRET),
        "mid": DEV_MID,
        "tokenization_key": SecretStr("sandbox-tokenization-key"),
        "deadline_seconds": 20.0,
        "backoff_base_seconds": 0.05,
        "backoff_max_seconds": 0.5,
        "timeout_seconds": 5.0,
    }
    return FlexSettings(**(values | overrides))


def at(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["at"]).timestamp()


def by_key(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        grouped[entry["idempotencyKey"]].append(entry)
    return grouped


def key() -> str:
    return str(uuid.uuid4())


def authorization(**kwargs: Any) -> dict[str, Any]:
    """An /evaluate body the default rules answer CAPTUREREQUIRED (flex-api.md §6)."""
    return evaluate_body(transaction_type="AUTHORIZATION", phone="998888", **kwargs)


async def capture_required(flex: FlexClient) -> str:
    """A new CAPTUREREQUIRED order; its order session key."""
    answer = await flex.evaluate(authorization())
    assert answer.status == "CAPTUREREQUIRED" and answer.order_session_key
    return answer.order_session_key


async def approved(flex: FlexClient) -> str:
    """A new APPROVED order; its order session key."""
    answer = await flex.evaluate(evaluate_body())
    assert answer.status == "APPROVED" and answer.order_session_key
    return answer.order_session_key
