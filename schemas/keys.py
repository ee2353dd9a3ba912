"""Case-insensitive field names, as Flex (ASP.NET Core) binds them: `OrderId` = `orderId` = `order_id`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["canonical_keys", "field_aliases", "fold"]


def fold(name: object) -> str:
    """The comparable form of a field name: no case, no ``_`` or ``-``."""
    return str(name).replace("_", "").replace("-", "").lower()


def field_aliases(model: type[BaseModel]) -> dict[str, str]:
    """Folded wire name → wire name, for every field of ``model``."""
    return {fold(f.alias or n): f.alias or n for n, f in model.model_fields.items()}


_FOLDED: dict[str, str] = {}  # fold() of the field names seen, bounded (names are few; input is not)
_FOLDED_MAX = 4096


def _fold_new(name: str) -> str:
    folded = fold(name)
    if len(_FOLDED) < _FOLDED_MAX:
        _FOLDED[name] = folded
    return folded


def canonical_keys(data: Mapping[Any, Any], aliases: Mapping[str, str]) -> dict[Any, Any]:
    """Rename keys that differ from a field's wire name only by case, ``_`` or ``-``.

    Other keys are kept as they are. When both spellings are present, the exact one wins.
    """
    out: dict[Any, Any] = {}
    for key, value in data.items():
        canonical = aliases.get(_FOLDED.get(key) or _fold_new(key), key) if isinstance(key, str) else key
        if canonical in out and canonical != key:
            continue
        out[canonical] = value
    return out
