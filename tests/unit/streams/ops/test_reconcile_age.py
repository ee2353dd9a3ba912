"""``flexbridge reconcile --older-than AGE``: seconds, or a duration as ``replay --last`` takes it."""

from __future__ import annotations

import argparse

import pytest

from streams.ops.reconcile import add_reconcile_parser


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="flexbridge")
    add_reconcile_parser(parser.add_subparsers())
    return parser.parse_args(["reconcile", *argv])


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("3600", 3600.0), ("0", 0.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0)],
)
def test_an_age_is_seconds_or_a_duration(given: str, seconds: float) -> None:
    assert _parse("--older-than", given).older_than == seconds


def test_no_age_lists_every_order() -> None:
    assert _parse().older_than == 0.0


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("-5", "must be 0 or more"),
        ("2x", "bad duration '2x'"),
        ("99999999999d", "duration '99999999999d' is too large"),
    ],
)
def test_a_bad_age_stops_the_command_naming_the_flag(
    given: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _parse("--older-than", given)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "--older-than" in err and said in err
