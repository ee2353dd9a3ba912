"""Outcome rules: which status /evaluate answers, as data. First matching rule wins.

A rule is ``{"name": str, "when": {"<dotted.path>": <condition>, ...}, "status": str}``. Paths are
looked up case-insensitively in the request body, plus ``$card.last4`` / ``$card.bin`` derived from
``paymentMethod.cardLast4Digits`` or the card remembered for a /tokenize token. A condition is a
JSON scalar (equality) or an object combining ``equals``, ``not``, ``in``, ``startswith`` and
``present`` (all must hold). String comparisons ignore case; a missing field is ``null``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .wire import dig

__all__ = [
    "Condition",
    "OutcomeStatus",
    "Rule",
    "RuleSet",
    "default_rules",
    "load_rules",
    "load_rules_file",
    "match_rule",
]

OutcomeStatus = Literal["APPROVED", "DECLINED", "CHALLENGE", "SUBMITTED", "CAPTUREREQUIRED"]
Scalar = str | int | float | bool | None


class Condition(BaseModel):
    """A test on one value; only the kinds that are given are checked."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    equals: Scalar = None
    not_: Scalar = Field(default=None, alias="not")
    in_: tuple[Scalar, ...] = Field(default=(), alias="in")
    startswith: str = ""
    present: bool = True


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    when: dict[str, Condition | Scalar] = Field(default_factory=dict)
    status: OutcomeStatus


class RuleSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[Rule, ...]


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    return bool(left == right)


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _holds(condition: Condition | Scalar, value: Any) -> bool:
    if not isinstance(condition, Condition):
        return _same(value, condition)
    given = condition.model_fields_set
    if "equals" in given and not _same(value, condition.equals):
        return False
    if "not_" in given and _same(value, condition.not_):
        return False
    if "in_" in given and not any(_same(value, item) for item in condition.in_):
        return False
    if "startswith" in given and not (
        isinstance(value, str) and value.casefold().startswith(condition.startswith.casefold())
    ):
        return False
    return "present" not in given or _present(value) == condition.present


def match_rule(rules: RuleSet, facts: dict[str, Any]) -> Rule | None:
    """The first rule whose every condition holds on the (folded) ``facts``, or None."""
    for rule in rules.rules:
        if all(_holds(condition, dig(facts, path)) for path, condition in rule.when.items()):
            return rule
    return None


def default_rules(approve_last4: tuple[str, ...] = ("1111", "3184", "5851")) -> RuleSet:
    """The rules reproducing every outcome observed on the real Flex sandbox (flex-api.md §6)."""
    cit = {"isMIT": {"not": True}}
    raw = [
        {
            "name": "cit-challenge-phone",
            "status": "CHALLENGE",
            "when": {**cit, "payer.phone": {"startswith": "+99.2001"}},
        },
        {
            "name": "authorization-capture-required",
            "status": "CAPTUREREQUIRED",
            "when": {"transactionType": "AUTHORIZATION", "payer.phone": "998888"},
        },
        {
            "name": "cit-no-phone-no-cvv",
            "status": "DECLINED",
            "when": {
                **cit,
                "payer.phone": {"present": False},
                "paymentMethod.verificationValue": {"present": False},
            },
        },
        {
            "name": "managed-mit",
            "status": "SUBMITTED",
            "when": {"isMIT": True, "expiryDateUtc": {"present": True}},
        },
        {"name": "mit-approve", "status": "APPROVED", "when": {"isMIT": True}},
        {
            "name": "cit-approve-listed-card",
            "status": "APPROVED",
            "when": {"$card.last4": {"in": list(approve_last4)}},
        },
        {"name": "cit-decline", "status": "DECLINED", "when": {}},
    ]
    return load_rules(raw)


def load_rules(document: Any) -> RuleSet:
    """Validate a rules document: ``{"rules": [...]}`` or a bare list of rules.

    Raises ``pydantic.ValidationError`` (a ``ValueError``) when it is malformed.
    """
    if isinstance(document, list):
        document = {"rules": document}
    return RuleSet.model_validate(document)


def load_rules_file(path: Path) -> RuleSet:
    return load_rules(orjson.loads(path.read_bytes()))
