"""docs/consumers.md "The same fact twice" lists which sources publish which status: checked
against the code's own mappings, so a downstream reader knows which statuses can come twice."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from consumers.reconcile import _BY_NAME
from schemas.status import FLEX_STATUSES, Source, Status
from schemas.webhooks import STATUS_BY_EVENT

ROOT = Path(__file__).resolve().parents[2]
STATUSES: tuple[str, ...] = get_args(Status)

# What each source can publish (the command handler's answers are consumers/commands.py's).
PUBLISHES: dict[str, set[str]] = {
    "evaluate": set(FLEX_STATUSES) | {"REJECTED", "FAILED"},  # consumers/flows.py
    "batch": set(FLEX_STATUSES) | {"PENDING", "REJECTED", "FAILED"},  # upload, result poller
    "webhook": set(STATUS_BY_EVENT.values()),
    "command": {"APPROVED", "CANCELLED", "REFUNDED", "REJECTED", "FAILED"},  # capture, cancel, refund
    "reconcile": set(_BY_NAME.values()),
}


def documented() -> dict[str, set[str]]:
    """status → the sources the table under "The same fact twice" names for it."""
    text = (ROOT / "docs" / "consumers.md").read_text()
    section = text.split("### The same fact twice", 1)[1].split("\n#", 1)[0]  # to the next heading
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    return {row[0].strip(" `"): set(re.findall(r"`([a-z]+)`", row[1])) for row in rows}


def test_the_table_names_every_source_of_every_status() -> None:
    by_status = {status: {src for src, made in PUBLISHES.items() if status in made} for status in STATUSES}
    assert documented() == by_status
    assert set(PUBLISHES) <= set(get_args(Source))


def test_the_advice_no_longer_says_an_event_id_identifies_a_fact() -> None:
    text = (ROOT / "docs" / "consumers.md").read_text()
    assert "(`eventId`, `status`) identifies it" not in text
    assert "the same fact told again" in text
