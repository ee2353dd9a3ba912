"""The sandbox's webhook sender: Flex's deliveries to the merchant endpoint (flex-api.md §3).

Every order change the :class:`~sandbox.orders.OrderBook` reports becomes the event Flex would
send (see :func:`event_for`), and ``POST /_sandbox/webhooks`` sends any §3.2 event on demand. A
delivery is a POST of the PascalCase payload (§3.3) as text, signed with the subscriber key
exactly as §3.4 describes (its own signer: the sandbox emulates an outside service and imports
nothing from flexbridge). A non-2xx answer or a transport error is retried with exponential
backoff and jitter, each retry with ``IsResent: true`` and a fresh date, nonce and signature.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import logging
import random
import secrets
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any, Final, Literal

import httpx
import orjson
from aiohttp import web

from .config import SandboxConfig
from .merchants import Merchant, MerchantBook
from .orders import Order
from .wire import JsonObject, iso, utcnow

__all__ = [
    "EVENTS",
    "SENDER",
    "Delivery",
    "WebhookSender",
    "event_for",
    "sign_delivery",
]

log = logging.getLogger(__name__)

EVENTS: Final = (
    "order.completed",
    "order.expired",
    "order.cancelled",
    "order.refunded",
    "order.capturerequired",
    "payment.chargeback.received",
    "challenge.presented",
    "challenge.attempted",
    "challenge.passed",
    "challenge.failed",
    "payout.created",
    "payout.updated",
)
# The event an order's new status fires (DECLINED and SUBMITTED fire none).
_STATUS_EVENTS: Final = {
    "APPROVED": "order.completed",
    "EXPIRED": "order.expired",
    "CANCELLED": "order.cancelled",
    "REFUNDED": "order.refunded",
    "CAPTUREREQUIRED": "order.capturerequired",
    "CHALLENGE": "challenge.presented",
}
_SIGNED: Final = "HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature="
DeliveryState = Literal["pending", "delivered", "failed"]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def sign_delivery(body: bytes, key_b64: str, host: str, *, date: str, nonce: str) -> dict[str, str]:
    """The ``x-fc-*`` headers of a POST of ``body`` to ``host`` (flex-api.md §3.4)."""
    key = base64.b64decode(key_b64)
    content = _b64(hashlib.sha512(body).digest())
    message = f"POST\n{nonce};{date};{host};{content}".encode()
    return {
        "x-fc-authorization": _SIGNED + _b64(hmac.new(key, message, hashlib.sha512).digest()),
        "x-fc-content-sha512": content,
        "x-fc-date": date,
        "x-fc-nonce": nonce,
        "x-fc-signature": _b64(hmac.new(key, body, hashlib.sha512).digest()),
    }


def event_for(order: Order) -> str | None:
    """The webhook event of an order's latest change: every refund, or a change of status."""
    last = order.history[-1] if order.history else None
    if last is None:
        return None
    if last.action == "refund":
        return "order.refunded"
    previous = order.history[-2].status if len(order.history) > 1 else None
    return None if last.status == previous else _STATUS_EVENTS.get(last.status)


@dataclass(slots=True)
class Delivery:
    """One webhook and every attempt to deliver it."""

    id: int
    event: str
    url: str
    payload: JsonObject
    merchant: str  # the name of the merchant it is sent to
    key: str = field(repr=False, default="")  # that merchant's subscriber key (base64)
    state: DeliveryState = "pending"
    attempts: list[JsonObject] = field(default_factory=list)

    def inspection(self) -> JsonObject:
        return {
            "id": self.id,
            "event": self.event,
            "url": self.url,
            "merchant": self.merchant,
            "orderSessionKey": self.payload.get("OrderId"),
            "externalOrderId": self.payload.get("ExternalOrderId"),
            "state": self.state,
            "payload": self.payload,
            "attempts": list(self.attempts),
        }


