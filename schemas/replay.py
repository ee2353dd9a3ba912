"""Replay provenance record headers: what ``flexbridge replay`` and ``flexbridge dlq redrive`` stamp
on each record they send, and the worker reads (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "FORCE_HEADER",
    "REPLAY_COUNT_HEADER",
    "REPLAY_HEADERS",
    "REPLAY_ID_HEADER",
    "REPLAY_OF_HEADER",
    "forced",
]

REPLAY_OF_HEADER = "replay-of"  # topic/partition/offset of the original record
REPLAY_ID_HEADER = "replay-id"  # the run that sent it
REPLAY_COUNT_HEADER = "replay-count"  # how many times its content has been replayed
FORCE_HEADER = "replay-force"  # "1": re-process an event the ledger says is finished
REPLAY_HEADERS = (REPLAY_OF_HEADER, REPLAY_ID_HEADER, REPLAY_COUNT_HEADER, FORCE_HEADER)


def forced(headers: Iterable[tuple[str, bytes]] | None) -> bool:
    """Whether a record asks to be processed again although the ledger says it is finished (a replay
    with ``--force``: the bridge calls Flex again, the batch path puts it in another file)."""
    return any(k == FORCE_HEADER and v == b"1" for k, v in headers or ())
