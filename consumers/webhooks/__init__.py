"""Flex webhooks without Kafka: the x-fc-* headers, signature verification, the dedupe window."""

__all__: list[str] = []
