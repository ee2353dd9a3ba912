"""The record handler of the real-time flows: decode, find the merchant, skip finished work, run the
flow as that merchant, publish.

An event's ``mid`` selects its merchant (DESIGN.md §2.9); an event no merchant owns is dead-lettered
as ``unknown-merchant``. The Flex call runs as the merchant (its token, its ``mid`` and ``siteId``
defaults) within the merchant's share of the in-flight slots (``consumers/flex/slots.py``).

A record its merchant's routing sends to an SFTP batch file is the batch consumer's
(streams/runtime/batch/consumer.py): :meth:`Bridge.to_batch` tells the pipeline so before it runs a
task for it, and the pipeline counts it done at once. Only valid records are left so; every
refused one is handled here, so its dead letter is written exactly once, by this bridge.

Flex's answer to an ``/evaluate`` that comes after the order's later news about that same Flex order
(streams/runtime/latest_statuses.py) is published marked ``detail.late``: it is the event's outcome,
and older than what the topic already holds of its order.

Everything about the data ends in an output (a status, a dead letter, a ledger entry); only a
failure to publish those outputs propagates, so the pipeline retries the record instead of
committing past it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, runtime_checkable

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError

from consumers.flex.slots import MerchantSlots
from consumers.flows import FlowClient, evaluate_decline, transmit_approval
from consumers.intake import Flow, Refused, route_to_merchant
from consumers.outcome import Outcome
from consumers.split import batch_bound
from core.errors import InvalidEvent
from core.merchants import Merchant
from schemas.dlq import DlqReason
from schemas.events import PaymentEvent
from schemas.replay import forced
from schemas.status import OrderStatus
from streams.runtime.dead_letters import dead_letter, internal_error
from streams.runtime.deps import Deps
from streams.runtime.latest_statuses import LatestStatuses
from streams.runtime.ledger import Ledger
from streams.runtime.logs import bind
from streams.runtime.metrics import NO_MERCHANT
from streams.runtime.status import StatusPublisher

__all__ = ["Bridge", "MerchantFlex"]

log = logging.getLogger(__name__)


Record: TypeAlias = ConsumerRecord[bytes, bytes]


@runtime_checkable
class MerchantFlex(Protocol):
    """A Flex client that calls as any merchant (``consumers.flex.client.FlexClient``)."""

    def for_merchant(self, merchant: Merchant) -> FlowClient: ...


class Bridge:
    """``flex`` calls as each merchant (``for_merchant``), or is the one merchant's client;
    ``slots`` are the merchants' shares of the pipeline's slots (None: no share); ``latest`` is
    what the worker's follower of ``orders.status`` knows of each order (None: nothing)."""

    def __init__(
        self,
        deps: Deps,
        flex: FlowClient | MerchantFlex,
        ledger: Ledger,
        slots: MerchantSlots | None = None,
        *,
        latest: LatestStatuses | None = None,
    ) -> None:
        self._deps, self._topics = deps, deps.topics
        self._merchants = deps.served()
        self._flex = flex
        self._slots = slots
        self._producer = deps.producer
        self._statuses = StatusPublisher(deps.producer, deps.topics.status)
        self._ledger = ledger
        self._latest = latest
        self._metrics = deps.metrics
        self._to_files = {  # whether any merchant's routing sends some records of the flow to files
            "transmit": any(m.routing.uses_sftp("transmit") for m in self._merchants),
            "evaluate": any(m.routing.uses_sftp("mit") for m in self._merchants),
        }
        self._to_batch: Counter[tuple[str, str]] = Counter()  # (topic, merchant) → records not counted yet

    def flow_of(self, topic: str) -> Flow:
        return "transmit" if topic == self._topics.approved else "evaluate"

    def to_batch(self, record: Record) -> bool:
        """Whether ``record`` is the batch path's (consumers/split.py), counted here as
        ``routed-sftp`` (by :meth:`count_to_batch`): it needs no task, call or output of the
        real-time path, and the batch path files it or dead-letters it. False for anything else,
        which :meth:`handle` takes."""
        flow = self.flow_of(record.topic)
        if not self._to_files[flow]:
            return False
        try:
            bound = batch_bound(record.value, flow, self._merchants, record.timestamp)
        except Exception:  # noqa: BLE001  # handle() meets it again and dead-letters the record
            return False
        if bound is None:
            return False
        self._to_batch[record.topic, bound.merchant.name] += 1
        return True

    def count_to_batch(self) -> None:
        """Count the records :meth:`to_batch` left to the batch path since the last time: once per
        topic and merchant (the pipeline calls it after each fetch), not a metric update per record."""
        for (topic, merchant), count in self._to_batch.items():
            self._metrics.event_in(topic, merchant, count)
            self._metrics.event_out(topic, "routed-sftp", merchant, count)
        self._to_batch.clear()

    async def handle(self, record: Record) -> None:
        seen, flow = _Seen(), self.flow_of(record.topic)
        try:
            done = await self._process(record, flow, seen)
        except InvalidEvent as exc:
            await self._dead_letter(record, exc.reason, str(exc), seen)  # type: ignore[arg-type]
            done = "dead-lettered"
        except KafkaError:
            raise  # outputs could not be published: the pipeline retries the record
        except Exception as exc:  # a bug must not hold the partition  # noqa: BLE001
            error = internal_error(record, exc, "processing the record")
            await self._dead_letter(record, "internal-error", error, seen)
            done = "dead-lettered"
        self._metrics.event_in(record.topic, seen.merchant)
        self._metrics.event_out(record.topic, done, seen.merchant)
        if seen.decided is not None:  # not when skipped (finished before) or left to the batch path
            self._metrics.finished(flow, record.timestamp, seen.decided)

    async def _process(self, record: Record, flow: Flow, seen: _Seen) -> str:
        routed = route_to_merchant(record.value, flow, self._merchants, record.timestamp)
        if isinstance(routed, Refused):
            if routed.merchant is not None:  # its value names a merchant of ours: counted as its
                seen.merchant = routed.merchant.name
            await self._dead_letter(record, routed.reason, routed.message, seen)
            return "dead-lettered"
        event, merchant = routed.event, routed.merchant
        assert merchant is not None  # route_to_merchant sets it  # noqa: S101
        seen.merchant = merchant.name
        bind(eventId=event.event_id, mid=merchant.mid or event.mid)
        if routed.route == "sftp":  # to_batch gives every such event to the batch path: a bug
            raise RuntimeError("an event routed to SFTP was not left to the batch path")
        if self._ledger.has(flow, event.event_id) and not forced(record.headers):
            return "skipped"
        if self._slots is None:
            outcome = await self._run(flow, event, merchant)
        else:
            async with self._slots.hold(merchant.name):
                outcome = await self._run(flow, event, merchant)
        await self._publish(record, event, flow, outcome, seen)
        return outcome.result

    async def _run(self, flow: Flow, event: PaymentEvent, merchant: Merchant) -> Outcome:
        flex = self._flex.for_merchant(merchant) if isinstance(self._flex, MerchantFlex) else self._flex
        defaults = self._deps.defaults_for(merchant)
        if flow == "transmit":
            return await transmit_approval(event, flex, defaults)
        return await evaluate_decline(event, flex, defaults)

    async def _publish(
        self, record: Record, event: PaymentEvent, flow: str, outcome: Outcome, seen: _Seen
    ) -> None:
        sends: list[Any] = []
        status = outcome.status
        if status is not None and self._latest is not None and self._latest.superseded(status):
            status = _late(status)
            log.info("Flex's answer to event %s came after later news of its order: late", event.event_id)
            self._metrics.late_status(status.source, seen.merchant)
        if status is not None:
            sends.append(self._statuses.publish(status))
        if outcome.dead_letter is not None:
            reason, error = outcome.dead_letter
            sends.append(self._dead_letter(record, reason, error, seen))
        await asyncio.gather(*sends)
        if sends:
            seen.decided = time.time()
        # The ledger entry goes last: once it exists a redelivery is skipped, so the status and
        # dead letter it stands for must already be on their topics (a crash in between only
        # repeats them under the same idempotency key).
        if outcome.finished is not None:
            entry = {**outcome.finished, "eventId": event.event_id, "orderId": event.order_id}
            await self._ledger.record(flow, event.event_id, record.partition, entry)
        if seen.decided is None:  # no status: a transmit's result is its ledger entry
            seen.decided = time.time()

    async def _dead_letter(self, record: Record, reason: DlqReason, error: str, seen: _Seen) -> None:
        topic, metrics = self._topics.dlq, self._metrics
        await dead_letter(self._producer, topic, record, reason, error, metrics, merchant=seen.merchant)
        seen.decided = time.time()


def _late(status: OrderStatus) -> OrderStatus:
    """``status`` marked as older than its order's latest status (``detail.late``): readers record
    it and apply it only where it can follow the order's state (consumers/order_machine.py: the
    verdict ``late`` where it cannot)."""
    reason = (
        "Flex's answer came after later news of this Flex order: applied only where it can follow that news"
    )
    return status.model_copy(update={"detail": {**status.detail, "late": True}, "reason": reason})


@dataclass(slots=True)
class _Seen:
    """What one record's handling learnt: its merchant's name (the label of its metrics), and when
    its result was on Kafka (epoch seconds): its status or dead letter, else its ledger entry."""

    merchant: str = NO_MERCHANT
    decided: float | None = None
