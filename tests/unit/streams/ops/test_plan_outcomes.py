"""A replay plan of an input topic counts each record's outcome: done (finished on the ledger; a
command answered or forwarded), dead-lettered (the DLQ's source positions), or none, and names
where the records with none are."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from rich.console import Console

from core.settings import TopicSettings
from streams.ops.outcomes import _command_answer, _dead_letter_of, _forwarded, missing_topics
from streams.ops.plan import NO_OUTCOME_LISTED, Job, PartitionPlan, Plan
from streams.ops.replay import Outcome
from streams.ops.resume import job_from
from streams.ops.selection import Selection
from streams.ops.view import _closing_line, _outcomes, _plan_table
from tests.unit.streams.ops.fakes import MetadataReader


def _record(
    offset: int, partition: int = 0, value: bytes = b"{}", headers: list[tuple[str, bytes]] | None = None
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        "payments.declined", partition, offset, 1_765_000_000_000, 0, None, value, None, 0, 0, headers or []
    )


def _plan(parts: list[PartitionPlan], without_outcome: bool = False, tracked: bool = True) -> dict[str, Any]:
    job = Job("replay", Selection(topic="payments.declined"), "r1", without_outcome=without_outcome)
    return Plan(job, {}, {p.partition: p for p in parts}, {"payments.declined"}, tracked).as_dict()


def test_each_record_is_finished_dead_lettered_or_without_an_outcome() -> None:
    part = PartitionPlan(0, 0, 10)
    for offset, finished, dead in ((0, True, False), (1, False, True), (2, True, True), (3, False, False)):
        part.add(_record(offset), "send", finished)
        part.add_outcome(_record(offset), finished, dead)
    row = part.as_dict(tracked=True)
    assert (row["records"], row["finished"], row["deadLettered"], row["noOutcome"]) == (4, 2, 2, 1)
    assert row["noOutcomeOffsets"] == [3]


def test_a_partition_lists_the_first_records_without_an_outcome_only() -> None:
    part = PartitionPlan(0, 0, 100)
    for offset in range(NO_OUTCOME_LISTED + 5):
        part.add_outcome(_record(offset), done=False, dead_lettered=False)
    assert part.no_outcome == NO_OUTCOME_LISTED + 5
    assert part.no_outcome_offsets == list(range(NO_OUTCOME_LISTED))


def test_an_untracked_topic_says_nothing_of_outcomes() -> None:
    row = PartitionPlan(0, 0, 10).as_dict()
    assert (row["deadLettered"], row["noOutcome"], row["noOutcomeOffsets"]) == (None, None, None)
    assert _outcomes(_plan([PartitionPlan(0, 0, 10)], tracked=False)) == ""


def test_the_closing_line_names_where_the_records_without_an_outcome_are() -> None:
    parts = [PartitionPlan(0, 0, 10), PartitionPlan(1, 0, 10)]
    parts[0].add_outcome(_record(4), done=False, dead_lettered=False)
    parts[1].add_outcome(_record(7, 1), done=False, dead_lettered=False)
    parts[1].add_outcome(_record(8, 1), done=False, dead_lettered=True)
    said = _outcomes(_plan(parts))
    assert said.startswith("2 have no outcome") and "0:4, 1:7)" in said
    console = Console(width=200, record=True)
    console.print(_plan_table(_plan(parts)))
    table = console.export_text()
    assert "dead-lettered" in table and "no outcome" in table


def test_the_closing_line_says_when_every_record_has_an_outcome() -> None:
    part = PartitionPlan(0, 0, 10)
    part.add_outcome(_record(0), done=False, dead_lettered=True)
    part.add_outcome(_record(1), done=True, dead_lettered=False)
    assert _outcomes(_plan([part])) == "Every record has an outcome (1 dead-lettered). "
    # with --without-outcome the others are filtered out: nothing is said of how many were dead-lettered
    selected = PartitionPlan(0, 0, 10)
    assert (
        _outcomes(_plan([selected], without_outcome=True))
        == "No record of the window is without an outcome. "
    )


def test_more_records_without_an_outcome_than_named_end_in_an_ellipsis() -> None:
    part = PartitionPlan(0, 0, 100)
    for offset in range(12):
        part.add_outcome(_record(offset), done=False, dead_lettered=False)
    said = _outcomes(_plan([part]))
    assert "0:9…)" in said and "0:10" not in said


def test_a_dead_letter_names_a_position_of_its_source_topic_only() -> None:
    position = _dead_letter_of("payments.declined")
    named = [("dlq-source-topic", b"payments.declined"), ("dlq-source-partition", b"3")]
    assert position(_record(0, headers=[*named, ("dlq-source-offset", b"17")])) == (3, 17)
    assert position(_record(0, headers=[*named, ("dlq-source-offset", b"x")])) is None
    other = [("dlq-source-topic", b"payments.approved"), ("dlq-source-partition", b"3")]
    assert position(_record(0, headers=[*other, ("dlq-source-offset", b"17")])) is None


def test_only_a_commands_answer_counts_as_one() -> None:
    assert _command_answer(_record(0, value=b'{"source": "command", "eventId": "cmd-1"}')) == "cmd-1"
    assert _command_answer(_record(0, value=b'{"source": "evaluate", "eventId": "cmd-1"}')) is None
    assert _command_answer(_record(0, value=b"[1]")) is None
    assert _command_answer(_record(0, value=b"not json")) is None


def test_a_forwarded_command_names_where_it_was_first_read() -> None:
    assert _forwarded(_record(9, headers=[("flexbridge-forwarded-from", b"2/40")])) == (2, 40)
    assert _forwarded(_record(9, headers=[("flexbridge-forwarded-from", b"2")])) is None
    assert _forwarded(_record(9)) is None


def test_a_resumed_replay_keeps_without_outcome_and_an_older_run_has_it_off() -> None:
    job = Job("replay", Selection(topic="payments.declined"), "r1", without_outcome=True)
    started = {"plan": Plan(job, {}, {}).as_dict()}
    assert job_from(started) == job
    del started["plan"]["options"]["withoutOutcome"]  # as a run started before the option wrote it
    assert job_from(started).without_outcome is False


def test_a_redrive_plan_shows_what_it_leaves_out_and_a_replay_plan_does_not() -> None:
    part = PartitionPlan(0, 0, 9, selected=9, masked=2, omitted=1, superseded=3)
    redrive = Plan(Job("redrive", Selection(topic="payments.dlq"), "r2"), {}, {0: part}).as_dict()
    assert redrive["totals"]["toSend"] == 3
    console = Console(width=300, record=True)
    console.print(_plan_table(redrive))
    shown = console.export_text(clear=True)
    assert all(title in shown for title in ("masked", "omitted", "superseded"))
    console.print(_plan_table(_plan([PartitionPlan(0, 0, 1, selected=1)])))
    shown = console.export_text()
    assert "to send" in shown and not any(title in shown for title in ("masked", "omitted", "superseded"))


def test_the_closing_line_says_finished_records_are_processed_again_with_force() -> None:
    part = PartitionPlan(0, 0, 10)
    part.add(_record(0), "send", finished=True)
    for force, said in (
        (False, "the pipeline skips them unless --force"),
        (True, "--force has them processed again"),
    ):
        job = Job("replay", Selection(topic="payments.declined"), "r1", force=force)
        plan = Plan(job, {}, {0: part}, {"payments.declined"}, False)
        line = _closing_line(Outcome(plan), plan.as_dict())
        assert f"1 already finished: {said}" in line
        assert ("skips them" in line) is not force
        console = Console(width=300, record=True)
        console.print(_plan_table(plan.as_dict()))
        shown = console.export_text()
        assert ("finished (sent again)" in shown, "finished (skipped)" in shown) == (force, not force)


@pytest.mark.parametrize(
    ("topic", "missing", "setting"),
    [
        ("payments.declined", "ledger", "FLEXBRIDGE_TOPICS__LEDGER"),
        ("payments.approved", "dlq", "FLEXBRIDGE_TOPICS__DLQ"),
        ("orders.commands", "status", "FLEXBRIDGE_TOPICS__STATUS"),
    ],
)
def test_a_missing_outcome_topic_is_named_and_its_outcomes_are_not_counted(
    topic: str, missing: str, setting: str
) -> None:
    topics = TopicSettings(**{missing: "no.such.topic"})
    reader: Any = MetadataReader(set(topics.model_dump().values()) - {"no.such.topic"})
    named = asyncio.run(missing_topics(reader, topics, topic))
    assert named == [f"{setting}: topic no.such.topic does not exist"]
    job = Job("replay", Selection(topic=topic), "r1")
    plan = Plan(job, {}, {0: PartitionPlan(0, 0, 1, selected=1)}, {topic}, tracked=False, uncounted=named)
    line = _closing_line(Outcome(plan), plan.as_dict())
    assert f"Outcomes not counted: {named[0]}" in line and "no outcome" not in line
    assert plan.as_dict()["totals"]["noOutcome"] is None


def test_existing_outcome_topics_are_not_named() -> None:
    topics = TopicSettings()
    reader: Any = MetadataReader(set(topics.model_dump().values()))
    assert asyncio.run(missing_topics(reader, topics, topics.commands)) == []
    # a payment event's plan needs no answers on orders.status
    without_status: Any = MetadataReader(set(topics.model_dump().values()) - {topics.status})
    assert asyncio.run(missing_topics(without_status, topics, topics.approved)) == []
