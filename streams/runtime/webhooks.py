"""The webhook receiver, Kafka side: verify, deduplicate, publish, and only then answer 2xx.

``POST /webhooks/flex`` and ``POST /webhooks/flex/{name}`` (streams/runtime/webhook_http.py) hand
the raw body here. A delivery is verified (with its merchant's keys: consumers/webhooks/keys.py;
an unknown name is 404) and parsed (schemas/webhooks.py); nothing unverified is ever produced (a
request refused only for its nonce is signed right: the same request sent again, it is answered as
a redelivery if its webhook is published or publishing, and refused otherwise). A
verified webhook is published once per dedupe key (``event:OrderId``, plus a digest of the
``EventData`` for ``order.refunded``: schemas/webhooks.py ``dedupe_key``; in its merchant's scope,
and with the merchant's name in the ``flexbridge-merchant`` header): first its
OrderStatus to ``orders.status`` (when the event maps to one), then the body, unchanged, to
``flex.webhooks`` with the dedupe key in the ``flexbridge-dedupe-key`` header. The webhook record
goes last because it is the receiver's memory: at start, and continuously while running, the
receiver reads that topic back, so a restarted worker and every other worker know what was
already published.

A publication that Kafka has not acknowledged within ``produce_timeout_seconds`` is answered 503
but keeps running; a redelivery of the same event waits for it instead of producing again, and
only the records not yet acknowledged are retried, so the outage costs no duplicate. The outcome of
an order still awaiting its batch result is answered 503 too (streams/runtime/awaiting.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError

from consumers.order_keys import order_key
from consumers.webhooks.dedupe import SeenKeys
from consumers.webhooks.keys import Receiving, WebhookKeys, scoped_key
from consumers.webhooks.signature import WebhookRejected, WebhookVerifier
from core.config import ConfigError
from core.errors import InvalidEvent
from core.merchants import SINGLE_MERCHANT_NAME
from core.settings import WebhookSettings
from schemas.webhooks import FlexWebhook, dedupe_key, order_status, parse_webhook
from streams.kafka.clients import Records, tail_topic
from streams.runtime.awaiting import AwaitingFollower, AwaitingResults
from streams.runtime.deps import Deps
from streams.runtime.metrics import NO_MERCHANT
from streams.runtime.status import status_record
from streams.runtime.supervise import supervise
from streams.runtime.webhook_publication import Headers, Publication, failure_of, retrieve

__all__ = [
    "DEDUPE_HEADER", "MERCHANT_HEADER", "WebhookAnswer", "WebhookReceiver", "build_verifier",
    "publication_headers",
]  # fmt: skip

log = logging.getLogger(__name__)

DEDUPE_HEADER = "flexbridge-dedupe-key"
MERCHANT_HEADER = "flexbridge-merchant"  # the merchant whose path received it (named paths only)


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """The HTTP status and JSON body to answer a delivery with."""

    status: int
    body: dict[str, Any]


def _answer(status: int, outcome: str, message: str | None = None, key: str | None = None) -> WebhookAnswer:
    body: dict[str, Any] = {"status": outcome}
    if message is not None:
        body["error" if status >= 400 else "message"] = message
    if key is not None:
        body["dedupeKey"] = key
    return WebhookAnswer(status, body)


def build_verifier(settings: WebhookSettings) -> WebhookVerifier | None:
    """The verifier of the configured subscriber key(s); None when no key is set (receiver off)."""
    if settings.subscriber_key is None:
        return None
    try:
        return WebhookVerifier.from_settings(settings)
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


class WebhookReceiver:
    """One per worker; :meth:`start` inside the running loop, after the producer started."""

    def __init__(
        self,
        deps: Deps,
        settings: WebhookSettings,
        verifier: WebhookVerifier | WebhookKeys,
        follower: AwaitingFollower,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kafka, self._topics = deps.kafka, deps.topics
        self._producer = deps.producer
        if isinstance(verifier, WebhookVerifier):
            verifier = WebhookKeys(Receiving(verifier, None, None), {})
        self._keys = verifier
        self._metrics = deps.metrics
        self._clock = clock
        self._timeout = settings.produce_timeout_seconds
        self._seen = SeenKeys(
            window_seconds=settings.dedupe_window_hours * 3600, max_entries=settings.dedupe_max_entries
        )
        self._pending: dict[str, Publication] = {}
        self._loaded = asyncio.Event()
        self._tail: asyncio.Task[None] | None = None
        self._awaiting = follower  # the worker's follower of orders.status, started by its runtime

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set() and self._awaiting.loaded.is_set()

    @property
    def awaiting(self) -> AwaitingResults:
        """The orders whose outcome is held until their batch result (streams/runtime/awaiting.py)."""
        return self._awaiting.results

    @property
    def remembered(self) -> int:
        """How many dedupe keys are held (published here or read back from flex.webhooks)."""
        return len(self._seen)

    async def start(self) -> None:
        """Read back the dedupe keys already on ``flex.webhooks``, then keep following the topic."""
        self._tail = supervise("webhook-dedupe-tail", self._follow)
        both = asyncio.gather(self._loaded.wait(), self._awaiting.loaded.wait())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both, self._kafka.startup_timeout_seconds)
        if not self.loaded:
            log.warning("flex.webhooks or orders.status not read back yet: webhooks get 503 until they are")

    async def stop(self) -> None:
        tasks = [t for t in (self._tail, *(p.task for p in self._pending.values())) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tail = None

    async def receive(
        self, method: str, host: str, headers: Mapping[str, str], body: bytes, merchant: str | None = None
    ) -> WebhookAnswer:
        """Verify, parse and publish one delivery to ``merchant``'s path (None: the plain path);
        never raises."""
        receiving = self._keys.of(merchant)
        if receiving is None:
            self._metrics.webhook_delivery("unknown-merchant", NO_MERCHANT)
            what = "/webhooks/flex/{name}" if merchant is None else f'a merchant named "{merchant}"'
            return _answer(404, "unknown-merchant", f"no webhook receiver here; use {what}")
        label = receiving.merchant or SINGLE_MERCHANT_NAME  # the metrics' merchant label
        if not self.loaded:
            self._metrics.webhook_delivery("unavailable", label)
            return _answer(503, "unavailable", "the receiver is starting; retry later")
        verified = None
        try:
            verified = receiving.verifier.verify(method, host, headers, body)
        except WebhookRejected as exc:
            if not (exc.reason == "replayed-nonce" and self._resent(body, receiving)):
                self._metrics.webhook_verification(exc.reason, label)
                self._metrics.webhook_delivery("rejected", label)
                log.warning("webhook refused: %s", exc)
                return _answer(401, "rejected", str(exc))
        self._metrics.webhook_verification("ok" if verified else "resent", label)
        try:
            webhook = parse_webhook(body)
        except InvalidEvent as exc:
            self._metrics.webhook_delivery("malformed", label)
            log.warning("verified webhook with a malformed body refused (400)")
            return _answer(400, "malformed", str(exc))
        answer = await self._publish_once(webhook, body, receiving)
        if answer.status == 503 and verified:  # the same signed request may be sent again
            receiving.verifier.nonces.discard(verified.nonce)
        self._metrics.webhook_delivery(answer.body["status"], label)
        return answer

    def _resent(self, body: bytes, receiving: Receiving) -> bool:
        """Whether a request refused only for its nonce, so signed right, is one already published
        or publishing: the same request sent again after its answer was lost, answered as a duplicate."""
        try:
            key = scoped_key(receiving.scope, dedupe_key(parse_webhook(body)))
        except InvalidEvent:
            return False
        return key in self._pending or self._seen.seen(key, self._clock())

    async def _publish_once(self, webhook: FlexWebhook, body: bytes, receiving: Receiving) -> WebhookAnswer:
        key = scoped_key(receiving.scope, dedupe_key(webhook))
        if self._seen.seen(key, self._clock()):
            return _answer(200, "duplicate", key=key)
        pub = self._pending.get(key)
        if pub is None:
            order = order_key(webhook.external_order_id or "", receiving.mid, by_merchant=True)
            if order in self._awaiting.results and self._held(webhook, order):
                return _answer(503, "held", "the order's batch result is not published yet; retry later", key)
            pub = self._pending[key] = self._publication(webhook, body, key, receiving)
        if not pub.running():
            pub.task = asyncio.create_task(self._produce(key, pub), name=f"webhook {key}")
            pub.task.add_done_callback(retrieve)
        assert pub.task is not None  # set just above  # noqa: S101
        # asyncio.wait, not wait_for(shield(…)): the task keeps running past the timeout either way,
        # and this costs no extra future per delivery (measured on the receiver's hot path).
        await asyncio.wait((pub.task,), timeout=self._timeout)
        failure = failure_of(pub.task)
        if failure is not None:
            return self._unavailable(key, failure)
        first, pub.answered = not pub.answered, True
        return _answer(200, "accepted" if first else "duplicate", key=key)

    def _held(self, webhook: FlexWebhook, order: str) -> bool:
        """Whether the outcome waits: ``order`` (the path's merchant's) awaits its batch result."""
        status = order_status(webhook)
        return status is not None and self._awaiting.holds(order, status.status)

    def _unavailable(self, key: str, failure: BaseException) -> WebhookAnswer:
        name = type(failure).__name__
        if isinstance(failure, TimeoutError | KafkaError):
            log.warning("webhook %s not acknowledged by Kafka (%s): answered 503", key, name)
            return _answer(503, "unavailable", "Kafka did not acknowledge the webhook; retry later", key)
        log.error("webhook %s failed: %s", key, name)  # a bug: nothing acknowledged, Flex must retry
        return _answer(503, "unavailable", "the webhook could not be published; retry later", key)

    def _publication(self, webhook: FlexWebhook, body: bytes, key: str, receiving: Receiving) -> Publication:
        topics, headers = self._topics, publication_headers(key, receiving.merchant)
        order_key = webhook.external_order_id.encode() if webhook.external_order_id else None
        records: list[tuple[str, bytes | None, bytes, Headers]] = []
        status = order_status(webhook, receiving.mid)  # detail.mid: the order's merchant (DESIGN.md §2.9)
        if status is not None and self._awaiting.latest.superseded(status):  # an old event: not news
            self._metrics.late_status("webhook", receiving.merchant or SINGLE_MERCHANT_NAME)
        elif status is not None:
            records.append((topics.status, *status_record(status), headers))  # keyed by its orderId
        records.append((topics.webhooks, order_key, body, headers))  # last: it marks the key as done
        return Publication(records, [False] * len(records))

    async def _produce(self, key: str, pub: Publication) -> None:
        for i, (topic, record_key, value, headers) in enumerate(pub.records):
            if not pub.acked[i]:
                await self._producer.send_and_wait(topic, value, record_key, headers=headers)
                pub.acked[i] = True
        self._seen.add(key, self._clock())
        if self._pending.get(key) is pub:
            del self._pending[key]

    async def _follow(self) -> None:
        """Tail ``flex.webhooks`` from the beginning; every dedupe header read is remembered. Paced:
        this worker's own publications are remembered at once, so only another worker's duplicate
        within ``tail_topic``'s pace (streams/kafka/clients.py ``FOLLOW_SECONDS``) passes."""
        await tail_topic(self._kafka, self._producer, self._topics.webhooks, self._remember, self._on_loaded)

    def _on_loaded(self) -> None:
        self._loaded.set()
        log.info("webhook dedupe keys read back: %d", len(self._seen))

    def _remember(self, records: Records) -> None:
        for rec in records:  # headers only: the bodies are never decoded here
            key = _dedupe_header(rec.headers)
            if key:
                at = rec.timestamp / 1000 if rec.timestamp and rec.timestamp > 0 else self._clock()
                self._seen.add(key.decode(errors="replace"), at)


def publication_headers(key: str, merchant: str | None) -> Headers:
    """The Kafka headers of both records of a webhook: its (scoped) dedupe key, and the name of the
    merchant whose path received it (named paths only)."""
    headers: Headers = [(DEDUPE_HEADER, key.encode())]
    if merchant is not None:
        headers.append((MERCHANT_HEADER, merchant.encode()))
    return headers


def _dedupe_header(headers: Sequence[tuple[str, bytes]] | None) -> bytes | None:
    for name, value in headers or ():
        if name == DEDUPE_HEADER:
            return value
    return None
