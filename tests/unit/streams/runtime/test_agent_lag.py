"""The agents' lag of one partition: from the committed offset, or from the consumer's position
once everything handed out is committed (a transaction's commit marker is never a record)."""

from __future__ import annotations

from streams.runtime.agent_lag import uncommitted


def test_records_handed_out_and_not_committed_count_from_the_commit() -> None:
    assert uncommitted(end=10, committed=4, next_out=8, position=8) == 6  # 4..7 in flight, 8, 9 not read


def test_everything_handed_out_committed_counts_from_the_position() -> None:
    assert uncommitted(end=10, committed=8, next_out=8, position=8) == 2  # 8, 9 not read yet
    # a transaction: records 0..3, its commit marker at 4; all four committed, the marker fetched
    assert uncommitted(end=5, committed=4, next_out=4, position=5) == 0
    assert uncommitted(end=5, committed=4, next_out=None, position=5) == 0  # after a restart: nothing since


def test_a_partition_never_committed_counts_from_its_start() -> None:
    assert uncommitted(end=7, committed=None, next_out=3, position=3) == 7
    assert uncommitted(end=7, committed=None, next_out=None, position=None) == 7


def test_a_position_not_known_yet_counts_from_the_commit() -> None:
    assert uncommitted(end=9, committed=6, next_out=None, position=None) == 3
