"""``flexbridge replay``'s flags from ``FLEXBRIDGE_REPLAY_*`` (DESIGN.md §2.6), through the verb's own
parser: a flag given wins, a window given takes none of the variables'."""

from __future__ import annotations

import argparse

import pytest

from streams.ops.arguments import with_replay_env
from streams.ops.cli import _window, add_dlq_parser, add_replay_parser


def parsed(*argv: str, **env: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="flexbridge")
    verbs = parser.add_subparsers()
    add_replay_parser(verbs)
    args = parser.parse_args(["replay", *argv])
    with_replay_env(args, {f"FLEXBRIDGE_REPLAY_{k}": v for k, v in env.items()})
    return args


def test_the_variables_fill_the_flags_not_given() -> None:
    args = parsed(TOPIC="payments.declined", LAST="2h", EXECUTE="true")
    assert (args.topic, args.last, args.start, args.execute) == ("payments.declined", "2h", None, True)
    args = parsed(TOPIC="payments.declined", FROM="2026-11-24T10:00:00Z", TO="2026-11-24T11:00:00Z")
    assert (args.start, args.end, args.execute) == ("2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z", False)


def test_a_flag_given_wins_and_a_window_given_takes_none_of_the_variables() -> None:
    args = parsed(
        "--topic",
        "payments.approved",
        "--last",
        "15m",
        TOPIC="payments.declined",
        FROM="2026-11-24T10:00:00Z",
    )
    assert (args.topic, args.last, args.start) == ("payments.approved", "15m", None)
    assert parsed("--execute", EXECUTE="0").execute is True


def test_execute_must_be_a_boolean_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="FLEXBRIDGE_REPLAY_EXECUTE: 'maybe' is not a boolean"):
        parsed(EXECUTE="maybe")


def test_dlq_inspect_is_show() -> None:
    parser = argparse.ArgumentParser(prog="flexbridge")
    add_dlq_parser(parser.add_subparsers())
    inspect, show = parser.parse_args(["dlq", "inspect", "0:12"]), parser.parse_args(["dlq", "show", "0:12"])
    assert inspect.run is show.run and inspect.position == show.position == "0:12"


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--from-offset", "-5"), ("--to-offset", "-1"), ("--partition", "-1"), ("--max-replays", "0")],
)
def test_a_negative_offset_or_partition_and_no_replay_at_all_are_refused_naming_the_flag(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parsed("--topic", "payments.approved", flag, value)
    assert exit_.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def _dlq(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="flexbridge")
    add_dlq_parser(parser.add_subparsers())
    return parser.parse_args(["dlq", *argv])


@pytest.mark.parametrize(
    "argv", [("replay", "--topic", "payments.approved"), ("dlq", "list"), ("dlq", "redrive")]
)
def test_a_duration_too_large_is_refused_naming_the_flag(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="flexbridge")
    verbs = parser.add_subparsers()
    add_replay_parser(verbs)
    add_dlq_parser(verbs)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args([*argv, "--last", "99999999999d"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --last" in err and "too large" in err


@pytest.mark.parametrize(
    "window",
    [("--last", "30000d"), ("--last", "1000000d"), ("--from", "0001-01-01T00:00:00Z")],
)
def test_a_window_reaching_before_1970_starts_at_the_beginning(window: tuple[str, str]) -> None:
    assert _window(_dlq("list", *window)) == (0, None)
    assert _window(parsed("--topic", "payments.approved", *window)) == (0, None)


def test_a_window_from_before_1970_keeps_its_end() -> None:
    args = _dlq("list", "--from", "1960-01-01T00:00:00Z", "--to", "2026-11-24T10:00:00Z")
    assert _window(args) == (0, 1_795_514_400_000)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("LAST", "2x", "FLEXBRIDGE_REPLAY_LAST: bad duration '2x'"),
        ("LAST", "99999999999d", "FLEXBRIDGE_REPLAY_LAST: duration '99999999999d' is too large"),
        ("FROM", "yesterday", "FLEXBRIDGE_REPLAY_FROM: bad date-time 'yesterday'"),
        ("TO", "noon", "FLEXBRIDGE_REPLAY_TO: bad date-time 'noon'"),
    ],
)
def test_a_bad_window_from_a_variable_names_the_variable(variable: str, value: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parsed("--topic", "payments.approved", **{variable: value})


def test_a_window_given_ignores_a_bad_variable() -> None:
    assert parsed("--topic", "payments.approved", "--last", "1h", LAST="2x").last == "1h"
