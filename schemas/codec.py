"""orjson encode/decode shared by every wire model."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

from core.errors import InvalidEvent

__all__ = [
    "MAX_DEPTH",
    "decode_object",
    "dumps",
    "encode_model",
    "json_kind",
    "json_object",
    "kept",
    "load_json",
]


def kept(raw: bytes) -> bytes:
    """``raw`` from ``orjson.dumps`` in bytes of its own size, for JSON held long (a table, a cache).

    The bytes orjson returns keep the whole buffer it wrote into: at least 4 KB, whatever the JSON's
    length (by RSS, 100,000 documents of 600 bytes held 8.2 KB each; copied, 0.66 KB). Bytes sent
    and dropped need no copy."""
    return bytes(memoryview(raw))


def dumps(value: Any) -> bytes:
    """Encode plain data as compact JSON bytes."""
    return orjson.dumps(value)


def encode_model(model: BaseModel) -> bytes:
    """Encode a model by its aliases (the wire names), dropping nothing."""
    return orjson.dumps(model.model_dump(mode="json", by_alias=True))


def json_kind(value: Any) -> str:
    """How an error message names the JSON type of ``value`` ("an array", "a number" …)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names = {dict: "an object", list: "an array", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def load_json(raw: bytes | str, subject: str = "value") -> Any:
    """Parse JSON, or raise InvalidEvent naming ``subject`` and where the parse failed."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"{subject} is not valid JSON: {exc.msg} at position {exc.pos}") from None


def json_object(value: Any, subject: str = "value") -> dict[str, Any]:
    """``value`` if it is a JSON object, else InvalidEvent naming ``subject`` and what it holds."""
    if not isinstance(value, dict):
        raise InvalidEvent(f"{subject} must be a JSON object, got {json_kind(value)}")
    return value


# How deep a record's JSON may nest. orjson reads up to 1024 levels but writes at most about 254, so
# a deeper record would be taken and then fail where it is written out (a batch file, a Flex call);
# a payment event nests a few levels.
MAX_DEPTH = 64


def decode_object(raw: bytes | None) -> dict[str, Any]:
    """Decode bytes that must hold one JSON object, nested at most :data:`MAX_DEPTH` levels, or raise
    InvalidEvent (reason ``schema``)."""
    if raw is None:
        raise InvalidEvent("record has no value (tombstone)")
    value = json_object(load_json(raw))
    # only a record with that many brackets (in strings too: a few more walks, never a miss) can
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _nests_deeper(value, MAX_DEPTH):
        raise InvalidEvent(f"value nests deeper than {MAX_DEPTH} levels of objects and arrays")
    return value


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether ``value`` (decoded JSON) has objects or arrays more than ``limit`` levels deep."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        inner = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in inner if isinstance(child, dict | list))
    return False
