"""Argument types the operator verbs share: a value out of range is refused by argparse, naming the
flag, before anything runs."""

from __future__ import annotations

import argparse

__all__ = ["not_negative", "positive"]


def positive(text: str) -> float:
    """A number above zero (a rate, a timeout)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def not_negative(text: str) -> float:
    """A number of zero or more (an age)."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value
