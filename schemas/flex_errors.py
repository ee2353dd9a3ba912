"""Flex error bodies → ``dict[str, list[str]]``, and card-number redaction for anything logged.

Flex (ASP.NET Core) answers errors in several shapes; :func:`parse_error_body` folds them all into
one field → messages map. Re-exported by :mod:`schemas.flex`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from core.names import fold
from core.pan import redact_pan

__all__ = ["error_messages", "parse_error_body", "redact_pan"]

_PLAIN_MESSAGE_KEYS = ("responsemessage", "detail", "title", "message", "error")


def error_messages(value: Any) -> list[str]:
    """A value or list of values → non-empty, PAN-redacted strings."""
    items = value if isinstance(value, list | tuple) else [value]
    return [redact_pan(str(v)) for v in items if v is not None and v != "" and not isinstance(v, dict)]


def _merge(out: dict[str, list[str]], key: str, value: Any) -> None:
    messages = error_messages(value)
    if messages:
        out.setdefault(key, []).extend(messages)


def _decode(body: bytes | str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return {"body": [text.strip()[:200]]}


def _merge_tuples(out: dict[str, list[str]], errors: list[Any]) -> None:
    """The envelope's ``[{"item1": message, "item2": code, "item3": code, "item4": flag}]``."""
    for item in errors:
        if isinstance(item, Mapping):
            folded = {fold(k): v for k, v in item.items()}
            code = folded.get("item2") or folded.get("item3") or folded.get("code") or "error"
            _merge(out, str(code), folded.get("item1", folded.get("message")))
        else:
            _merge(out, "error", item)


def parse_error_body(body: bytes | str | Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Field → messages from any Flex error body; never raises.

    Understands the flat ASP.NET map ``{"TraceId": [...], "OrderId": [...]}``, the older
    ``{"status": "400", "errors": {...}}`` (and ProblemDetails with ``traceId``), the envelope's
    ``errors`` list of ``{"item1": message, "item2": code, ...}`` tuples (keyed by code), and a
    lone ``responseMessage``/``title``/``message``. A body that is not JSON comes back, shortened,
    under ``"body"``. Digit runs that look like card numbers are redacted.
    """
    if body is None or body in (b"", ""):
        return {}
    data = _decode(body) if isinstance(body, bytes | str) else body
    out: dict[str, list[str]] = {}
    if not isinstance(data, Mapping):
        _merge(out, "body", data)
        return out
    fields = {fold(k): k for k in data}
    errors = data[fields["errors"]] if "errors" in fields else None
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            _merge(out, str(key), value)
    elif isinstance(errors, list | tuple):
        _merge_tuples(out, list(errors))
    for key, value in data.items():
        if fold(key) == "traceid":
            _merge(out, "TraceId", value)
        elif isinstance(value, list | tuple) and fold(key) != "errors":
            _merge(out, str(key), value)
    if not any(k != "TraceId" for k in out):
        for folded in _PLAIN_MESSAGE_KEYS:
            if folded in fields and isinstance(data[fields[folded]], str):
                code = data.get("responseCode") if folded == "responsemessage" else None
                _merge(out, str(code or fields[folded]), data[fields[folded]])
                break
    return out
