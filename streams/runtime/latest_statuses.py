"""Each order's latest status, from ``orders.status``, moved by the order machine's transitions
(consumers/order_machine.py; a command's own record aside): what tells a status that comes late
from news.

Two publishers may be late:
- **the webhook receiver**: a webhook whose deliveries failed until after a later status (a
  command's, another webhook's) is older than that status, and the order machine could not apply
  it. It is not published to ``orders.status`` (its body still goes to ``flex.webhooks``);
- **the real-time bridge**: Flex's answer to an ``/evaluate`` describes the Flex order as Flex made
  it. An answer that comes after later news of that same Flex order (its ``orderSessionKey``: a
  webhook, a command's answer, a reconciliation), because its call was retried through lost
  answers and timeouts until then, is older than that news. It is the event's outcome, so it is
  published, marked ``detail.late``: the order machine records it with the verdict ``late`` and
  leaves the order where it is, unflagged. Readers of the topic would otherwise see the order go
  back (``CAPTUREREQUIRED`` after ``APPROVED``).

``flexbridge_late_statuses_total{source,merchant}`` counts both. The worker's follower of ``orders.status``
(streams/runtime/awaiting.py) feeds it, a fetch behind the topic, and from a worker's start only
once it has read the topic back: an answer published before that is not marked (the order table
then flags it). Orders are known by their key among every merchant's (``mid/orderId``).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, cast, get_args

from consumers.order_keys import order_key, status_mid
from consumers.order_machine import is_legal, starts_new_attempt
from schemas.status import OrderStatus, Status

__all__ = ["MAX_ORDERS", "LatestStatuses"]

MAX_ORDERS = 200_000  # orders remembered at once (about 340 bytes each, key and strings included)
_STATUSES = frozenset(get_args(Status))


class _Latest(NamedTuple):
    status: Status
    occurred_at: str  # as on the topic (ISO 8601)
    session: str | None  # the orderSessionKey of the Flex order it is about, when one was given


class LatestStatuses:
    """order key → the status the order machine holds for it, when that happened and which Flex
    order it is, for the latest :data:`MAX_ORDERS` orders."""

    def __init__(self, max_entries: int = MAX_ORDERS) -> None:
        self._latest: dict[str, _Latest] = {}  # oldest first
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._latest)

    def observe(
        self, key: str, status: str, source: str, occurred_at: str, session: str | None = None
    ) -> None:
        """A status read from ``orders.status``; kept only where the order machine would move."""
        if status not in _STATUSES or (source == "command" and status in ("REJECTED", "FAILED")):
            return  # not a status, or the answer to a command: the order stays where it was
        prev = self._latest.get(key)
        if prev is not None and not _follows(prev, cast(Status, status), source, session):
            return  # illegal: the order machine keeps the order where it was
        self._latest.pop(key, None)
        kept_session = session or (prev.session if prev is not None else None)
        self._latest[key] = _Latest(cast(Status, status), occurred_at, kept_session)
        if len(self._latest) > self._max:
            del self._latest[next(iter(self._latest))]

    def superseded(self, status: OrderStatus) -> bool:
        """Whether ``status`` is older than the order's latest and cannot follow it: a webhook that
        happened before it, or Flex's answer about the Flex order the latest status is news of."""
        prev = self._latest.get(order_key(status.order_id, status_mid(status), by_merchant=True))
        if prev is None or _follows(prev, status.status, status.source, status.order_session_key):
            return False
        if status.source in ("evaluate", "batch"):  # occurredAt: when the answer came, not the order
            return status.order_session_key is not None and status.order_session_key == prev.session
        try:
            return status.occurred_at < datetime.fromisoformat(prev.occurred_at.replace("Z", "+00:00"))
        except (ValueError, TypeError):
            return False


def _follows(prev: _Latest, status: Status, source: str, session: str | None) -> bool:
    return is_legal(prev.status, status) or starts_new_attempt(prev.status, prev.session, source, session)
