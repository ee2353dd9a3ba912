"""The record handler of the real-time flows: decode, skip finished work, run the flow, publish.

Everything about the data ends in an output (a status, a dead letter, a ledger entry); only a
failure to publish those outputs propagates, so the pipeline retries the record instead of
committing past it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError

from consumers.flows import FlowClient, evaluate_decline, transmit_approval
from consumers.intake import Flow, Refused, decode_and_route
from consumers.outcome import Outcome
from core.errors import InvalidEvent
from schemas.dlq import DlqReason
from schemas.events import PaymentEvent
from streams.ops.selection import FORCE_HEADER
from streams.runtime.dead_letters import dead_letter
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.logs import bind
from streams.runtime.status import StatusPublisher

__all__ = ["Bridge"]

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class Bridge:
    def __init__(self, deps: Deps, flex: FlowClient, ledger: Ledger) -> None:
        self._topics, self._routing, self._defaults = deps.topics, deps.routing, deps.defaults
        self._flex = flex
        self._producer = deps.producer
        self._statuses = StatusPublisher(deps.producer, deps.topics.status)
        self._ledger = ledger
        self._metrics = deps.metrics

    def flow_of(self, topic: str) -> Flow:
        return "transmit" if topic == self._topics.approved else "evaluate"

    async def handle(self, record: Record) -> None:
        self._metrics.event_in(record.topic)
        try:
            done = await self._process(record)
        except InvalidEvent as exc:
            await self._dead_letter(record, exc.reason, str(exc))  # type: ignore[arg-type]
            done = "dead-lettered"
        except KafkaError:
            raise  # outputs could not be published: the pipeline retries the record
        except Exception as exc:  # a bug must not hold the partition; no message: it may quote data  # noqa: BLE001
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
        routed = decode_and_route(record.value, flow, self._routing)
        if isinstance(routed, Refused):
            await self._dead_letter(record, routed.reason, routed.message)
            return "dead-lettered"
        event = routed.event
        bind(eventId=event.event_id)
        if routed.route == "sftp":
            return "routed-sftp"  # the batch consumer (streams/runtime/batch/consumer.py) sends it in a file
        if self._ledger.get(flow, event.event_id) is not None and not _forced(record):
            return "skipped"
        outcome = await self._run(flow, event)
        await self._publish(record, event, flow, outcome)
        return outcome.result

    async def _run(self, flow: Flow, event: PaymentEvent) -> Outcome:
        if flow == "transmit":
            return await transmit_approval(event, self._flex, self._defaults)
        return await evaluate_decline(event, self._flex, self._defaults)

    async def _publish(self, record: Record, event: PaymentEvent, flow: str, outcome: Outcome) -> None:
        sends: list[Any] = []
        if outcome.status is not None:
            sends.append(self._statuses.publish(outcome.status))
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
        await dead_letter(self._producer, self._topics.dlq, record, reason, error, self._metrics)


def _forced(record: Record) -> bool:
    """A replay with ``--force`` re-processes finished work (under the same idempotency keys)."""
    return any(k == FORCE_HEADER and v == b"1" for k, v in record.headers or ())
