"""Which records go into a batch file, and as what body (pure, no I/O; the batch consumer's hot path).

A record goes into a file only if the real-time bridge would route it to SFTP: the rule is
``consumers.intake.decode_and_route``, shared with the bridge (a JSON object, no card number, a
valid PaymentEvent, and for evaluate files a managed MIT). Anything else is skipped here: the
bridge reads the same topic and calls Flex for it or dead-letters it. Per record this is the cost
of the whole batch path; the shared rule keeps its cheap pre-checks (``isMIT``, card-number scan).
"""

from __future__ import annotations

from typing import Any

from consumers.flows import Defaults, evaluate_body, transmit_body
from consumers.intake import decode_and_route
from core.settings import RoutingSettings
from schemas.batch import BatchKind

__all__ = ["batch_body"]

# The batch consumer reads only the topics routed to SFTP, so a ``kind`` file takes its flow's
# records that the SFTP routing of that flow sends to a file.
_TO_FILES = RoutingSettings(mit="sftp", transmit="sftp")


def batch_body(kind: BatchKind, raw: bytes | None, defaults: Defaults) -> tuple[dict[str, Any], str] | None:
    """The Flex request body and eventId of a record for a ``kind`` file, or None to skip it."""
    routed = decode_and_route(raw, kind, _TO_FILES, only="sftp")
    if routed is None:
        return None
    event = routed.event
    body = transmit_body(event, defaults) if kind == "transmit" else evaluate_body(event, defaults)
    return body, event.event_id
