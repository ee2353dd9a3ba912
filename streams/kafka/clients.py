"""aiokafka clients built from the settings: one place for connection, security, producer, consumer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any, Literal, TypeVar

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError

from core.settings import KafkaSettings
from streams.kafka.bulk import key_partitioner
from streams.kafka.ends import end_of, fetched_end

Client = TypeVar("Client", AIOKafkaConsumer, AIOKafkaProducer)
PartitionsHook = Callable[[Collection[TopicPartition]], Awaitable[None]]

__all__ = [
    "Rebalance",
    "Records",
    "caught_up",
    "client_options",
    "make_consumer",
    "make_producer",
    "read_to_end",
    "read_topic",
    "started",
    "tail_topic",
]

Records = list[ConsumerRecord[bytes, bytes]]

log = logging.getLogger(__name__)


class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """A consumer's rebalance listener that hands each event to a callback of its owner."""

    def __init__(self, revoked: PartitionsHook, assigned: PartitionsHook) -> None:
        self._revoked, self._assigned = revoked, assigned

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        await self._revoked(revoked)

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        await self._assigned(assigned)


def client_options(k: KafkaSettings) -> dict[str, Any]:
    """Options every aiokafka client takes: servers, client id, TLS and SASL."""
    opts: dict[str, Any] = {"bootstrap_servers": k.bootstrap_servers, "client_id": k.client_id}
    if k.security_protocol != "PLAINTEXT":
        opts["security_protocol"] = k.security_protocol
    if k.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        opts["ssl_context"] = create_ssl_context(cafile=str(k.ssl_cafile) if k.ssl_cafile else None)
    if k.sasl_mechanism:
        opts["sasl_mechanism"] = k.sasl_mechanism
        opts["sasl_plain_username"] = k.sasl_username
        opts["sasl_plain_password"] = k.sasl_password.get_secret_value() if k.sasl_password else None
    return opts


async def started(client: Client) -> Client:
    """``client`` started, or stopped again and the error raised: an unreachable broker then leaves
    no open connection behind (nor aiokafka's "Unclosed" warning when the client is collected).
    Started, its background tasks get their first step at once: a group-less consumer stopped
    before its task ever ran raises CancelledError from ``stop()`` (aiokafka 0.14's
    NoGroupCoordinator.close awaits the task it cancelled)."""
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise
    await asyncio.sleep(0)
    return client


def make_producer(k: KafkaSettings, **extra: Any) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas; idempotent unless the broker refuses it.
    Keyed records land where aiokafka's default partitioner puts them (murmur2), in half its time."""
    return AIOKafkaProducer(
        **client_options(k),
        acks="all",
        enable_idempotence=k.enable_idempotence,
        compression_type=None if k.compression_type == "none" else k.compression_type,
        # aiokafka keeps one produce request in flight per broker and batches what queues meanwhile;
        # a linger only delays each request. Measured on the embedded broker, 64 senders each awaiting
        # two acknowledgements in turn: ~9,500 pairs/s with linger_ms=2, ~33,000 with 0.
        linger_ms=0,
        partitioner=key_partitioner,
        **extra,
    )


def make_consumer(
    k: KafkaSettings,
    *,
    group_id: str | None = None,
    max_poll_records: int | None = None,
    offset_reset: Literal["earliest", "latest"] = "earliest",
    reads_to_end: bool = False,
) -> AIOKafkaConsumer:
    """A consumer that commits only when told to.

    With ``group_id``: a group member with the configured session, heartbeat and rebalance timeouts
    and fetch wait (the embedded broker needs the short ones the local stack sets). Without: a
    reader that assigns its partitions itself, with the broker's default fetch wait (500 ms: an
    idle follower costs little) unless ``reads_to_end``: a reader that stops at the end (the
    ledger's load, the batch registry's on assignment, ``flexbridge reconcile``) takes the
    configured wait too, since its last, empty fetch is held that long.
    Closing without LeaveGroup, when configured, is process-wide (streams/kafka/membership.py).
    It reads with ``FLEXBRIDGE_KAFKA__ISOLATION_LEVEL`` (``read_committed``: no record of an aborted
    producer transaction is ever handed out).
    """
    opts: dict[str, Any] = {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": offset_reset,
        "isolation_level": k.isolation_level,
    }
    if group_id is not None or reads_to_end:
        opts["fetch_max_wait_ms"] = k.fetch_max_wait_ms
    if group_id is not None:
        opts.update(
            session_timeout_ms=k.session_timeout_ms,
            heartbeat_interval_ms=k.heartbeat_interval_ms,
            rebalance_timeout_ms=k.rebalance_timeout_ms,
        )
    if max_poll_records is not None:
        opts["max_poll_records"] = max_poll_records
    return AIOKafkaConsumer(**client_options(k), **opts)


