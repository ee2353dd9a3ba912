"""The record handler of the real-time flows: decode, skip finished work, run the flow, publish.

Everything about the data ends in an output (a status, a dead letter, a ledger entry); only a
failure to publish those outputs propagates, so the pipeline retries the record instead of
committing past it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeAlias

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from consumers.flows import Defaults, FlowClient, evaluate_decline, transmit_approval
from consumers.outcome import Outcome
from core.errors import InvalidEvent
from core.pan import find_pan
from core.settings import Settings
from schemas.codec import decode_object, encode_model
from schemas.dlq import DlqReason
from schemas.events import PaymentEvent, validate_payment_event
from streams.ops.selection import FORCE_HEADER
from streams.runtime.dead_letters import dead_letter
from streams.runtime.ledger import Ledger
from streams.runtime.logs import bind
from streams.runtime.metrics import Metrics

__all__ = ["Bridge", "decode_event", "event_from"]

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class Bridge:
    def __init__(
        self,
        settings: Settings,
        flex: FlowClient,
        producer: AIOKafkaProducer,
        ledger: Ledger,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._flex = flex
        self._producer = producer
        self._ledger = ledger
        self._metrics = metrics
        self._defaults = Defaults(settings.flex.mid, settings.flex.site_id, settings.pipeline.mit_expiry_days)

    def flow_of(self, topic: str) -> str:
        return "transmit" if topic == self._settings.topics.approved else "evaluate"

    async def handle(self, record: Record) -> None:
        self._metrics.event_in(record.topic)
        try:
            done = await self._process(record)
        except InvalidEvent as exc:
            await self._dead_letter(record, exc.reason, str(exc))  # type: ignore[arg-type]
            done = "dead-lettered"
        except KafkaError:
            raise  # outputs could not be published: the pipeline retries the record
        except Exception as exc:  # a bug must not hold the partition; no message: it may quote data
            log.error(
                "internal error on %s/%d@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                type(exc).__name__,
            )
            await self._dead_letter(
                record, "internal-error", f"{type(exc).__name__} while processing the record"
            )
            done = "dead-lettered"
        self._metrics.event_out(record.topic, done)

    async def _process(self, record: Record) -> str:
        flow = self.flow_of(record.topic)
        event = decode_event(record.value)
        bind(eventId=event.event_id)
        if self.routed_to_sftp(flow, event):
            return "routed-sftp"  # the batch consumer (streams/runtime/batch/consumer.py) sends it in a file
        if self._ledger.get(flow, event.event_id) is not None and not _forced(record):
            return "skipped"
        outcome = await self._run(flow, event)
        await self._publish(record, event, flow, outcome)
        return outcome.result

    def routed_to_sftp(self, flow: str, event: PaymentEvent) -> bool:
        """Managed MIT with FLEXBRIDGE_ROUTING__MIT=sftp, approvals with …__TRANSMIT=sftp."""
        routing = self._settings.routing
        if flow == "transmit":
            return routing.transmit == "sftp"
        return event.is_mit and routing.mit == "sftp"

    async def _run(self, flow: str, event: PaymentEvent) -> Outcome:
        if flow == "transmit":
            return await transmit_approval(event, self._flex, self._defaults)
        return await evaluate_decline(event, self._flex, self._defaults)

    async def _publish(self, record: Record, event: PaymentEvent, flow: str, outcome: Outcome) -> None:
        sends: list[Any] = []
        if outcome.status is not None:
            value = encode_model(outcome.status)
            sends.append(
                self._producer.send_and_wait(self._settings.topics.status, value, event.order_id.encode())
            )
        if outcome.dead_letter is not None:
            reason, error = outcome.dead_letter
            sends.append(self._dead_letter(record, reason, error))
        await asyncio.gather(*sends)
        # The ledger entry goes last: once it exists a redelivery is skipped, so the status and
        # dead letter it stands for must already be on their topics (a crash in between only
        # repeats them under the same idempotency key).
        if outcome.finished is not None:
            entry = {**outcome.finished, "eventId": event.event_id, "orderId": event.order_id}
            await self._ledger.record(flow, event.event_id, record.partition, entry)

    async def _dead_letter(self, record: Record, reason: DlqReason, error: str) -> None:
        await dead_letter(self._producer, self._settings.topics.dlq, record, reason, error, self._metrics)


def _forced(record: Record) -> bool:
    """A replay with ``--force`` re-processes finished work (under the same idempotency keys)."""
    return any(k == FORCE_HEADER and v == b"1" for k, v in record.headers or ())


def decode_event(raw: bytes | None) -> PaymentEvent:
    """One record value as a PaymentEvent, or InvalidEvent (``schema`` or ``pan-detected``)."""
    return event_from(decode_object(raw))


def event_from(data: dict[str, Any]) -> PaymentEvent:
    """A decoded record value as a PaymentEvent (refusing card numbers), or InvalidEvent."""
    where = find_pan(data)
    if where is not None:
        raise InvalidEvent(
            f"{where} holds a card number (PAN); send a Flex token instead", reason="pan-detected"
        )
    return validate_payment_event(data)
