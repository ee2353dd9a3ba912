"""``--resume REPLAY_ID``: the run a ``started`` audit record describes, continued exactly as it
started. A flag that would change it (another topic, window, filter or option), or the other verb's
run (a replay's id given to ``dlq redrive``, or a redrive's to ``replay``), is refused, naming it:
it would otherwise be ignored without a word.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from core.settings import Settings
from streams.ops.audit import read_audit
from streams.ops.plan import Job
from streams.ops.scan import ReplayError
from streams.ops.selection import Selection, parse_time, parse_where

__all__ = ["job_from", "load_resume", "resumed_job"]

# each flag a resume could be given, by its argparse dest
_FLAGS = {
    "topic": "--topic",
    "reason": "--reason",
    "start": "--from",
    "end": "--to",
    "last": "--last",
    "partition": "--partition",
    "key": "--key",
    "where": "--where",
    "merchant": "--merchant",
    "from_offset": "--from-offset",
    "to_offset": "--to-offset",
    "to_topic": "--to-topic",
    "rate": "--rate",
    "max_replays": "--max-replays",
    "force": "--force",
    "without_outcome": "--without-outcome",
    "replay_id": "--replay-id",
}


async def load_resume(settings: Settings, replay_id: str) -> dict[str, Any]:
    """The ``started`` audit record of ``replay_id`` (what a resume must repeat)."""
    for record in await read_audit(settings, replay_id):
        if record.get("phase") == "started":
            return record
    raise ReplayError(f"no replay {replay_id!r} on {settings.topics.audit}: nothing to resume")


def job_from(record: dict[str, Any]) -> Job:
    """The job a ``started`` audit record describes (to resume it exactly)."""
    plan, options = record["plan"], record["plan"]["options"]
    return Job(
        action=plan["action"],
        selection=Selection.model_validate(plan["selection"]),
        replay_id=plan["replayId"],
        to_topic=options["toTopic"],
        rate=options["rate"],
        force=options["force"],
        max_replays=options["maxReplays"],
        without_outcome=options.get("withoutOutcome", False),  # a run started before it existed: off
    )


def resumed_job(args: argparse.Namespace, action: str, record: dict[str, Any]) -> Job:
    """The job of ``record`` for the verb of ``action``; a ValueError names each flag given that is
    not the run's (or a run of the other verb)."""
    job = job_from(record)
    rid = job.replay_id
    if job.action != action:
        verb = "replay" if job.action == "replay" else "dlq redrive"
        raise ValueError(
            f"{rid} is a {job.action} run, not a {action}: continue it with flexbridge {verb} --resume {rid}"
        )
    named = getattr(args, "from_env", {})  # FLEXBRIDGE_REPLAY_* variables, by dest
    differing = [
        named.get(dest, _FLAGS[dest]) for dest, given, stored in _given(args, job) if given != stored
    ]
    if differing:
        raise ValueError(
            f"--resume {rid} continues that run with its own window, filters and options; not the "
            f"run's (leave them out): {', '.join(differing)}"
        )
    return job


def _given(args: argparse.Namespace, job: Job) -> list[tuple[str, Any, Any]]:
    """(dest, the value given, the run's) of each flag given."""
    sel = job.selection
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    pairs = {
        "topic": (getattr(args, "topic", None), sel.topic),
        "reason": (_set(getattr(args, "reason", ())), _set(sel.reasons)),
        "start": (None if start is None else max(0, parse_time(start)), sel.from_ms),
        "end": (None if end is None else parse_time(end), sel.to_ms),
        "last": (getattr(args, "last", None), None),  # a resumed window is fixed: never the run's
        "partition": (_set(args.partition), _set(sel.partitions)),
        "key": (_set(args.key), _set(sel.keys)),
        "where": (_set(parse_where(w) for w in args.where), _set(sel.where)),
        "merchant": (_set(args.merchant), _set(sel.merchants)),
        "from_offset": (args.from_offset, sel.from_offset),
        "to_offset": (args.to_offset, sel.to_offset),
        "to_topic": (args.to_topic, job.to_topic),
        "rate": (args.rate, job.rate),
        "max_replays": (args.max_replays, job.max_replays),
        "force": (args.force or None, job.force),
        "without_outcome": (getattr(args, "without_outcome", False) or None, job.without_outcome),
        "replay_id": (args.replay_id, job.replay_id),
    }
    return [(dest, given, stored) for dest, (given, stored) in pairs.items() if given is not None]


def _set(values: Iterable[Any]) -> tuple[Any, ...] | None:
    """Repeatable values in a plain order; None when there are none (the flag was not given)."""
    return tuple(sorted(set(values))) or None
