"""Deterministic idempotency keys: UUIDv5, since Flex wants a GUID (DESIGN.md §3)."""

from __future__ import annotations

import uuid

__all__ = ["COMMAND_NAMESPACE", "EVENT_NAMESPACE", "command_key", "event_key"]

EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:flexbridge:payment-event")
COMMAND_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:flexbridge:order-command")


def event_key(event_id: str) -> str:
    """The idempotencyKey of the /evaluate call for a PaymentEvent: UUIDv5 of its eventId."""
    return str(uuid.uuid5(EVENT_NAMESPACE, event_id))


def command_key(command_id: str) -> str:
    """The idempotencyKey of the Flex call an OrderCommand makes: UUIDv5 of its commandId."""
    return str(uuid.uuid5(COMMAND_NAMESPACE, command_id))