async def caught_up(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> bool:
    """Whether the consumer has read ``tp`` up to ``end`` (a ListOffsets answer) and the end its
    fetches report (:func:`~streams.kafka.ends.fetched_end`: read_committed, the last stable offset).

    Both, because the embedded broker's ListOffsets answers one past the *first* record of the
    last batch: trusting it alone stops short whenever several records were produced in one batch.
    """
    if end == 0:
        return True
    fetched = fetched_end(consumer, tp)
    return fetched is not None and await consumer.position(tp) >= end_of(end, fetched)


async def read_to_end(
    consumer: AIOKafkaConsumer, tps: Collection[TopicPartition]
) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]:
    """Records of the assigned ``tps`` from their positions up to the end they had when called."""
    ends = await consumer.end_offsets(list(tps))
    todo = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
    while todo:
        for tp, records in (await consumer.getmany(*todo, timeout_ms=500)).items():
            yield tp, records
        todo = {tp for tp in todo if not await caught_up(consumer, tp, ends[tp])}


async def read_topic(
    kafka: str | KafkaSettings, topic: str, *, must_exist: bool = False
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record currently in ``topic`` (all partitions, from the beginning up to the end), in
    each partition's order; ``kafka`` is the settings (security included) or a bootstrap address.
    A topic that does not exist has none, or with ``must_exist`` raises LookupError."""
    k = KafkaSettings(bootstrap_servers=kafka) if isinstance(kafka, str) else kafka
    consumer = await started(make_consumer(k, reads_to_end=True))
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps and must_exist:
            raise LookupError(f"topic {topic!r} does not exist")
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[ConsumerRecord[bytes, bytes]] = []
        async for _tp, records in read_to_end(consumer, tps):
            out.extend(records)
        return out
    finally:
        await consumer.stop()


# Once caught up, a follower reads at most this often while records keep coming: a burst (of webhooks,
# of statuses) is fetched in a few large reads, not one per record or two
FOLLOW_SECONDS = 0.1


async def tail_topic(
    k: KafkaSettings,
    producer: AIOKafkaProducer,
    topic: str,
    on_records: Callable[[Records], None],
    on_loaded: Callable[[], None],
    *,
    seek: Callable[[AIOKafkaConsumer, list[TopicPartition]], Awaitable[None]] | None = None,
    pace_seconds: float = FOLLOW_SECONDS,
) -> None:
    """Read every partition of ``topic`` and keep following it, never returning.

    A reader without a group (``producer`` answers the partition metadata) starts at the beginning,
    or where ``seek`` puts it; ``on_records`` gets each fetched batch of one partition, in order.
    ``on_loaded`` is called once, when every partition has been read up to the end it had at the
    start (:func:`caught_up`). From then on it waits ``pace_seconds`` after each read that brought
    records: a burst arrives in a few large fetches instead of one per record or two, and
    ``on_records`` gets a record up to that much later. A failed fetch is logged and retried a
    second later.
    """
    consumer = make_consumer(k, offset_reset="latest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(await producer.partitions_for(topic))]
        consumer.assign(tps)
        await (seek(consumer, tps) if seek is not None else consumer.seek_to_beginning(*tps))
        ends = await consumer.end_offsets(tps)
        loaded = False
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            except KafkaError as exc:
                log.warning("reading %s failed (%s); retrying", topic, type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                on_records(records)
            if not loaded and all([await caught_up(consumer, tp, ends[tp]) for tp in tps]):
                loaded = True
                on_loaded()
            elif loaded and batches and pace_seconds:
                await asyncio.sleep(pace_seconds)
    finally:
        await consumer.stop()
