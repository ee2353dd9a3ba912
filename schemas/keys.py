"""Case-insensitive field names, as Flex (ASP.NET Core) binds them: `OrderId` = `orderId` = `order_id`
(the folding itself: core/names.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from core.names import fold, folded

__all__ = ["Aliases", "canonical_keys", "field_aliases"]


class Aliases(dict[str, str]):
    """Folded wire name → wire name, for every field of a model (:func:`field_aliases`); and the key
    sequences of inputs already found to need no renaming (one publisher sends one shape: checked
    once, then passed on as they are)."""

    def __init__(self, pairs: Mapping[str, str]) -> None:
        super().__init__(pairs)
        self.as_is: set[tuple[Any, ...]] = set()


def field_aliases(model: type[BaseModel]) -> Aliases:
    """Folded wire name → wire name, for every field of ``model``."""
    return Aliases({fold(f.alias or n): f.alias or n for n, f in model.model_fields.items()})


_AS_IS_MAX, _AS_IS_KEYS = 1024, 64  # key sequences remembered per model as needing no renaming


def canonical_keys(data: Mapping[Any, Any], aliases: Aliases) -> Mapping[Any, Any]:
    """Rename keys that differ from a field's wire name only by case, ``_`` or ``-``.

    Other keys are kept as they are. When both spellings are present, the exact one wins. ``data``
    itself when nothing is renamed (its key sequence is then remembered, up to a bound).
    """
    keys = tuple(data)
    if keys in aliases.as_is:
        return data
    out: dict[Any, Any] = {}
    for key, value in data.items():
        canonical = aliases.get(folded(key), key) if isinstance(key, str) else key
        if canonical in out and canonical != key:
            continue
        out[canonical] = value
    if len(keys) <= _AS_IS_KEYS and tuple(out) == keys and len(aliases.as_is) < _AS_IS_MAX:
        aliases.as_is.add(keys)
    return out
