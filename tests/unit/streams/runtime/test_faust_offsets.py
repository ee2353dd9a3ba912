"""The offset Faust's agents may commit: never past a record in flight, past transaction markers
(streams/runtime/faust_offsets.py). Faust's own rule, run on the same books, shows what it got wrong."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from streams.runtime import faust_offsets
from streams.runtime.faust_offsets import Handed

TP = TopicPartition("orders.commands", 0)
CHANGELOG = TopicPartition("flexbridge-orders-changelog", 0)


def fetch(positions: dict[TopicPartition, int]) -> Any:
    """An aiokafka consumer as ``Handed.took`` reads it: its assignment and each position."""
    states = {tp: SimpleNamespace(_position=p) for tp, p in positions.items()}
    assignment = SimpleNamespace(tps=set(states), state_value=states.get)
    return SimpleNamespace(_subscription=SimpleNamespace(subscription=SimpleNamespace(assignment=assignment)))


def records(*offsets: int) -> list[Any]:
    return [SimpleNamespace(offset=o) for o in offsets]


def handed(*offsets: int, position: int | None = None) -> Handed:
    found = Handed(lambda topic: topic != CHANGELOG.topic)
    found.took(fetch({TP: offsets[-1] + 1 if position is None else position}), {TP: records(*offsets)})
    return found


def test_a_record_in_flight_stops_the_commit_even_one_past_the_committed_offset() -> None:
    assert handed(10, 11).committable(TP, {11}, committed=10) is None
    assert handed(10, 11).committable(TP, {10, 11}, committed=10) == 12


def test_a_partition_never_committed_is_not_passed_while_its_first_records_are_in_flight() -> None:
    assert handed(0, 1, 2, 3, 4).committable(TP, {3, 4}, committed=None) is None
    assert handed(0, 1, 2, 3, 4).committable(TP, {0, 1, 3}, committed=None) == 2


def test_offsets_skipped_between_records_are_passed_and_the_record_after_them_waits() -> None:
    # 3, a transaction's commit marker at 4, then 5: 5 in flight stops the commit at 4 (past 3)
    assert handed(3, 5).committable(TP, {3}, committed=3) == 4
    assert handed(3, 5).committable(TP, {5}, committed=3) is None
    assert handed(3, 5).committable(TP, {3, 5}, committed=3) == 6


def test_the_position_passes_a_trailing_marker_once_every_record_is_acked() -> None:
    assert handed(0, 1, 2, 3, position=5).committable(TP, {0, 1, 2, 3}, committed=None) == 5
    assert handed(0, 1, 2, 3, position=5).committable(TP, {0, 1, 2}, committed=None) == 3


def test_a_quiet_partition_read_since_a_restart_is_passed_to_its_position() -> None:
    found = Handed(lambda topic: True)
    found.took(fetch({TP: 5}), {})  # committed at 4 by an older release, the marker at 4 skipped
    assert found.partitions() == [TP]
    assert found.committable(TP, set(), committed=4) == 5
    assert found.committable(TP, set(), committed=5) is None


def test_after_a_seek_back_records_handed_out_twice_count_once_and_the_position_waits_for_a_fetch() -> None:
    found = handed(5, 6, position=8)  # a marker at 7
    found.moved([TP])  # back to the committed offset, 5: the records will come again
    assert found.committable(TP, {6}, committed=5) is None  # 5 still in flight
    assert found.committable(TP, {5, 6}, committed=5) == 7  # the position is not known since the seek
    found.took(fetch({TP: 8}), {TP: records(5, 6)})  # the same records handed out again
    assert found.committable(TP, set(), committed=7) == 8  # passed with their first entries


def test_an_assignment_starts_every_list_again() -> None:
    found = handed(5, 6)
    found.assigned([TP])
    assert found.partitions() == [] and found.committable(TP, {5, 6}, committed=5) is None


def test_the_changelogs_records_are_not_kept() -> None:
    found = Handed(lambda topic: topic != CHANGELOG.topic)
    found.took(fetch({CHANGELOG: 3}), {CHANGELOG: records(0, 1, 2)})
    assert found.partitions() == [] and found.committable(CHANGELOG, set(), committed=None) is None


class App:
    topics = SimpleNamespace(acks_enabled_for=lambda topic: True)


class Books:
    """A Faust consumer's books of acks, enough for ``_new_offset``."""

    _new_offset = faust_offsets.faust_new_offset

    def __init__(self, committed: int | None, acked: list[int]) -> None:
        self.app = App()
        self._committed_offset: defaultdict[Any, int | None] = defaultdict(lambda: None)
        self._committed_offset[TP] = committed
        self._acked: defaultdict[Any, list[int]] = defaultdict(list, {TP: list(acked)})
        self._acked_index: defaultdict[Any, set[int]] = defaultdict(set, {TP: set(acked)})
        self._gap: defaultdict[Any, Any] = defaultdict(lambda: None)


def test_faust_own_rule_commits_past_a_record_in_flight() -> None:
    assert Books(committed=10, acked=[11])._new_offset(TP) == 12  # 10 in flight, committed past
    assert Books(committed=None, acked=[3, 4])._new_offset(TP) == 5  # 0..2 in flight


def test_the_rule_installed_keeps_faust_books_and_drops_the_acks_it_passes() -> None:
    books = Books(committed=10, acked=[11, 12])
    faust_offsets.handed(books.app).took(fetch({TP: 13}), {TP: records(10, 11, 12)})
    assert faust_offsets._new_offset(books, TP) is None  # type: ignore[arg-type]
    books._acked[TP].append(10)
    books._acked_index[TP].add(10)
    assert faust_offsets._new_offset(books, TP) == 13  # type: ignore[arg-type]
    assert books._acked[TP] == [] and books._acked_index[TP] == set()
