"""orjson encode/decode shared by every wire model."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

from core.errors import InvalidEvent

__all__ = ["decode_object", "dumps", "encode_model"]


def dumps(value: Any) -> bytes:
    """Encode plain data as compact JSON bytes."""
    return orjson.dumps(value)


def encode_model(model: BaseModel) -> bytes:
    """Encode a model by its aliases (the wire names), dropping nothing."""
    return orjson.dumps(model.model_dump(mode="json", by_alias=True))


def decode_object(raw: bytes | None) -> dict[str, Any]:
    """Decode bytes that must hold one JSON object, or raise InvalidEvent (reason ``schema``)."""
    if raw is None:
        raise InvalidEvent("record has no value (tombstone)")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"value is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(value, dict):
        raise InvalidEvent(f"value must be a JSON object, got {type(value).__name__}")
    return value
