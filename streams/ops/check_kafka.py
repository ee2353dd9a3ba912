"""The Kafka checks of ``flexbridge check``: the broker answers, the topics, their retention against
flexbridge's memory of finished work (docs/operations.md, production checklist), the idempotent
producer."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from core.config import ConfigError
from core.settings import Settings
from streams.kafka.clients import client_options
from streams.kafka.preflight import order_topics_mismatch, probe_idempotence, wait_for_broker
from streams.kafka.topics import all_topics, partition_counts, retentions
from streams.ops.check import CheckResult

__all__ = ["BROKER_TIMEOUT_SECONDS", "kafka_checks", "worker_topics"]

BROKER_TIMEOUT_SECONDS = 5.0  # a preflight answers fast; the worker itself waits startup_timeout_seconds
_SERVERS = "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS"


def worker_topics(settings: Settings) -> list[str]:
    """The topics a worker with these settings creates when they are missing."""
    names = all_topics(settings.topics)
    if settings.routing.sftp_routes:
        names.append(settings.topics.batches)  # made by the batch path
    return names


async def _broker(settings: Settings) -> CheckResult:
    k = settings.kafka
    timeout = min(BROKER_TIMEOUT_SECONDS, k.startup_timeout_seconds)
    try:
        await wait_for_broker(k.bootstrap_servers, timeout, **client_options(k))
    except TimeoutError as exc:
        fix = (
            "point it at a reachable broker (host:port,…); "
            "with TLS or SASL check FLEXBRIDGE_KAFKA__SECURITY_PROTOCOL"
        )
        return CheckResult("kafka broker", False, str(exc), _SERVERS, fix)
    return CheckResult("kafka broker", True, f"{k.bootstrap_servers} answers")


async def _topics(settings: Settings) -> CheckResult:
    k = settings.kafka
    orders = [settings.topics.status, settings.topics.commands]
    admin = AIOKafkaAdminClient(**client_options(k))
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        counts = await partition_counts(admin, orders, existing)
    except KafkaError as exc:
        fix = "grant this client Describe on the cluster's topics"
        return CheckResult("kafka topics", False, f"listing topics failed: {exc!r}", _SERVERS, fix)
    finally:
        await admin.close()
    wanted = worker_topics(settings)
    present = [t for t in wanted if t in existing]
    missing = [t for t in wanted if t not in existing]
    parts = [f"exist: {', '.join(present)}"] if present else []
    if missing:
        shape = f"{k.topic_partitions} partitions, replication {k.replication_factor}"
        parts.append(f"would create: {', '.join(missing)} ({shape})")
    mismatch = order_topics_mismatch(counts, orders, k.topic_partitions)
    if mismatch is not None:
        fix = "set it to the order topics' partition count"
        return CheckResult("kafka topics", False, mismatch, "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS", fix)
    return CheckResult("kafka topics", True, "; ".join(parts))


async def _retention(settings: Settings) -> CheckResult:
    """The ledger keeps an event's entry as long as the input topics and the DLQ keep the event, and
    the order table a final order as long as ``orders.commands`` and the DLQ keep its commands: an
    event or command replayed or redriven after what flexbridge knew of it is gone reaches Flex again.
    A topic that keeps its records for ever is a limit no retention meets, and is only named."""
    t = settings.topics
    try:
        kept = await retentions(settings.kafka, [t.approved, t.declined, t.dlq, t.commands, t.ledger])
    except KafkaError as exc:
        fix = "grant this client DescribeConfigs on flexbridge's topics"
        return CheckResult("kafka retention", False, f"reading topic settings failed: {exc!r}", _SERVERS, fix)
    # (what remembers, for how long in ms, the setting that says so, the topics it must outlast)
    memories: list[tuple[str, int | None, str | None, tuple[str, ...]]] = []
    if t.ledger in kept:  # else the worker creates it
        memories.append((t.ledger, kept[t.ledger], None, (t.approved, t.declined, t.dlq)))
    if (order_seconds := settings.orders.retention_seconds) is not None:
        order_ms = int(order_seconds * 1000)
        memories.append(
            ("the order table", order_ms, "FLEXBRIDGE_ORDERS__RETENTION_DAYS", (t.commands, t.dlq))
        )
    notes = []
    for what, mine, setting, sources in memories:
        if mine is None:
            continue  # it keeps everything
        for source in (s for s in sources if s in kept):
            theirs = kept[source]
            if theirs is None:
                notes.append(
                    f"note: {source} keeps records for ever, {what} {_days(mine)}: one replayed or "
                    f"redriven from further back would reach Flex again"
                )
            elif theirs > mine:
                detail = f"{what} keeps {_days(mine)}, {source} {_days(theirs)}"
                fix = f"keep it {_days(theirs)} or more" + (
                    "" if setting else " (its retention.ms, or cleanup.policy=compact)"
                )
                why = ": a record replayed or redriven from further back would reach Flex again"
                return CheckResult("kafka retention", False, detail + why, setting, fix)
    return CheckResult(
        "kafka retention", True, "; ".join(notes) or "no topic outlasts what flexbridge remembers"
    )


_DAY = 86_400_000  # ms


def _days(ms: int) -> str:
    days = ms / _DAY
    return f"{days:g} day{'' if days == 1 else 's'}"


async def _idempotence(settings: Settings) -> CheckResult:
    k = settings.kafka
    if not k.enable_idempotence:
        return CheckResult("idempotent producer", True, "off (FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE=false)")
    try:
        await probe_idempotence(k)
    except ConfigError as exc:
        fix = "set it to false, or grant IdempotentWrite on the cluster"
        return CheckResult(
            "idempotent producer", False, str(exc), "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE", fix
        )
    except KafkaError as exc:
        fix = "check the broker's logs; the producer could not start"
        return CheckResult("idempotent producer", False, repr(exc), _SERVERS, fix)
    return CheckResult("idempotent producer", True, "the broker granted a producer id")


async def kafka_checks(settings: Settings) -> list[CheckResult]:
    """The broker first; the topic and producer checks only when it answers."""
    broker = await _broker(settings)
    if not broker.ok:
        return [broker]
    return [broker, await _topics(settings), await _retention(settings), await _idempotence(settings)]
