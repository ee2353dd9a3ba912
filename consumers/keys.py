"""Deterministic idempotency keys: UUIDv5, since Flex wants a GUID (DESIGN.md §3)."""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["COMMAND_NAMESPACE", "EVENT_NAMESPACE", "command_key", "event_key"]

EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:flexbridge:payment-event")
COMMAND_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:flexbridge:order-command")


def event_key(event_id: str) -> str:
    """The idempotencyKey of the /evaluate call for a PaymentEvent: UUIDv5 of its eventId.

    ``str(uuid.uuid5(EVENT_NAMESPACE, event_id))``, built from the SHA-1 digest directly: the batch
    path takes one per record, and ``uuid.UUID``'s checks and int conversions cost twice the hash."""
    sha = _EVENT_SHA1.copy()
    sha.update(event_id.encode())
    digest = bytearray(sha.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_EVENT_SHA1 = hashlib.sha1(EVENT_NAMESPACE.bytes, usedforsecurity=False)


def command_key(command_id: str) -> str:
    """The idempotencyKey of the Flex call an OrderCommand makes: UUIDv5 of its commandId."""
    return str(uuid.uuid5(COMMAND_NAMESPACE, command_id))
