"""The rules of :mod:`core.settings` that read a file or more than one setting.

Each raises ``ValueError``. A field's rule is named by its field (its variable); a rule across
sections has no one field to blame, so its message names every variable it concerns
(``flexbridge check`` shows the names it cites in its setting column).
"""

from __future__ import annotations

import ssl
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = ["check_ca_file", "check_drains", "check_listeners", "check_topics"]

_JOIN_MARGIN_SECONDS = 1.0  # after a drain: its commit and the JoinGroup request
_ANY_ADDRESS = ("0.0.0.0", "::")  # noqa: S104


def check_ca_file(path: Path) -> Path:
    """``path`` if it is a readable file of PEM CA certificates, as the Kafka clients load it."""
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except ssl.SSLError as exc:
        raise ValueError(f"{path} holds no PEM CA certificate ({exc.reason or exc})") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    return path


def check_drains(settings: Settings) -> None:
    """aiokafka runs a revocation's drain before it sends JoinGroup, and learns of a rebalance at
    a heartbeat. A member not joined within the rebalance timeout is dropped from the group: its
    partitions go to others while it still works on them, and its commit is refused."""
    k = settings.kafka
    budget = (k.rebalance_timeout_ms - k.heartbeat_interval_ms) / 1000 - _JOIN_MARGIN_SECONDS
    for section, drain in (
        ("PIPELINE", settings.pipeline.drain_timeout_seconds),
        ("BATCH", settings.batch.drain_timeout_seconds),
    ):
        if drain > budget:
            raise ValueError(
                f"FLEXBRIDGE_{section}__DRAIN_TIMEOUT_SECONDS ({drain:g} s) must be at most "
                "FLEXBRIDGE_KAFKA__REBALANCE_TIMEOUT_MS less FLEXBRIDGE_KAFKA__HEARTBEAT_INTERVAL_MS "
                f"less {_JOIN_MARGIN_SECONDS:g} s ({budget:g} s): a worker still draining when the "
                "rebalance times out is dropped from the group"
            )


def check_listeners(settings: Settings) -> None:
    """The webhook listener's own port cannot be the web port on the same address (or either on
    every address): the second listener would fail to bind seconds after the worker started."""
    web, hook = settings.web, settings.webhook
    if hook.port != web.port:
        return
    if hook.host == web.host or hook.host in _ANY_ADDRESS or web.host in _ANY_ADDRESS:
        raise ValueError(
            f"FLEXBRIDGE_WEBHOOK__PORT and FLEXBRIDGE_WEB__PORT are both {web.port} on "
            f"{hook.host} and {web.host}: give the webhook listener another port, or unset "
            "FLEXBRIDGE_WEBHOOK__PORT to serve webhooks on the web port"
        )


def check_topics(settings: Settings) -> None:
    """Each topic role has its own topic: the inputs (approvals, declines, commands) have different
    shapes, and a topic flexbridge writes (statuses, webhooks, dead letters, ledger, audit, batch
    registry) read as another role, or written as two, would mix records of two kinds."""
    roles = settings.topics.model_dump()
    shared = [
        f"FLEXBRIDGE_TOPICS__{a.upper()} and FLEXBRIDGE_TOPICS__{b.upper()} are both {roles[a]}"
        for a, b in combinations(roles, 2)
        if roles[a] == roles[b]
    ]
    if shared:
        raise ValueError("; ".join(shared) + ": each topic role needs a topic of its own")
