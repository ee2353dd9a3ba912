"""Structured logs: one JSON object per line with the record's orderId/eventId, card numbers masked.

The pipeline binds the record it works on (:func:`bind`, a context variable, so every task sees
only its own record); the formatter adds those fields to every line logged meanwhile. Messages
pass through the PAN redactor; secrets are ``SecretStr`` and never reach a message.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import types
from datetime import UTC, datetime
from typing import Any

import orjson

from core.pan import redact_pan

__all__ = [
    "JsonFormatter",
    "RebalancedCommit",
    "TextFormatter",
    "bind",
    "install",
    "log_consumer",
    "log_task_running",
    "log_tasks",
]

log = logging.getLogger(__name__)

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
    """Put the json (or text) formatter on every handler of ``logger`` (the root by default), and
    log a library's routine message at its real weight (:class:`RebalancedCommit`)."""
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    target = logger or logging.getLogger()
    for handler in target.handlers:
        handler.setFormatter(formatter)
    for kind in (RebalancedCommit,):
        library = logging.getLogger(kind.LOGGER)
        if not any(isinstance(f, kind) for f in library.filters):
            library.addFilter(kind())


def _relevel(record: logging.LogRecord, level: int) -> None:
    record.levelno, record.levelname = level, logging.getLevelName(level)


class RebalancedCommit(logging.Filter):
    """aiokafka logs an offset commit the group refused because it rebalanced meanwhile
    (``UnknownMemberIdError``, ``IllegalGenerationError``, ``RebalanceInProgressError``: "will
    rejoin") at error level, once per partition. That is the group at work, not a failure to act
    on: the committer is told (flexbridge's pipeline logs a warning, Faust returns quietly), the
    consumer rejoins, and the records not committed are read again by their next owner and skipped
    by the ledger. So it is logged as a warning; every other error of aiokafka's stays an error."""

    LOGGER = "aiokafka.consumer.group_coordinator"
    MESSAGE = "OffsetCommit failed for group %s due to group error (%s), will rejoin"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.msg == self.MESSAGE:
            _relevel(record, logging.WARNING)
        return True


def log_tasks() -> None:
    """``kill -USR1 <worker pid>``: log where every asyncio task is waiting, and every coroutine of
    flexbridge's own that no task runs directly (Faust hides its agents' behind an actor object)."""
    tasks = asyncio.all_tasks()
    tops = {id(t.get_coro()) for t in tasks}
    for task in tasks:
        log.warning("task %s waits in %s", task.get_name(), " > ".join(_awaiting(task.get_coro())))
    for coro in gc.get_objects():
        if isinstance(coro, types.CoroutineType) and id(coro) not in tops and coro.cr_frame is not None:
            if "/streams/" in coro.cr_code.co_filename and coro.cr_await is not None:
                log.warning("coroutine %s waits in %s", coro.cr_code.co_name, " > ".join(_awaiting(coro)))
    log.warning("%d tasks listed (SIGUSR1)", len(tasks))


def log_task_running(function: str) -> None:
    """Log where the tasks running ``function`` (a coroutine's name) wait, or that none does."""
    chains = [_awaiting(t.get_coro()) for t in asyncio.all_tasks()]
    found = [chain for chain in chains if any(step.endswith(f" {function}") for step in chain)]
    for chain in found:
        log.warning("%s waits in %s", function, " > ".join(chain))
    if not found:
        log.warning("no task runs %s", function)


def log_consumer(app: Any) -> None:
    """With the task dump: what the Faust app's consumer does with each partition it holds — handed
    out to agents or paused by Faust, its fetch position, the last offset handed out — and the
    requests the broker has not answered yet. (Faust and aiokafka internals: diagnostics only.)"""
    consumer = app.consumer
    kafka = consumer._thread._consumer
    subscription = kafka._subscription.subscription if kafka is not None else None
    if subscription is None or subscription.assignment is None:
        log.warning("Faust consumer: no assignment (SIGUSR1)")
        return
    assignment = subscription.assignment
    active = consumer._active_partitions or set()
    for tp in sorted(assignment.tps):
        log.warning(
            "Faust consumer %s/%d: %s, position %s, last handed out %s, committed through %s",
            tp.topic,
            tp.partition,
            "handed out" if tp in active else "paused by Faust",
            assignment.state_value(tp)._position,
            consumer._read_offset.get(tp),
            consumer._committed_offset.get(tp),
        )
    conns = kafka._client._conns.values()
    waiting = [type(request).__name__ for conn in conns for _, request, _ in conn._requests]
    log.warning("Faust consumer: flow %s, unanswered requests %s", consumer.flow_active, waiting)


def _awaiting(coro: Any) -> list[str]:
    """The chain of awaits of a coroutine, outermost first (file:line function)."""
    chain = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            where = frame.f_code.co_filename.rsplit("/", 2)[-1]
            chain.append(f"{where}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return chain
