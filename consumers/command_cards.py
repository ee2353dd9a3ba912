"""A command carries no card number: one whose ``message`` or ``orderSessionKey`` holds one is
refused before anything is looked up or sent. Pure, no I/O.

A command's ``message`` goes to Flex as the refund message and, once the command is finished, into
its record in the order table (and its changelog); its ``orderSessionKey`` goes into a Flex URL
(``GET /v1/orders/{id}``) and onto ``orders.status``. flexbridge stores and sends no card number,
so such a command is answered REJECTED naming the field, never the value, and nothing of it is kept.

Only these two are checked by value. ``orderId``, ``commandId`` and ``mid`` are the producer's own
ids: a numeric one of 13–19 digits passes Luhn one time in ten, so refusing by value would refuse
real orders (15-digit processor MIDs are common). They are kept as given, since consumers
correlate on them; a reason text that quotes one is masked where every OrderStatus is built
(``schemas.status.status_of``).
"""

from __future__ import annotations

import re

from core.pan_text import groups_hold_pan, luhn_ok
from schemas.commands import OrderCommand

__all__ = ["card_data_reason", "holds_card_number", "is_card_number"]

# Groups of digits joined by any spaces, dots or dashes (Unicode ones too), as people write card
# numbers: core.pan reads only ASCII ones (and slashes) as separators.
_RUN = re.compile(r"[0-9]+(?:[\s.\-\u2010-\u2015\u2212]+[0-9]+)*")
_GROUP = re.compile(r"[0-9]+")


def holds_card_number(text: str) -> bool:
    """True when free text holds a card number: 13–19 digits that pass Luhn, written whole or in
    groups (``4111 1111 1111 1111``), also when more groups follow (a code, an expiry date).

    Whole groups only, not any stretch of a run as core.pan masks it in logs: that would refuse a
    message quoting a 15-digit number one time in two; a Luhn check of the whole does so one in ten.
    """
    return any(groups_hold_pan(_GROUP.findall(run.group())) for run in _RUN.finditer(text))


def is_card_number(key: str) -> bool:
    """True when a key is a card number (13–19 digits that pass Luhn, with any separators).

    The whole key, not a run within it: Flex's orderSessionKeys are GUIDs, whose digit groups now
    and then hold 13 digits that pass Luhn."""
    if _RUN.fullmatch(key.strip()) is None:
        return False
    digits = "".join(_GROUP.findall(key))
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def card_data_reason(command: OrderCommand) -> str | None:
    """Why ``command`` is refused for card data (None: it holds none where it is looked for)."""
    fields = []
    if command.order_session_key is not None and is_card_number(command.order_session_key):
        fields.append("orderSessionKey")
    if command.message is not None and holds_card_number(command.message):
        fields.append("message")
    if not fields:
        return None
    which = " and ".join(fields)
    holds = "hold" if len(fields) > 1 else "holds"
    return f"pan-detected: the command's {which} {holds} a card number; send none (nothing was sent to Flex)"
