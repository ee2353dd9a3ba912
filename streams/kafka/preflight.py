"""Start-up probes of the broker that turn its refusals into messages naming the setting to change."""

from __future__ import annotations

from aiokafka.errors import BrokerResponseError, UnsupportedVersionError

from core.config import ConfigError
from core.settings import KafkaSettings
from streams.kafka.clients import make_producer

__all__ = ["probe_idempotence"]


async def probe_idempotence(k: KafkaSettings) -> None:
    """With idempotence on, start one idempotent producer: a broker that refuses InitProducerId
    (the embedded broker does; so do old or locked-down clusters) stops the worker with a message
    naming ``FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE`` instead of aiokafka's bare ``UnknownError()``."""
    if not k.enable_idempotence:
        return
    producer = make_producer(k)
    try:
        await producer.start()
    except (BrokerResponseError, UnsupportedVersionError) as exc:
        raise ConfigError(
            f"the broker at {k.bootstrap_servers} refused the idempotent producer "
            f"(InitProducerId answered {type(exc).__name__}); turn it off with "
            "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE=false, or grant IdempotentWrite on the cluster"
        ) from None
    finally:
        await producer.stop()
