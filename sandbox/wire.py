"""JSON on the wire: case-insensitive binding, the Flex response envelope, ASP.NET-style errors."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

__all__ = [
    "Exchange",
    "JsonObject",
    "begin_exchange",
    "caller_mid",
    "dig",
    "dumps",
    "envelope",
    "error_item",
    "error_map",
    "failure",
    "fold",
    "iso",
    "json_response",
    "kept",
    "mark_replayed",
    "new_trace_id",
    "parse_body",
    "read_json",
    "utcnow",
    "validation_response",
]

JsonObject = dict[str, Any]
_UNSET = object()
_NOT_JSON = object()


@dataclass(slots=True)
class Exchange:
    """Per-request scratch shared by the middleware and the endpoint (aiohttp runs each request in
    its own task, so a context variable is per request)."""

    parsed: Any = _UNSET
    replayed: bool = False
    mid: str | None = None  # the MID of the merchant whose token authenticated the call


_EXCHANGE: ContextVar[Exchange] = ContextVar("sandbox_exchange")


def begin_exchange() -> Exchange:
    exchange = Exchange()
    _EXCHANGE.set(exchange)
    return exchange


def _current() -> Exchange:
    try:
        return _EXCHANGE.get()
    except LookupError:
        return begin_exchange()


def mark_replayed() -> None:
    """Tell the journal this answer had no effect of its own (a replay or a collapsed repeat)."""
    _current().replayed = True


def caller_mid() -> str | None:
    """The MID bound to the bearer token of the call being answered (None when unauthenticated)."""
    return _current().mid


def dumps(value: Any) -> bytes:
    """Serialize with orjson (datetimes become ISO 8601 strings)."""
    return orjson.dumps(value)


def kept(raw: bytes | bytearray) -> bytes:
    """``raw`` from orjson in bytes of its own size, for JSON held long (the journal, idempotency):
    orjson's bytes keep the whole buffer it wrote into, at least 4 KB whatever the JSON's length."""
    return bytes(memoryview(raw))


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, millisecond precision; None stays None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fold(value: Any) -> Any:
    """Lower-case every object key, recursively: how ASP.NET binds JSON (case-insensitively)."""
    if isinstance(value, dict):
        return {str(key).lower(): fold(item) for key, item in value.items()}
    if isinstance(value, list):
        return [fold(item) for item in value]
    return value


def dig(value: Any, path: str) -> Any:
    """Value at a dotted path of a folded document (case-insensitive), or None when absent."""
    current = value
    for part in path.lower().split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def new_trace_id() -> str:
    """A W3C traceparent, the ``TraceId`` ASP.NET puts in validation errors."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def error_item(message: str, code: str) -> JsonObject:
    """One entry of ``errors``: a serialized .NET tuple."""
    return {"item1": message, "item2": code, "item3": code, "item4": True}


def envelope(
    *,
    success: bool = True,
    result: str | None = None,
    status: str | None = None,
    status_code: str | None = None,
    errors: list[JsonObject] | None = None,
    **fields: Any,
) -> JsonObject:
    """Endpoint-specific ``fields`` followed by the common Flex envelope."""
    return {
        **fields,
        "success": success,
        "result": result,
        "status": status,
        "statusCode": status_code,
        "errors": errors or [],
        "customProperties": {},
    }


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=dumps(payload),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def failure(http_status: int, message: str, code: str, **fields: Any) -> web.Response:
    """A JSON envelope with ``success: false`` and one error item."""
    body = envelope(success=False, status="FAILED", errors=[error_item(message, code)], **fields)
    return json_response(body, status=http_status)


def error_map(status: int, errors: Mapping[str, list[str]]) -> web.Response:
    """The flat ASP.NET error map (``TraceId`` first, then messages by field) with ``status``."""
    return json_response({"TraceId": [new_trace_id()], **errors}, status=status)


def validation_response(errors: Mapping[str, list[str]]) -> web.Response:
    """HTTP 400 with the flat ASP.NET validation map, ``TraceId`` first."""
    return error_map(400, errors)


def parse_body(raw: bytes) -> Any:
    """Parse (once per request) and cache the body; returns None for an empty or non-JSON body."""
    exchange = _current()
    if exchange.parsed is _UNSET:
        try:
            exchange.parsed = orjson.loads(raw) if raw.strip() else _NOT_JSON
        except orjson.JSONDecodeError:
            exchange.parsed = _NOT_JSON
    return None if exchange.parsed is _NOT_JSON else exchange.parsed


def _is_json_type(request: web.Request) -> bool:
    main, _, sub = request.content_type.lower().partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def read_json(request: web.Request, *, optional: bool = False) -> JsonObject | web.Response:
    """The folded JSON object of the request, or the error response ASP.NET would give.

    ``optional`` accepts an empty body (any content type) as ``{}``.
    """
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        return validation_response({"": ["A non-empty request body is required."]})
    if not _is_json_type(request):
        problem = {
            "type": "https://tools.ietf.org/html/rfc7231#section-6.5.13",
            "title": "Unsupported Media Type",
            "status": 415,
            "traceId": new_trace_id(),
        }
        return json_response(problem, status=415)
    value = parse_body(raw)
    if not isinstance(value, dict):
        return validation_response({"$": ["The JSON value could not be converted to a request object."]})
    folded: JsonObject = fold(value)
    return folded
