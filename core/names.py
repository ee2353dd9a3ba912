"""Field names compared as Flex (ASP.NET Core) binds them: ``OrderId`` = ``orderId`` = ``order_id``."""

from __future__ import annotations

__all__ = ["fold", "folded"]

_FOLDED: dict[str, str] = {}  # folded() of the names seen, bounded (field names are few; input is not)
_FOLDED_MAX = 4096


def fold(name: object) -> str:
    """The comparable form of a field name: no case, no ``_`` or ``-``."""
    return str(name).replace("_", "").replace("-", "").lower()


def folded(name: str) -> str:
    """:func:`fold`, remembered for the names seen (a record's keys are folded on the hot path)."""
    found = _FOLDED.get(name)
    if found is None:
        found = fold(name)
        if len(_FOLDED) < _FOLDED_MAX:
            _FOLDED[name] = found
    return found
