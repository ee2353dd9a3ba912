"""Whether the orderSessionKey a command gives is the key of the order it names. Pure, no I/O.

A command names its order by the merchant's orderId (and ``mid``) and may give the Flex order id,
``orderSessionKey``, which is what Flex is called with. Were the two not checked, a key of another
order (or of another merchant's) would refund that order and answer for the named one. So:

- when flexbridge knows the order's key, a command giving another is refused (:func:`key_mismatch`);
- when it knows none (an order it has not seen, or seen without a key), the key is first looked
  up at Flex (``GET /v1/orders/{id}``) and refused unless Flex says it is the order with that
  ``externalOrderId`` of that merchant (:func:`not_the_order`).

A reason names no key the command gave: it is the producer's text, not yet known to be Flex's
(a card number given as a key is refused before, ``consumers.command_cards``, but the reason
goes to ``orders.status``, read by other services, whatever the key holds). The order's own key
is in the answer's ``orderSessionKey`` when flexbridge knows it.
"""

from __future__ import annotations

from core.merchants import mid_key
from schemas.commands import OrderCommand
from schemas.order_state import FlexOrderAmounts, OrderState

__all__ = ["key_mismatch", "not_the_order", "unverified_key"]


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()  # an orderSessionKey: a GUID, in whatever case


def key_mismatch(command: OrderCommand, state: OrderState | None) -> str | None:
    """Why the command's orderSessionKey is not its order's (None: it is, or it gives none, or
    flexbridge knows no key to compare with)."""
    given, known = command.order_session_key, state.order_session_key if state is not None else None
    if given is None or known is None or _same(given, known):
        return None
    return (
        f"orderSessionKey-mismatch: the command's orderSessionKey is not the one of order "
        f"{command.order_id} (the answer's orderSessionKey); the {command.type} was not sent to Flex"
    )


def unverified_key(command: OrderCommand, state: OrderState | None) -> bool:
    """The command gives a key flexbridge cannot compare with one of its own: ask Flex."""
    return command.order_session_key is not None and (state is None or state.order_session_key is None)


def not_the_order(command: OrderCommand, flex: FlexOrderAmounts) -> str | None:
    """Why Flex's order (read by the command's key) is not the command's order (None: it is)."""
    if flex.external_order_id is None:
        return (
            "orderSessionKey-unverified: Flex's order of the command's orderSessionKey does not say "
            f"which merchant order it is, so it cannot be checked to be order {command.order_id}; "
            f"the {command.type} was not sent"
        )
    given, theirs = command.mid, flex.mid
    other_merchant = given is not None and theirs is not None and mid_key(given) != mid_key(theirs)
    if other_merchant or flex.external_order_id != command.order_id:
        whose = f"merchant mid {command.mid}'s " if command.mid is not None else ""
        return (
            f"orderSessionKey-mismatch: Flex's order of the command's orderSessionKey is not "
            f"{whose}order {command.order_id}; the {command.type} was not sent"
        )
    return None
