"""Structured logs: one JSON object per line with the record's orderId/eventId, card numbers masked.

The pipeline binds the record it works on (:func:`bind`, a context variable, so every task sees
only its own record); the formatter adds those fields to every line logged meanwhile. Messages
pass through the PAN redactor; secrets are ``SecretStr`` and never reach a message.
"""

from __future__ import annotations

import contextvars
import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.pan import redact_pan

__all__ = ["JsonFormatter", "TextFormatter", "bind", "install"]

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "flexbridge_log", default=None
)


def bind(**fields: Any) -> None:
    """Add fields (orderId, eventId, topic, partition, offset) to every log line of this task."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})


def _context_fields() -> dict[str, Any]:
    """The bound fields, card numbers masked: a record key or eventId may hold one by mistake."""
    return {k: redact_pan(v) if isinstance(v, str) else v for k, v in (_context.get() or {}).items()}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_pan(record.getMessage()),
            **_context_fields(),
        }
        if record.exc_info:
            line["exc"] = redact_pan(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("[%(asctime)s] [%(levelname)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = _context_fields()
        text = redact_pan(super().format(record))
        if context:
            text += " " + " ".join(f"{k}={v}" for k, v in context.items())
        return text


def install(fmt: str, logger: logging.Logger | None = None) -> None:
    """Put the json (or text) formatter on every handler of ``logger`` (the root by default)."""
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    target = logger or logging.getLogger()
    for handler in target.handlers:
        handler.setFormatter(formatter)
