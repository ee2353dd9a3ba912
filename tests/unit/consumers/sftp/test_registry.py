"""Unit tests of the batch registry's durable state (pure: the journal is a list)."""

from __future__ import annotations

import tracemalloc
import uuid

import pytest

from consumers.sftp.registry import BatchRegistry, SentFile, SentRecord, Settled, decode_entry, encode_entry


class Journal:
    def __init__(self) -> None:
        self.writes: list[tuple[str, int, bytes | None]] = []

    async def write(self, name: str, partition: int, entry: bytes | None) -> None:
        self.writes.append((name, partition, entry))


NAME = "evaluate_payments.declined_p0003_o000000000010.json"
RECORDS = [SentRecord(1, "O1", "e1", "k1"), SentRecord(2, "O2", "e2", "k2")]


async def test_a_restored_entry_matches_and_reports_like_the_original() -> None:
    now = [100.0]
    journal = Journal()
    first = BatchRegistry(clock=lambda: now[0], journal=journal)
    first.add(NAME, RECORDS)
    await first.persist(NAME)
    assert [(n, p) for n, p, _ in journal.writes] == [(NAME, 3)]  # the source partition
    entry = journal.writes[-1][2]
    assert entry is not None
    second = BatchRegistry(clock=lambda: now[0])  # a restarted worker
    assert second.restore(decode_entry(entry))
    assert not second.restore(decode_entry(entry))  # read again (a retried preparation): not new
    assert second.lookup(NAME, 1) == RECORDS[0] and second.outstanding == 2
    assert second.match(NAME, 1) == RECORDS[0]
    now[0] = 200.0
    assert second.overdue(50, polled_at=150.0) == [(NAME, RECORDS[1])]  # uploaded at 100, not 200
    assert second.outstanding == 0 and not second.answered(NAME)


async def test_an_answered_file_is_remembered_durably_then_pruned_with_a_tombstone() -> None:
    now = [0.0]
    journal = Journal()
    registry = BatchRegistry(clock=lambda: now[0], journal=journal)
    registry.add(NAME, RECORDS)
    for record in RECORDS:
        registry.match(NAME, record.sequence_number)
    registry.mark_answered(NAME)
    await registry.persist(NAME)
    entry = journal.writes[-1][2]
    assert entry is not None and decode_entry(entry).answered and not decode_entry(entry).records
    assert registry.answered(NAME)
    assert await registry.prune(10) == 0
    now[0] = 11
    assert await registry.prune(10) == 1 and journal.writes[-1] == (NAME, 3, None)
    assert not registry.answered(NAME)


async def test_a_discarded_file_is_forgotten_with_a_tombstone_and_never_reported() -> None:
    journal = Journal()
    registry = BatchRegistry(clock=lambda: 100.0, journal=journal)
    registry.restore(decode_entry(encode_entry(_sent(uploaded_at=0.0))))
    assert await registry.discard(NAME) and journal.writes == [(NAME, 3, None)]
    assert registry.overdue(10) == [] and registry.outstanding == 0
    assert not await registry.discard(NAME) and len(journal.writes) == 1  # unknown: nothing written


def test_a_file_restored_after_the_last_look_at_the_outbound_folder_is_not_reported_yet() -> None:
    registry = BatchRegistry(clock=lambda: 1000.0)
    registry.restore(decode_entry(encode_entry(_sent(uploaded_at=0.0))))
    assert registry.overdue(10, polled_at=999.0) == []  # its response may be waiting unread
    assert registry.overdue(10, polled_at=1001.0) == [(NAME, RECORDS[0]), (NAME, RECORDS[1])]


def test_put_back_undoes_an_overdue_take() -> None:
    registry = BatchRegistry(clock=lambda: 1000.0)
    registry.restore(_sent(uploaded_at=0.0))
    taken = registry.overdue(10)
    registry.put_back(taken)
    assert registry.outstanding == 2


@pytest.mark.parametrize(
    "raw", [b"", b"[]", b'{"file": "x"}', b'{"file":"x","uploadedAt":1,"answered":false,"records":[[1]]}']
)
def test_a_record_that_is_not_an_entry_is_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not a batch registry entry"):
        decode_entry(raw)


def _sent(uploaded_at: float) -> SentFile:
    return SentFile.of(NAME, uploaded_at, RECORDS)


async def test_records_awaiting_a_result_are_held_packed_until_a_result_needs_them() -> None:
    records = [
        SentRecord(i, f"order-{i:08d}", f"evt-{uuid.uuid4()}", str(uuid.uuid4())) for i in range(1, 2001)
    ]
    journal = Journal()
    registry = BatchRegistry(clock=lambda: 0.0, journal=journal)
    tracemalloc.start()
    try:
        registry.add(NAME, records)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 200 * len(records)  # a dict of the tuples and their strings: about 350 bytes each
    assert registry.outstanding == 2000 and registry.waiting() == {None}
    assert registry.lookup(NAME, 7) == records[6] and registry.match(NAME, 7) == records[6]
    assert registry.outstanding == 1999 and registry.lookup(NAME, 7) is None
    await registry.persist(NAME)  # the journal gets the records left, from the unpacked form now
    entry = journal.writes[-1][2]
    assert entry is not None
    assert list(decode_entry(entry).records.values()) == records[:6] + records[7:]


def test_a_failed_record_and_the_files_size_survive_the_journal_for_a_late_row() -> None:
    registry = BatchRegistry(clock=lambda: 1000.0)
    registry.restore(_sent(uploaded_at=0.0))
    assert registry.overdue(10) == [(NAME, RECORDS[0]), (NAME, RECORDS[1])]
    entry = decode_entry(encode_entry(registry._files[NAME]))
    assert entry.size == 2 and entry.failed == {1: RECORDS[0], 2: RECORDS[1]}
    again = BatchRegistry(clock=lambda: 1000.0)
    again.restore(entry)
    assert [k.value for k, _ in (again.classify(NAME, 1), again.classify(NAME, 2))] == ["late", "late"]
    again.settle(NAME, 1)
    assert again.classify(NAME, 1)[0].value == "repeat" and again.classify(NAME, 2) == (
        Settled.LATE,
        RECORDS[1],
    )
    old = b'{"file":"%s","uploadedAt":0,"answered":true,"records":[]}' % NAME.encode()
    assert decode_entry(old).size is None and decode_entry(old).failed == {}  # written before both
