"""The outcome-rule matcher and card masking, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sandbox.journal import mask_card_data
from sandbox.rules import default_rules, load_rules, match_rule
from sandbox.wire import fold


def status_of(rules: Any, body: dict[str, Any]) -> str | None:
    rule = match_rule(load_rules(rules), fold(body))
    return None if rule is None else rule.status


@pytest.mark.parametrize(
    ("condition", "value", "holds"),
    [
        ("abc", "ABC", True),
        ({"equals": "abc"}, "abd", False),
        ({"not": True}, None, True),
        ({"not": True}, True, False),
        ({"in": ["1111", "3184"]}, "3184", True),
        ({"in": [1]}, True, False),
        ({"startswith": "+99.2001"}, "+99.2001A", True),
        ({"startswith": "+99"}, 99, False),
        ({"present": True}, "", False),
        ({"present": False}, None, True),
        ({"present": True, "startswith": "x"}, "xy", True),
    ],
)
def test_condition_kinds(condition: Any, value: Any, holds: bool) -> None:
    rules = [{"name": "r", "when": {"a.B": condition}, "status": "APPROVED"}]
    assert (status_of(rules, {"A": {"b": value}}) == "APPROVED") is holds


def test_first_match_wins_and_no_match_is_none() -> None:
    rules = {
        "rules": [
            {"name": "one", "when": {"x": 1}, "status": "CHALLENGE"},
            {"name": "two", "when": {"x": 1}, "status": "DECLINED"},
        ]
    }
    assert status_of(rules, {"x": 1}) == "CHALLENGE"
    assert status_of(rules, {"x": 2}) is None


def test_rules_are_validated() -> None:
    with pytest.raises(ValidationError):
        load_rules([{"name": "r", "when": {"x": {"contains": "y"}}, "status": "APPROVED"}])
    with pytest.raises(ValidationError):
        load_rules([{"name": "r", "status": "PENDING"}])


def test_default_rules_order_and_approve_list() -> None:
    names = [rule.name for rule in default_rules().rules]
    assert names[0] == "cit-challenge-phone" and names[-1] == "cit-decline"
    custom = default_rules(("0000",))
    body = fold({"isMIT": False, "payer": {"phone": "1"}, "$card": {"last4": "0000"}})
    matched = match_rule(custom, body)
    assert matched is not None and matched.status == "APPROVED"


def test_mask_card_data() -> None:
    masked = mask_card_data({"a": ["4111111111111111", "12345"], "verificationValue": "123", "n": 4})
    assert masked == {"a": ["411111******1111", "12345"], "verificationValue": "***", "n": 4}
