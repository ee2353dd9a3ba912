"""aiokafka client options built from the settings: one place for connection, security, producer."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.settings import KafkaSettings

__all__ = ["client_options", "make_producer"]


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


def make_producer(k: KafkaSettings, **extra: Any) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas; idempotent unless the broker refuses it."""
    return AIOKafkaProducer(
        **client_options(k),
        acks="all",
        enable_idempotence=k.enable_idempotence,
        linger_ms=2,
        **extra,
    )
