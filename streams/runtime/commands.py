"""The command agent: ``orders.commands`` → Flex refund / cancel / capture → ``orders.status``.

One Faust agent (concurrency 1), so the commands of an order run one after another, and each
updates the order table itself before the next is read. Bad data never stops it: a malformed
command is answered REJECTED (or dead-lettered when it names no order), and a command whose order
entry cannot be read, like one that meets a bug, is dead-lettered ``internal-error``; only a failure
to publish the answer (Kafka down) holds the command, retried until Kafka is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, get_args

import faust
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from consumers.commands import CommandOutcome, reject_command, run_command
from consumers.flex.client import FlexClient
from consumers.order_keys import resolve_command, status_mid
from consumers.order_machine import opens_no_order, record_command
from consumers.retry import OUTAGE, retry
from core.errors import InvalidEvent
from core.merchants import Merchants
from core.pan import mask_card_data
from core.settings import TopicSettings
from schemas.codec import decode_object
from schemas.commands import OrderCommand
from schemas.dlq import DlqReason
from schemas.status import OrderStatus, status_of
from streams.kafka.errors import kafka_op
from streams.runtime.dead_letters import dead_letter
from streams.runtime.logs import bind
from streams.runtime.metrics import NO_MERCHANT
from streams.runtime.orders import OrderBook, UnreadableOrder, raw_topic
from streams.runtime.services import BridgeRuntime
from streams.runtime.status import StatusPublisher

__all__ = ["CommandAgent", "MalformedCommand", "add_commands", "decode_command", "malformed_answer"]

log = logging.getLogger(__name__)


class CommandAgent:
    def __init__(self, topics: TopicSettings, runtime: BridgeRuntime, book: OrderBook) -> None:
        self._topics = topics
        self._runtime = runtime
        self._book = book
        self._metrics = runtime.metrics

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
            found = resolve_command(command, self._book.orders_of(command.order_id), merchants)
            state, merchant = found.state, found.merchant
            label = merchant.name if merchant is not None else NO_MERCHANT
            self._metrics.event_in(message.topic, label)
            bind(mid=merchant.mid if merchant is not None else None)
            if merchant is None or found.reason is not None:
                outcome = reject_command(command, state, merchants, found.reason)
            else:
                mine = command.model_copy(update={"mid": merchant.mid}) if merchant.mid else command
                outcome = await run_command(mine, state, flex.for_merchant(merchant))
            if not outcome.replayed:  # a replay changes nothing: its effect is recorded already
                await self._recorded(self._record(outcome), command)
        except Exception as exc:  # a bug must not stop the agent; no message: it may quote data  # noqa: BLE001
            if label is None:  # its order could not be read: counted in now, with no merchant
                self._metrics.event_in(message.topic, NO_MERCHANT)
            await self._internal_error(producer, message, command, exc, label or NO_MERCHANT)
            return
        await self._answer(producer, message, command, outcome, label)

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


class MalformedCommand(InvalidEvent):
    """A command that cannot be run; ``order_id`` (when readable) gets a REJECTED answer."""

    def __init__(
        self,
        message: str,
        order_id: str | None,
        command_id: str | None,
        mid: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.order_id = order_id
        self.command_id = command_id
        self.mid = mid
        self.kind = kind  # its type, when it is one of the three


def malformed_answer(bad: MalformedCommand, where: str) -> OrderStatus:
    """The REJECTED answer to a malformed command with a readable ``orderId``: ``detail`` names its
    ``commandId`` (null when unreadable), and its ``command`` type and ``mid`` when readable and
    valid; its eventId is the commandId, or ``where`` (``topic:partition:offset``) without one."""
    assert bad.order_id is not None  # only a command with an orderId is answered  # noqa: S101
    detail: dict[str, Any] = {"commandId": bad.command_id}
    if bad.kind is not None:
        detail["command"] = bad.kind
    if bad.mid is not None:
        detail["mid"] = bad.mid  # the merchant it names; the order's own is not looked up
    event_id, reason = bad.command_id or where, f"malformed command: {bad}"
    return status_of(bad.order_id, "REJECTED", "command", event_id, reason=reason, detail=detail)


_KINDS: Final = frozenset(get_args(OrderCommand.model_fields["type"].annotation))


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value.strip() else None


def decode_command(raw: bytes | None) -> OrderCommand:
    """The command in ``raw``; :class:`MalformedCommand` (an InvalidEvent) naming what can be read of it."""
    try:
        data = decode_object(raw)
    except InvalidEvent as exc:
        raise MalformedCommand(str(exc), None, None) from None
    try:
        return OrderCommand.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        order_id, mid, kind = _text(data, "orderId"), _text(data, "mid"), data.get("type")
        raise MalformedCommand(
            problems,
            order_id if order_id and len(order_id) <= 200 else None,
            _text(data, "commandId"),
            mid if mid and len(mid) <= 200 else None,
            kind if kind in _KINDS else None,
        ) from None


def add_commands(
    app: faust.App, topics: TopicSettings, runtime: BridgeRuntime, book: OrderBook
) -> CommandAgent:
    handler = CommandAgent(topics, runtime, book)

    @app.agent(raw_topic(app, topics.commands), name="flexbridge-order-commands")
    async def commands(stream: Any) -> None:
        async for event in stream.events():
            await handler.handle(event.message)

    return handler
