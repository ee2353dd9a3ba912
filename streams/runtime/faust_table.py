"""Writes to a Faust table outside an agent's event, with the changelog partition named.

Faust's ``table[key] = value`` and ``del table[key]`` send the changelog record to the partition of
the event being processed (``Table.partition_for_key``), so they work only inside an agent's
event. The order table is written outside one twice: by the retention's deletes (a timer's) and
by the order-state agent, which folds a batch of statuses and then sends each order's last value
once (streams/runtime/orders.py). Both go through Faust's own changelog send
(``Table.send_changelog``), as every other write of the table does, so that the changelog keeps
the order of the writes.

The in-memory store notes the partition of each key, to drop the keys of the partitions a worker
loses (streams/runtime/faust_fixes.py, fix 7): :func:`note` and :func:`unnote` keep those notes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["delete_outside_event", "note", "send_outside_event", "unnote"]


def note(table: Any, key: Any, partition: int) -> None:
    """The in-memory store's note that ``key`` is in ``partition`` of the changelog."""
    noted = getattr(table.data, "_key_partition", None)
    if noted is not None:
        noted[key] = partition


def unnote(table: Any, key: Any) -> None:
    getattr(table.data, "_key_partition", {}).pop(key, None)


def send_outside_event(table: Any, key: Any, partition: int) -> None:
    """Send ``key``'s value as the table holds it now (written to ``table.data``) to ``partition`` of
    its changelog."""
    table.send_changelog(partition, key, table.data[key])
    note(table, key, partition)


def delete_outside_event(table: Any, key: Any, partition: int) -> None:
    """Drop ``key`` from the table and send its tombstone to ``partition`` of its changelog."""
    del table.data[key]
    table.send_changelog(partition, key, None, value_serializer="raw")
    unnote(table, key)
