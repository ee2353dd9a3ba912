"""An OrderState as stored may come from another release: a history entry's ``verdict`` and
``source`` this release does not know are read and kept as given; what the order machine acts on
stays strict; the schema and docs/consumers.md still name the verdicts this release writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import orjson
import pytest
from pydantic import ValidationError

from schemas.order_state import OrderState, Verdict
from schemas.status import Source

ROOT = Path(__file__).resolve().parents[3]
ENTRY = {"at": "2026-01-01T10:00:00Z", "status": "APPROVED", "source": "webhook", "eventId": "w1"}


def _stored(order: dict[str, Any] | None = None, **entry: Any) -> bytes:
    doc = {"orderId": "ORD-1", "status": "APPROVED", "history": [{**ENTRY, "verdict": "applied", **entry}]}
    return orjson.dumps({**doc, **(order or {})})


def test_an_entry_with_a_verdict_or_source_another_release_wrote_is_kept_as_given() -> None:
    state = OrderState.model_validate_json(_stored(verdict="someday", source="oracle"))
    [entry] = state.history
    assert (entry.verdict, entry.source) == ("someday", "oracle")
    written = orjson.loads(state.model_dump_json(by_alias=True))["history"][0]
    assert (written["verdict"], written["source"]) == ("someday", "oracle")


@pytest.mark.parametrize(
    ("order", "entry"),
    [
        ({}, {"verdict": 3}),  # not a string
        ({}, {"verdict": None}),
        ({}, {"source": ["webhook"]}),
        ({}, {"status": "TELEPORTED"}),  # the entry's status: compared by the machine
        ({"status": "TELEPORTED"}, {}),  # the order's: the machine acts on it
    ],
)
def test_what_is_not_such_a_value_still_fails(order: dict[str, Any], entry: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OrderState.model_validate_json(_stored(order, **entry))


def test_the_schema_still_names_the_known_verdicts_and_sources() -> None:
    entry = OrderState.model_json_schema(mode="serialization")["$defs"]["HistoryEntry"]["properties"]
    for field, known in (("verdict", Verdict), ("source", Source)):
        enums = [option["enum"] for option in entry[field]["anyOf"] if "enum" in option]
        assert enums == [list(get_args(known))], field
        assert "kept as given" in entry[field]["description"], field


def test_the_docs_name_every_verdict() -> None:
    text = (ROOT / "docs" / "consumers.md").read_text()
    rules, state = text.split("applies rules 1–4 for you", 1)[1], text.split("## The order state", 1)[1]
    listed, described = rules.split("\n\n", 1)[0], state.split("What may follow what", 1)[0]
    for verdict in get_args(Verdict):
        assert f"`{verdict}`" in listed, verdict
        assert f"`{verdict}`" in described, verdict
