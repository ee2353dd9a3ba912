"""The command agent: ``orders.commands`` → Flex refund / cancel / capture → ``orders.status``.

One Faust agent runs up to ``FLEXBRIDGE_ORDERS__COMMANDS_IN_FLIGHT`` commands at once
(streams/runtime/keyed_tasks.py), at most one of each orderId: a command whose order has one in
flight waits for it (and the agent reads no further meanwhile), so each updates the order table
itself before the next of its order starts, and two refunds of one order are never both checked
against the same "refunded so far". Each command is acked once answered (the stream does not ack on
its own): Faust commits a partition's offsets only up to its first command not answered yet, and a
rebalance waits for the commands in flight (``stream_wait_empty``), as it waited for the one command
before: for the slowest of them and the one command read that waits for a slot or its order, never
for a queue. Bad data never stops it: a malformed command is answered REJECTED (or dead-lettered
when it names no order), and a command whose order entry cannot be read, like one that meets a bug,
is dead-lettered ``internal-error``; only a failure to publish the answer (Kafka down) holds the
command, retried until Kafka is back. A command off its orderId's partition (a producer not
partitioning by murmur2) is produced again to it and answered there (:meth:`CommandAgent.forward`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from consumers.command_input import MalformedCommand, decode_command, malformed_answer, order_of
from consumers.command_plan import refused_as_it_stands
from consumers.commands import CommandOutcome, reject_command, run_command
from consumers.flex.client import FlexClient
from consumers.order_keys import Resolved, resolve_command, status_mid
from consumers.order_machine import opens_no_order, record_command
from consumers.retry import OUTAGE, retry
from core.merchants import Merchants
from core.pan import mask_card_data
from core.settings import TopicSettings
from schemas.commands import FORWARDED, OrderCommand
from schemas.dlq import DlqReason
from schemas.order_state import OrderState, SentCall
from schemas.status import OrderStatus
from streams.kafka.bulk import partition_for
from streams.kafka.errors import kafka_op
from streams.runtime.dead_letters import dead_letter
from streams.runtime.keyed_tasks import KeyedTasks
from streams.runtime.logs import bind
from streams.runtime.metrics import NO_MERCHANT
from streams.runtime.orders import OrderBook, UnreadableOrder, raw_topic
from streams.runtime.services import BridgeRuntime
from streams.runtime.status import StatusPublisher

__all__ = ["CommandAgent", "add_commands"]

log = logging.getLogger(__name__)


class CommandAgent:
    def __init__(self, topics: TopicSettings, runtime: BridgeRuntime, book: OrderBook) -> None:
        self._topics = topics
        self._runtime = runtime
        self._book = book
        self._metrics = runtime.metrics
        self._forwarding = False  # warned once that commands arrive off their order's partition

    async def handle(self, message: Any) -> None:
        """One ``orders.commands`` record (a Faust Message: topic, partition, offset, key, value)."""
        producer, flex = await self._runtime.clients()
        merchants = self._runtime.merchants()
        try:
            command = decode_command(message.value)
        except MalformedCommand as bad:
            await self._malformed(producer, message, bad)
            self._metrics.event_in(message.topic)
            self._metrics.event_out(message.topic, "rejected")
            return
        self._book.in_use.add(command.order_id)  # not forgotten while Flex is asked (OrderBook.forget)
        try:
            await self._handle(message, command, producer, flex, merchants)
        finally:
            self._book.in_use.discard(command.order_id)

    async def handle_and_ack(self, stream: Any, event: Any, order_id: str | None = None) -> None:
        """:meth:`handle` the event's command (of ``order_id``, as :func:`order_of` reads it), or
        :meth:`forward` it to its order's partition, then ack it. A command is acked even when
        handling it raised (logged): left unacked, it would hold its partition's commits, and every
        rebalance would wait for it. Not when cancelled: the worker stops, and the next owner runs it."""
        try:
            if not await self.forward(event.message, order_id):
                await self.handle(event.message)
        except Exception as exc:  # noqa: BLE001  # its class only: the message may quote data
            log.error("command at offset %d not handled: %s", event.message.offset, type(exc).__name__)
        await stream.ack(event)

    async def forward(self, message: Any, order_id: str | None) -> bool:
        """Whether the command was off its order's partition, and so produced again to it (with a
        ``flexbridge-forwarded-from`` header: partition/offset) instead of being handled here. An
        order's table entry lives in its orderId's partition as Kafka's default partitioner (murmur2)
        places it, where its statuses go, and only the worker holding that partition has it; a
        producer with another partitioner (librdkafka's default hashes keys with CRC32), or keying
        commands otherwise, would have its commands answered by a worker that does not know the order."""
        if order_id is None:
            return False
        partitions = self._runtime.settings.kafka.topic_partitions  # the topic's: checked at start
        home = partition_for(order_id.encode(), partitions)
        if home == message.partition:
            return False
        producer, _ = await self._runtime.clients()
        headers = [*(message.headers or ()), (FORWARDED, f"{message.partition}/{message.offset}".encode())]
        await self._publish(
            lambda: producer.send_and_wait(
                message.topic, message.value, order_id.encode(), partition=home, headers=headers
            )
        )
        self._metrics.event_out(message.topic, "forwarded")
        if not self._forwarding:
            self._forwarding = True
            log.warning(
                "commands arrive off their order's partition of %s (a producer not partitioning by "
                "murmur2 of the orderId, e.g. librdkafka's default): each is produced again to it "
                "(docs/consumers.md)",
                message.topic,
            )
        return True

    async def _handle(
        self,
        message: Any,
        command: OrderCommand,
        producer: AIOKafkaProducer,
        flex: FlexClient,
        merchants: Merchants,
    ) -> None:
        label: str | None = None  # the command's merchant (metric label), once its order is read
        try:
            # a command belongs to its order's merchant: the one merchant with its orderId, or its
            # mid's. Read inside the error handling: an order entry this release cannot read
            # (corrupt, or another release's) dead-letters the command like any bug, instead of
            # crashing the agent (Faust restarts it, and the command is left without an answer)
            found = await self._resolve(message, command, merchants)
            state, merchant = found.state, found.merchant
            label = merchant.name if merchant is not None else NO_MERCHANT
            self._metrics.event_in(message.topic, label)
            bind(mid=merchant.mid if merchant is not None else None)
            if merchant is None or found.reason is not None:
                outcome = reject_command(command, state, merchants, found.reason)
            else:
                mine = command.model_copy(update={"mid": merchant.mid}) if merchant.mid else command
                mark_sent = partial(self._mark_sent, mine)
                outcome = await run_command(mine, state, flex.for_merchant(merchant), mark_sent)
            if not outcome.replayed:  # a replay changes nothing: its effect is recorded already
                await self._recorded(self._record(outcome), command)
        except Exception as exc:  # a bug must not stop the agent; no message: it may quote data  # noqa: BLE001
            if label is None:  # its order could not be read: counted in now, with no merchant
                self._metrics.event_in(message.topic, NO_MERCHANT)
            await self._internal_error(producer, message, command, exc, label or NO_MERCHANT)
            return
        await self._answer(producer, message, command, outcome, label)

    async def _resolve(self, message: Any, command: OrderCommand, merchants: Merchants) -> Resolved:
        """The command's order and merchant (``resolve_command``), resolved again once the statuses
        of its partition read before it are folded (streams/runtime/folds.py) when it would be
        refused as things stand: a command that names no merchant finds one only through its order
        (with several merchants), so one whose order the table lacks waits for it; and a command the
        order's state would refuse waits, since the status it was sent for (a downstream service
        refunding as soon as it reads APPROVED) may be among those read and not folded yet. In
        steady state a partition is folded to its end, and neither waits."""
        book, order_id = self._book, command.order_id
        found = resolve_command(command, book.orders_of(order_id), merchants)
        if found.merchant is None and found.reason is None:
            await book.folds.wait(message.partition, lambda: bool(book.orders_of(order_id)))
            found = resolve_command(command, book.orders_of(order_id), merchants)
        if found.merchant is not None and found.reason is None and refused_as_it_stands(command, found.state):
            await book.folds.wait(message.partition, lambda: False)
            found = resolve_command(command, book.orders_of(order_id), merchants)
        return found

    async def _internal_error(
        self, producer: AIOKafkaProducer, message: Any, command: OrderCommand, exc: Exception, label: str
    ) -> None:
        """A bug met on ``command``: logged (the exception's class only: its message may quote
        data; an unreadable order entry's names no value), the command dead-lettered
        ``internal-error``, to be replayed once fixed."""
        name = type(exc).__name__
        error = str(exc) if isinstance(exc, UnreadableOrder) else f"{name} while processing the command"
        log.error("internal error on command %s: %s", command.command_id, error)
        await self._publish(lambda: self._dead_letter(producer, message, "internal-error", error, label))
        self._metrics.event_out(message.topic, "dead-lettered", label)

    def _record(self, outcome: CommandOutcome) -> asyncio.Future[Any] | None:
        """The command's effect on its order, at once, under the key its answer is folded into; the
        future of its changelog record."""
        answer = outcome.answer
        mid = status_mid(answer)
        fresh = self._book.get(answer.order_id, mid)  # the status agent may have moved it meanwhile
        if fresh is None and opens_no_order(answer):
            return None  # refused for an order the merchant does not have: no order is made for it
        state = record_command(fresh, answer, outcome.record, outcome.changes)
        if mid is not None and state.mid is None:
            state = state.model_copy(update={"mid": mid})
        return self._book.put(state, mid)

    async def _mark_sent(self, command: OrderCommand, sent: SentCall) -> None:
        """Record in the order (under its answer's key) the refund or capture call about to be made,
        and wait until Kafka has it: a worker that dies after the call leaves the next owner of the
        order that record, and the command is sent again as it was (consumers/sent_calls.py)."""
        mid = command.mid
        state = self._book.get(command.order_id, mid) or OrderState(order_id=command.order_id, mid=mid)
        marked = state.model_copy(update={"calls_sent": {**state.calls_sent, command.command_id: sent}})
        await self._recorded(self._book.put(marked, mid), command)

    @staticmethod
    async def _recorded(sent: asyncio.Future[Any] | None, command: OrderCommand) -> None:
        """Wait until Kafka has the command's record in the order table's changelog, before its
        answer goes out. Otherwise a worker stopped in between (the command's offset is not
        committed yet) would leave the next owner of the order a table without the record: it would
        run the command again, and answer it a second time, differently (REJECTED: already
        refunded). A record that fails is logged; the effect happened at Flex, so it is answered."""
        if sent is None:
            return
        await asyncio.wait([sent])
        if not sent.cancelled() and sent.exception() is not None:
            log.warning("command %s: its order table record failed to reach Kafka", command.command_id)

    async def _answer(
        self,
        producer: AIOKafkaProducer,
        message: Any,
        command: OrderCommand,
        outcome: CommandOutcome,
        label: str,
    ) -> None:
        await self._publish(lambda: self._send_status(producer, outcome.answer))
        if outcome.dead_letter is not None:
            reason, error = outcome.dead_letter
            await self._publish(lambda: self._dead_letter(producer, message, reason, error, label))
        self._metrics.command(command.type, outcome.answer.status)
        done = "replayed" if outcome.replayed else outcome.answer.status.lower()
        self._metrics.event_out(message.topic, done, label)
        log.info(
            "command %s (%s) on %s → %s%s",
            command.command_id,
            command.type,
            command.order_id,
            outcome.answer.status,
            " (replay)" if outcome.replayed else "",
        )

    async def _malformed(self, producer: AIOKafkaProducer, message: Any, bad: MalformedCommand) -> None:
        if bad.order_id is None:
            # a command is searched by no field names (its message is free text): one whose text may
            # hold a card number goes as pan-detected, so its dead letter is masked and never redriven
            value = message.value or b""
            reason: DlqReason = "pan-detected" if mask_card_data(value) != value else "schema"
            error = str(bad) + ("; it holds what may be a card number" if reason == "pan-detected" else "")
            await self._publish(lambda: self._dead_letter(producer, message, reason, error))
            return
        answer = malformed_answer(bad, f"{message.topic}:{message.partition}:{message.offset}")
        await self._publish(lambda: self._send_status(producer, answer))

    async def _send_status(self, producer: AIOKafkaProducer, status: OrderStatus) -> None:
        await StatusPublisher(producer, self._topics.status).publish(status)

    async def _dead_letter(
        self,
        producer: AIOKafkaProducer,
        message: Any,
        reason: DlqReason,
        error: str,
        label: str = NO_MERCHANT,
    ) -> None:
        await dead_letter(producer, self._topics.dlq, message, reason, error, self._metrics, merchant=label)

    @staticmethod
    async def _publish(send: Callable[[], Awaitable[None]]) -> None:
        """Retry a publish while Kafka is unavailable: an answer is never dropped for an outage."""
        await retry(kafka_op(send), OUTAGE, what="publishing a command answer", log=log)


def add_commands(
    app: faust.App, topics: TopicSettings, runtime: BridgeRuntime, book: OrderBook, in_flight: int
) -> CommandAgent:
    handler = CommandAgent(topics, runtime, book)

    @app.agent(raw_topic(app, topics.commands), name="flexbridge-order-commands")
    async def commands(stream: Any) -> None:
        manual = stream.noack()  # each command acked once answered, by handle_and_ack
        running = KeyedTasks(in_flight)
        try:
            async for event in manual.events():
                key = order_of(event.message.value)
                await running.start(key, partial(handler.handle_and_ack, manual, event, key))
        except asyncio.CancelledError:  # the worker stops: the commands not answered are read again
            await running.stop()
            raise
        # anything else (Faust restarts the agent): the commands in flight finish and are acked

    return handler