class WebhookSender:
    """Sends each merchant's webhooks to its URL, signed with its subscriber key (nothing is sent
    or recorded for a merchant without a URL)."""

    def __init__(self, config: SandboxConfig, merchants: MerchantBook) -> None:
        self._config = config
        self._merchants = merchants
        self._deliveries: list[Delivery] = []
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(config.webhook_concurrency)

    def merchant_of(self, order: Order | None, name: object = None) -> Merchant | None:
        """The order's merchant; for no order, the one named ``name`` (or the only one)."""
        if order is not None:
            return self._merchants.owner(order.mid)
        if isinstance(name, str):
            return self._merchants.by_name(name)
        return self._merchants.owner(None)

    def on_order(self, order: Order) -> None:
        """OrderBook listener: send the event this change fires, if any, to the order's merchant."""
        event = event_for(order)
        merchant = self.merchant_of(order)
        if event is not None and merchant is not None and merchant.webhook_url is not None:
            last = order.history[-1]
            data = {"Amount": last.amount, "Currency": order.currency} if event == "order.refunded" else None
            try:
                self.send(event, order, data, merchant)
            except RuntimeError:  # no running event loop: an order changed outside the server
                log.warning("webhook %s for order %s not sent: no running event loop", event, order.order_id)

    def send(self, event: str, order: Order | None, event_data: Any, merchant: Merchant) -> Delivery:
        """Start delivering ``event`` (of ``order``, or of none for payouts) to ``merchant``.

        Needs a running loop.
        """
        if merchant.webhook_url is None:
            raise RuntimeError(f"no webhook URL for merchant {merchant.name} (--webhook-url)")
        key = merchant.subscriber_key or self._config.subscriber_key
        payload: JsonObject = {
            "Event": event,
            "TimeStamp": iso(utcnow()),
            "EventData": event_data,
            "ExternalOrderId": order.order_id if order else None,
            "OrderId": order.order_session_key if order else None,
            "ConfirmationId": order.confirmation_id if order else None,
            "IsTestMode": True,
            "IsResent": False,
        }
        loop = asyncio.get_running_loop()
        delivery = Delivery(
            next(self._ids), event, merchant.webhook_url, payload, merchant.name, key.get_secret_value()
        )
        self._deliveries.append(delivery)
        task = loop.create_task(self._deliver(delivery), name=f"webhook {delivery.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return delivery

    def inspection(self) -> list[JsonObject]:
        return [d.inspection() for d in self._deliveries]

    def reset(self) -> None:
        """Forget every delivery and stop the retries still pending."""
        for task in list(self._tasks):
            task.cancel()
        self._deliveries.clear()

    async def close(self) -> None:
        tasks = list(self._tasks)
        self.reset()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _deliver(self, delivery: Delivery) -> None:
        c = self._config
        for attempt in range(1, c.webhook_max_attempts + 1):
            if attempt > 1:
                delivery.payload["IsResent"] = True
            if await self._attempt(delivery):
                delivery.state = "delivered"
                return
            if attempt < c.webhook_max_attempts:
                ceiling = min(c.webhook_backoff_max_seconds, c.webhook_backoff_seconds * 2 ** (attempt - 1))
                await asyncio.sleep(random.uniform(ceiling / 2, ceiling))  # retry jitter  # noqa: S311
        delivery.state = "failed"
        log.warning("webhook %d (%s) not delivered after %d attempts", delivery.id, delivery.event, attempt)

    async def _attempt(self, delivery: Delivery) -> bool:
        async with self._slots:  # signed when its turn comes, so the date is fresh when it is sent
            return await self._post(delivery)

    async def _post(self, delivery: Delivery) -> bool:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._config.webhook_timeout_seconds)
        body = orjson.dumps(delivery.payload)
        target = httpx.URL(delivery.url)
        host = target.netloc.decode("ascii")
        date = format_datetime(utcnow(), usegmt=True)
        headers = sign_delivery(body, delivery.key, host, date=date, nonce=secrets.token_hex(16))
        headers |= {"Host": host, "Content-Type": "text/plain; charset=utf-8"}
        record: JsonObject = {"at": iso(utcnow()), "isResent": delivery.payload["IsResent"]}
        try:
            answer = await self._http.post(target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            record |= {"status": None, "error": type(exc).__name__}
            delivery.attempts.append(record)
            return False
        record |= {"status": answer.status_code, "error": None}
        delivery.attempts.append(record)
        return 200 <= answer.status_code < 300


SENDER: web.AppKey[WebhookSender] = web.AppKey("webhook_sender", WebhookSender)
