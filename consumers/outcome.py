"""What a flow handler decided for one input: the status to publish, a dead letter, a finished effect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from schemas.dlq import DlqReason
from schemas.status import OrderStatus

__all__ = ["Outcome", "Result"]

Result = Literal["transmitted", "evaluated", "rejected", "failed", "dead-lettered", "skipped"]


@dataclass(frozen=True)
class Outcome:
    result: Result
    status: OrderStatus | None = None
    dead_letter: tuple[DlqReason, str] | None = None
    finished: dict[str, Any] | None = None  # the ledger entry, when the effect is done for good
