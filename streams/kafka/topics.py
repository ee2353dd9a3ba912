"""Topic administration: create the topics flexbridge reads and writes."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from core.settings import KafkaSettings, TopicSettings
from streams.kafka.clients import client_options

__all__ = ["all_topics", "ensure_topics"]

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
