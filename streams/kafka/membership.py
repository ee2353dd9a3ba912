"""Closing consumers without LeaveGroup, for the embedded broker's group coordinator.

As far as its logs and source show, the embedded broker (Tansu 0.6) keeps the leader it elected
when that leader sends LeaveGroup while the group is rebalancing: every member that joins
afterwards is told to follow a leader that is gone, its SyncGroup is answered
``REBALANCE_IN_PROGRESS``, and it re-joins the same generation every few seconds forever — the
group never gets its partitions again. A member that simply goes silent is handled well: the
coordinator drops it after ``session_timeout_ms`` and, if it led, elects another leader. So with
``FLEXBRIDGE_KAFKA__LEAVE_GROUP_ON_CLOSE=false`` (what the local stack sets) every aiokafka
consumer of the process — the real-time pipeline, the batch writer and Faust's — closes without
LeaveGroup, the way Kafka Streams closes by default: its partitions move after the session
timeout instead of at once. aiokafka also leaves when a consumer fetched nothing for
``max_poll_interval_ms``; with this setting such a consumer only resets its membership and joins
again. Real Kafka needs none of this; the default leaves.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.consumer.group_coordinator import GroupCoordinator

__all__ = ["keep_membership_on_close", "skip_leave_group"]

log = logging.getLogger(__name__)


async def skip_leave_group(coordinator: Any) -> None:
    """In place of ``GroupCoordinator._maybe_leave_group``: forget the membership, tell no one."""
    if coordinator.generation > 0:
        log.info("leaving group %s without LeaveGroup (session timeout)", coordinator.group_id)
    coordinator.reset_generation()


def keep_membership_on_close() -> None:
    """Make every aiokafka consumer of this process close without sending LeaveGroup."""
    GroupCoordinator._maybe_leave_group = skip_leave_group
