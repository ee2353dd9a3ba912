"""Encoding and decoding for Flex calls: URL path segments, orjson bodies, response models."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from consumers.flex.errors import FlexBadResponse
from core.errors import InvalidEvent

__all__ = ["decode_model", "encode_json", "segment"]

M = TypeVar("M", bound=BaseModel)


def segment(value: str) -> str:
    """One URL path segment, fully escaped (``/``, ``?``, ``#``, ``%`` and dot-segments included)."""
    if not value:
        raise InvalidEvent("empty id in a Flex URL path")
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError("non-finite Decimal")
        return orjson.Fragment(format(value, "f").encode())
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(type(value).__name__)


def encode_json(body: Mapping[str, Any]) -> bytes:
    """orjson with Decimals written exactly (``Decimal("12.50")`` → ``12.50``) and Mappings as objects."""
    try:
        return orjson.dumps(body, default=_default)
    except orjson.JSONEncodeError as exc:
        raise InvalidEvent(f"request body cannot be encoded as JSON: {exc}") from None


def _validation_summary(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors(include_input=False)]
    return "; ".join(parts[:5])


def decode_model(model: type[M], response: httpx.Response, endpoint: str) -> M:
    """Parse a success body into ``model`` (empty body → ``{}``); anything else → FlexBadResponse."""
    raw = response.content.strip()
    try:
        data: Any = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace")
        if not (text.isascii() and text.isalpha() and len(text) <= 32):  # e.g. a bare SUCCESS
            raise FlexBadResponse(
                f"{endpoint}: {response.status_code} body is not JSON ({len(raw)} bytes)",
                status_code=response.status_code,
                endpoint=endpoint,
            ) from None
        data = text
    try:
        return model.model_validate(data)
    except ValidationError as exc:  # never chain it: it would carry the input values
        message = f"{endpoint}: {response.status_code} unexpected body: {_validation_summary(exc)}"
        raise FlexBadResponse(message, status_code=response.status_code, endpoint=endpoint) from None
