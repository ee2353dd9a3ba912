"""Which order a status or a command is about, when several merchants may use one orderId. Pure.

An orderId is the merchant's own: two merchants of one deployment may both have an order "1001".
The order state is therefore keyed by merchant and orderId (:func:`order_key`, ``mid/orderId``)
when the deployment serves more than one merchant; a single-merchant deployment keeps the plain
orderId key, so its existing order table still reads. The Kafka key of every topic stays the
orderId alone: two merchants' orders of one id share a partition, and so do their table entries.

A status names its merchant in ``detail.mid`` (:func:`status_mid`). A command names it in ``mid``,
or leaves it out when the orderId is one merchant's only (:func:`resolve_command`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.merchants import Merchant, Merchants
from schemas.commands import OrderCommand
from schemas.order_state import OrderState
from schemas.status import OrderStatus

__all__ = ["Resolved", "order_key", "resolve_command", "status_mid"]


def order_key(order_id: str, mid: str | None, *, by_merchant: bool) -> str:
    """The order table's key: ``mid/orderId`` when keyed by merchant and the merchant is known,
    else the plain orderId (single-merchant deployments; statuses that name no merchant)."""
    return f"{mid}/{order_id}" if by_merchant and mid else order_id


def status_mid(status: OrderStatus) -> str | None:
    """The merchant a status belongs to (``detail.mid``), when it names one."""
    mid = status.detail.get("mid")
    return mid if isinstance(mid, str) and mid else None


@dataclass(frozen=True, slots=True)
class Resolved:
    """A command's order and merchant; ``reason`` set: answer REJECTED with it, call nobody."""

    state: OrderState | None
    merchant: Merchant | None
    reason: str | None = None


def resolve_command(command: OrderCommand, states: Iterable[OrderState], merchants: Merchants) -> Resolved:
    """The order ``command`` addresses among ``states`` (what the table holds for its orderId, one
    per merchant) and the merchant it runs as. Without ``mid``, an orderId that several served
    merchants have is ambiguous; with one, only that merchant's order is addressed."""
    states = list(states)
    served = [s for s in states if merchants.for_event(s.mid) is not None]
    if command.mid is not None:
        merchant = merchants.for_event(command.mid)
        if merchant is None:
            # the mid is the answer's detail.mid; not quoted here: a reason is free text (a PAN
            # given as a mid would be read there), detail.mid a field consumers correlate on
            return Resolved(None, None, "unknown-merchant: no merchant with the command's mid is served")
        mine = [s for s in served if merchants.for_event(s.mid) is merchant]
        return Resolved(mine[0] if mine else None, merchant)
    if len(served) > 1:
        names = ", ".join(sorted(m.name for s in served if (m := merchants.for_event(s.mid)) is not None))
        reason = f"ambiguous-order: orderId {command.order_id} exists for merchants {names}; give mid"
        return Resolved(None, None, reason)
    state = served[0] if served else next(iter(states), None)  # an order no merchant served has
    return Resolved(state, merchants.for_event(state.mid if state is not None else None))
