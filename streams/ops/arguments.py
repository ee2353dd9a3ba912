"""Argument types the operator verbs share: a value out of range is refused by argparse, naming the
flag, before anything runs."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from streams.ops.selection import parse_duration, parse_time

__all__ = [
    "REPLAY_ENV",
    "add_merchant_filter",
    "age",
    "at_least_one",
    "duration",
    "not_negative",
    "positive",
    "with_replay_env",
]


def positive(text: str) -> float:
    """A number above zero (a rate, a timeout)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def not_negative(text: str) -> int:
    """A whole number, 0 or more (an offset, a partition)."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def at_least_one(text: str) -> int:
    """A whole number, 1 or more (a count that 0 would make refuse everything)."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def add_merchant_filter(parser: argparse.ArgumentParser, what: str = "records") -> None:
    """``--merchant NAME`` (repeatable): the merchants file's names (streams/ops/merchant_names.py)."""
    parser.add_argument(
        "--merchant",
        action="append",
        default=[],
        metavar="NAME",
        help=f"only this merchant's {what}, by its name in the merchants file (repeatable)",
    )


def age(text: str) -> float:
    """An age in seconds, 0 or more: a number of seconds (``3600``) or a duration as ``replay
    --last`` takes it (``90s``, ``15m``, ``2h``, ``1d``, ``1w``)."""
    try:
        value = float(text)
    except ValueError:
        try:
            return parse_duration(text).total_seconds()
        except ValueError as exc:
            number = ", or a number of seconds" if str(exc).startswith("bad duration") else ""
            raise argparse.ArgumentTypeError(f"{exc}{number}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def duration(text: str) -> str:
    """A duration as ``--last`` takes it (``90s``, ``15m``, ``2h``, ``1d``, ``1w``), checked and
    kept as text (the window is taken from it when the verb runs)."""
    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


REPLAY_ENV = "FLEXBRIDGE_REPLAY_"  # FLEXBRIDGE_REPLAY_TOPIC, …_FROM, …_TO, …_LAST, …_EXECUTE
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
_WINDOW = ("start", "end", "last")
_VARIABLES = {"topic": "TOPIC", "start": "FROM", "end": "TO", "last": "LAST", "execute": "EXECUTE"}


def with_replay_env(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> None:
    """Fill ``flexbridge replay``'s flags not given from ``FLEXBRIDGE_REPLAY_<FLAG>`` (DESIGN.md
    §2.6: the flags scripts rely on are settable by environment too). A flag given wins, and a
    window given on the command line (``--from``/``--to``/``--last``) takes none of the variables'.
    ``…_EXECUTE`` is a boolean (1/true/yes/on or 0/false/no/off), ``…_FROM``/``…_TO`` date-times
    and ``…_LAST`` a duration, as their flags take them; another value is a ValueError naming the
    variable."""
    env = os.environ if environ is None else environ
    found: dict[str, object] = {}
    for dest, flag in _VARIABLES.items():
        if dest != "execute" and (value := env.get(REPLAY_ENV + flag, "").strip()):
            found[dest] = value
    execute = env.get(REPLAY_ENV + "EXECUTE", "").strip().lower()
    if execute not in _TRUE + _FALSE:
        raise ValueError(f"{REPLAY_ENV}EXECUTE: {execute!r} is not a boolean (1/true/yes/on, 0/false/no/off)")
    found["execute"] = execute in _TRUE
    windowed = any(getattr(args, dest) for dest in _WINDOW)
    args.from_env = {}  # dest → the variable that set it (what an error about it names)
    for dest, given in found.items():
        if not getattr(args, dest) and not (windowed and dest in _WINDOW):
            _check_window_value(dest, str(given))
            setattr(args, dest, given)
            args.from_env[dest] = REPLAY_ENV + _VARIABLES[dest]


def _check_window_value(dest: str, value: str) -> None:
    """A window taken from a variable parses as its flag's would; a ValueError names the variable."""
    try:
        if dest == "last":
            parse_duration(value)
        elif dest in ("start", "end"):
            parse_time(value)
    except ValueError as exc:
        variable = REPLAY_ENV + _VARIABLES[dest]
        raise ValueError(f"{variable}: {exc}") from None
