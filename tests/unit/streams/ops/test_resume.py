"""``--resume REPLAY_ID`` continues the run as it started: a flag that is not the run's, or the other
verb's run, is refused naming it (streams/ops/resume.py)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from streams.ops.arguments import with_replay_env
from streams.ops.cli import add_dlq_parser, add_replay_parser
from streams.ops.plan import Job, Plan
from streams.ops.resume import resumed_job
from streams.ops.selection import Selection

DECLINED = Selection(topic="payments.declined", from_ms=1_795_514_400_000, partitions=(0, 2))
REPLAY = Job("replay", DECLINED, "replay-1", max_replays=5)
REDRIVE = Job("redrive", Selection(topic="payments.dlq", reasons=("retries-exhausted",)), "redrive-1")


def _started(job: Job) -> dict[str, Any]:
    return {"phase": "started", "plan": Plan(job, {}, {}).as_dict()}


def _args(*argv: str, **env: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="flexbridge")
    verbs = parser.add_subparsers()
    add_replay_parser(verbs)
    add_dlq_parser(verbs)
    args = parser.parse_args(list(argv))
    if argv[0] == "replay":
        with_replay_env(args, {f"FLEXBRIDGE_REPLAY_{k}": v for k, v in env.items()})
    return args


def test_a_resume_without_other_flags_or_with_the_runs_own_continues_it() -> None:
    assert (
        resumed_job(_args("replay", "--resume", "replay-1", "--execute"), "replay", _started(REPLAY))
        == REPLAY
    )
    same = _args(
        "replay",
        "--resume",
        "replay-1",
        "--topic",
        "payments.declined",
        "--from",
        "2026-11-24T10:00:00Z",
        "--partition",
        "2",
        "--partition",
        "0",
        "--max-replays",
        "5",
        "--replay-id",
        "replay-1",
    )
    assert resumed_job(same, "replay", _started(REPLAY)) == REPLAY
    redrive = _args("dlq", "redrive", "--resume", "redrive-1", "--reason", "retries-exhausted")
    assert resumed_job(redrive, "redrive", _started(REDRIVE)) == REDRIVE


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--topic", "payments.approved"), "--topic"),
        (("--last", "1h"), "--last"),
        (("--from", "2026-11-24T11:00:00Z"), "--from"),
        (("--to", "2026-11-24T12:00:00Z", "--from", "2026-11-24T10:00:00Z"), "--to"),
        (("--partition", "1"), "--partition"),
        (("--key", "ORD-1"), "--key"),
        (("--where", "isMIT=true"), "--where"),
        (("--from-offset", "3"), "--from-offset"),
        (("--to-topic", "payments.approved"), "--to-topic"),
        (("--rate", "5"), "--rate"),
        (("--max-replays", "3"), "--max-replays"),
        (("--force",), "--force"),
        (("--without-outcome",), "--without-outcome"),
        (("--replay-id", "replay-2"), "--replay-id"),
    ],
)
def test_a_flag_that_is_not_the_runs_is_refused_naming_it(flags: tuple[str, ...], named: str) -> None:
    args = _args("replay", "--resume", "replay-1", *flags)
    with pytest.raises(ValueError, match=f"--resume replay-1 continues that run .*: {named}$"):
        resumed_job(args, "replay", _started(REPLAY))


def test_a_redrive_flag_that_is_not_the_runs_is_refused_naming_it() -> None:
    args = _args("dlq", "redrive", "--resume", "redrive-1", "--reason", "flex-rejected", "--merchant", "acme")
    with pytest.raises(ValueError, match=r"--reason, --merchant$"):
        resumed_job(args, "redrive", _started(REDRIVE))


def test_a_variable_that_is_not_the_runs_is_named() -> None:
    args = _args("replay", "--resume", "replay-1", TOPIC="payments.approved", LAST="2h")
    with pytest.raises(ValueError, match=r"FLEXBRIDGE_REPLAY_TOPIC, FLEXBRIDGE_REPLAY_LAST$"):
        resumed_job(args, "replay", _started(REPLAY))


def test_the_other_verbs_run_is_refused_naming_its_verb() -> None:
    with pytest.raises(
        ValueError, match=r"replay-1 is a replay run, not a redrive: .*flexbridge replay --resume"
    ):
        resumed_job(_args("dlq", "redrive", "--resume", "replay-1"), "redrive", _started(REPLAY))
    with pytest.raises(
        ValueError, match=r"redrive-1 is a redrive run, not a replay: .*flexbridge dlq redrive"
    ):
        resumed_job(_args("replay", "--resume", "redrive-1"), "replay", _started(REDRIVE))
