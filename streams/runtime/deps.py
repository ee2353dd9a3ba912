"""What a worker's runtime components share, handed to them instead of the whole settings.

Built once per worker by :class:`~streams.runtime.services.BridgeRuntime` when its producer
exists; each component also takes the settings section of its own (batch, sftp, webhook …).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from consumers.flows import Defaults
from core.merchants import Merchants, load_merchants
from core.settings import KafkaSettings, RoutingSettings, Settings, TopicSettings
from streams.runtime.metrics import Metrics

__all__ = ["Deps"]


@dataclass(frozen=True, slots=True)
class Deps:
    """The producer, the metrics, and the settings every flow reads: Kafka, topics, routing, Flex defaults."""

    producer: AIOKafkaProducer
    metrics: Metrics
    kafka: KafkaSettings
    topics: TopicSettings
    routing: RoutingSettings
    defaults: Defaults
    # The merchants served (DESIGN.md §2.9), loaded once; None only for settings without Flex
    # credentials and without a merchants file (unit tests of parts that need no merchant).
    merchants: Merchants | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        merchants: Merchants | None = None,
    ) -> Deps:
        flex, pipeline = settings.flex, settings.pipeline
        configured = settings.merchants_file is not None or None not in (flex.app_key, flex.app_secret)
        if merchants is None and configured:
            merchants = load_merchants(settings)
        return cls(
            producer=producer,
            metrics=metrics,
            kafka=settings.kafka,
            topics=settings.topics,
            routing=settings.routing,
            defaults=Defaults(flex.mid, flex.site_id, pipeline.mit_expiry_days),
            merchants=merchants,
        )
