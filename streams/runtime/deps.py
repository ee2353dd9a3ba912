"""What a worker's runtime components share, handed to them instead of the whole settings.

Built once per worker by :class:`~streams.runtime.services.BridgeRuntime` when its producer
exists; each component also takes the settings section of its own (batch, sftp, webhook …).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from consumers.flows import Defaults
from core.merchants import SINGLE_MERCHANT_NAME, Merchant, Merchants, load_merchants
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

    def served(self) -> Merchants:
        """The merchants; without any (no credentials, no file), the one of the single-merchant
        defaults and routing, whose Flex client says what is missing on its first call."""
        if self.merchants is not None:
            return self.merchants
        blank, flex = SecretStr(""), self.defaults
        one = Merchant.model_construct(  # unchecked: its blank credentials are what it lacks
            mid=flex.mid,
            name=SINGLE_MERCHANT_NAME,
            site_id=flex.site_id,
            app_key=blank,
            app_secret=blank,
            routing=self.routing,
        )
        return Merchants([one])

    def defaults_for(self, merchant: Merchant) -> Defaults:
        """The ``mid`` and ``siteId`` filled into a merchant's bodies, and the MIT expiry default."""
        return Defaults(merchant.mid, merchant.site_id, self.defaults.mit_expiry_days)

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
