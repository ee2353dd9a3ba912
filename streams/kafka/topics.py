"""Topic administration: create the topics flexbridge reads and writes."""

from __future__ import annotations

import logging
from collections.abc import Collection

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from core.settings import KafkaSettings, TopicSettings
from streams.kafka.clients import client_options

__all__ = ["all_topics", "ensure_topics", "partition_counts", "retention_ms", "retentions"]

log = logging.getLogger(__name__)


def all_topics(t: TopicSettings) -> list[str]:
    """The topics a worker needs before it starts (the batch registry's is made by the batch path)."""
    return [t.approved, t.declined, t.commands, t.status, t.webhooks, t.dlq, t.ledger]


async def ensure_topics(k: KafkaSettings, names: list[str], config: dict[str, str] | None = None) -> None:
    """Create the missing ``names`` with the configured partition count and ``config`` (topic
    settings such as ``cleanup.policy``); existing ones are left alone."""
    admin = AIOKafkaAdminClient(**client_options(k))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in names if n not in existing]
        if not wanted:
            return
        new = [NewTopic(n, k.topic_partitions, k.replication_factor, topic_configs=config) for n in wanted]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass  # another worker won the race
        log.info("created topics %s", ", ".join(wanted))
    finally:
        await admin.close()


async def partition_counts(
    admin: AIOKafkaAdminClient, names: list[str], existing: Collection[str]
) -> dict[str, int]:
    """The partition count of each of ``names`` among the ``existing`` topics (the listing the
    caller has from ``admin``): a missing one is never described, since a broker may create a topic
    it is asked about."""
    asked = [n for n in names if n in existing]
    described = await admin.describe_topics(asked) if asked else []
    return {t["topic"]: len(t["partitions"]) for t in described if not t["error_code"] and t["partitions"]}


async def retention_ms(k: KafkaSettings, topic: str) -> int | None:
    """How long ``topic`` keeps a record, in ms, when it deletes old ones (``cleanup.policy`` with
    ``delete`` and a positive ``retention.ms``); None when it never does, or when its settings
    cannot be read (logged: then nothing is assumed deleted)."""
    try:
        return (await retentions(k, [topic])).get(topic)
    except KafkaError as exc:
        log.warning("topic %s: its settings could not be read (%s); its retention is not assumed", topic, exc)
        return None


async def retentions(k: KafkaSettings, topics: list[str]) -> dict[str, int | None]:
    """:func:`retention_ms` of those of ``topics`` that exist (None: kept for ever; a missing one is
    left out), read with one client in one DescribeConfigs request; KafkaError when they cannot be."""
    admin = AIOKafkaAdminClient(**client_options(k))
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics if t in existing]
        answers = await admin.describe_configs(wanted) if wanted else []
    finally:
        await admin.close()
    found: dict[str, int | None] = {}
    for answer in answers:
        for code, _message, _type, name, entries in answer.resources:
            if code:
                raise KafkaError(f"describing topic {name}: error code {code}")
            found[name] = _retention({entry[0]: entry[1] for entry in entries})
    return found


def _retention(config: dict[str, str | None]) -> int | None:
    policy = {p.strip() for p in (config.get("cleanup.policy") or "delete").split(",")}
    retention = int(config.get("retention.ms") or -1)
    return retention if "delete" in policy and retention > 0 else None
