"""Decode and route one input record: the full rule, as the real-time bridge and the batch path apply
it to the records each takes (which reader takes a record: consumers/split.py).

A record value is accepted only as a JSON object holding no card number that validates as a
PaymentEvent; anything else is refused with its dead-letter reason (``schema`` or
``pan-detected``) and message. An accepted event is routed: to the Flex API (the real-time
flows) or to an SFTP batch file (``FLEXBRIDGE_ROUTING__MIT=sftp`` for managed MIT declines,
``FLEXBRIDGE_ROUTING__TRANSMIT=sftp`` for approvals; with merchants, each merchant's own routing,
:func:`route_to_merchant`; an event's ``mid`` matches its merchant's in any case and is then
spelt as the merchants file spells it, :func:`spelt_as_configured`). Pure: no Kafka, no I/O.

Two cheap checks keep the batch path fast (it looks at every record of a topic): a scan of the
raw bytes for anything that could be a card number before the field-by-field PAN search (most
records hold no 13-digit run at all), and :func:`may_name_mit`, which answers most declines from
their text: no ``isMIT`` key, so not MIT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

from pydantic import ValidationError

from core.errors import InvalidEvent
from core.merchants import Merchant, Merchants
from core.pan import find_pan, redact_pan
from core.routing import Route, RoutingSettings
from schemas.codec import decode_object
from schemas.dlq import DlqReason
from schemas.events import PaymentEvent, event_field, validate_payment_event

__all__ = [
    "Flow",
    "Refused",
    "Route",
    "Routed",
    "decode_and_route",
    "event_from",
    "may_hold_pan",
    "may_name_mit",
    "mid_of",
    "route_of",
    "route_to_merchant",
    "spelt_as_configured",
]

Flow = Literal["transmit", "evaluate"]  # the input topic's role: approvals, declines


class Routed(NamedTuple):  # a tuple: built for every record, at a quarter of a frozen dataclass's cost
    event: PaymentEvent
    route: Route
    merchant: Merchant | None = None  # set by route_to_merchant


@dataclass(frozen=True, slots=True)
class Refused:
    reason: DlqReason
    message: str
    # whose event it is, when its value names a merchant (route_to_merchant: its mid_of); it
    # labels the record's metrics and its dead letter's dlq-merchant header
    merchant: Merchant | None = None


# Every card number core.pan find_pan refuses (13-19 ASCII digits of a string, an int or an
# integral float, with separators between them: spaces, dashes, dots, slashes, and tabs and line
# breaks, which JSON text escapes as \t, \n, \r) appears in the JSON text as 13 digits in a row
# once those bytes are removed ("\\" and the letters t, n, r too: a few more false alarms, no
# miss), unless its digits are escaped as \uXXXX or it is a number written with an exponent
# whose mantissa leaves out trailing zeros: 4111111111170000 as "4.11111111117E15", as Java
# writes a double. Such a number follows ":", "," or "[" (raw whitespace and a sign between them
# removed) and has two or more digits before its "e" (one digit then zeros never passes Luhn).
# Both show in one copy of the text: digits as "0", "e"/"E" as "e", ":", "," and "[" as ":",
# anything else "x". Done with bytes.translate and substring searches, in C, and for the exponent
# a regular expression with a literal prefix on that copy: a search for each shape in the raw
# text would cost ten times as much.
_CLASSES = bytes(
    48 if 48 <= i <= 57 else 101 if i in b"eE" else 58 if i in b":,[" else 120 for i in range(256)
)
_DROPPED = b" -./+\t\n\r\\tnr"
_THIRTEEN_DIGITS = b"0" * 13
_EXPONENT = re.compile(rb":00+e")


def may_hold_pan(raw: bytes) -> bool:
    """False only when the JSON text ``raw`` cannot hold a card number anywhere (conservative)."""
    classes = raw.translate(_CLASSES, _DROPPED)
    return (
        _THIRTEEN_DIGITS in classes
        or (b"\\" in raw and b"\\u" in raw)  # a backslash first: one memchr, and most records hold none
        or _EXPONENT.search(classes) is not None
    )


def may_name_mit(raw: bytes | None) -> bool:
    """False only when the JSON text ``raw`` cannot hold an ``isMIT`` key spelt any way the model
    takes it (any case, ``_`` and ``-`` anywhere; conservative: a ``\\u`` escape may spell one)."""
    if raw is None:
        return False
    # the usual spelling first: a substring search, without the folded copy of the whole record
    return b"isMIT" in raw or b"\\u" in raw or b"ismit" in raw.lower().translate(None, b"_-")


def route_of(flow: Flow, event: PaymentEvent, routing: RoutingSettings, at_ms: int = -1) -> Route:
    """``event``'s route, its record produced at ``at_ms`` (its Kafka timestamp; below 0: none)."""
    if flow == "transmit":
        return routing.transmit_at(at_ms)
    return routing.mit_at(at_ms) if event.is_mit else "api"


def decode_and_route(raw: bytes | None, flow: Flow, routing: RoutingSettings) -> Routed | Refused:
    """The event in ``raw`` and its route, or why it is refused (its dead letter)."""
    data = _decoded(raw)
    event = data if isinstance(data, Refused) else _validated(raw, data)
    return event if isinstance(event, Refused) else Routed(event, route_of(flow, event, routing))


def route_to_merchant(
    raw: bytes | None, flow: Flow, merchants: Merchants, at_ms: int = -1
) -> Routed | Refused:
    """The event in ``raw``, its merchant (``Merchants.for_event``, DESIGN.md §2.9) and the route of
    that merchant's routing for a record produced at ``at_ms`` (its Kafka timestamp); or why it is
    refused: ``unknown-merchant`` when no merchant is its. A refused JSON object (``schema``,
    ``pan-detected``) still names the merchant its ``mid`` finds (:func:`mid_of`), for its metrics
    and dead letter; only that merchant's name is used, never the value's mid, so a card number
    sent as the mid goes nowhere."""
    data = _decoded(raw)
    if isinstance(data, Refused):
        return data  # no JSON object: it names no merchant
    event = _validated(raw, data)
    if isinstance(event, Refused):
        return replace(event, merchant=merchants.for_event(mid_of(data)))
    merchant = merchants.for_event(event.mid)
    if merchant is None:
        # quoted in the dead letter's dlq-error: the mid is no card field (find_pan never looked at
        # it), and a card number sent in it must not be copied there
        mid = redact_pan(repr(event.mid))
        why = "carries no mid" if event.mid is None else f"mid {mid} is no configured merchant's"
        return Refused("unknown-merchant", f"the event {why} ({len(merchants)} merchants configured)")
    event = spelt_as_configured(event, merchant)
    return Routed(event, route_of(flow, event, merchant.routing, at_ms), merchant)


def _decoded(raw: bytes | None) -> dict[str, Any] | Refused:
    try:
        return decode_object(raw)
    except InvalidEvent as exc:
        return Refused(exc.reason, str(exc))  # type: ignore[arg-type]


def _validated(raw: bytes | None, data: dict[str, Any]) -> PaymentEvent | Refused:
    assert raw is not None  # decode_object refuses a tombstone  # noqa: S101
    try:
        return event_from(data, may_hold_pan(raw))
    except InvalidEvent as exc:
        return Refused(exc.reason, str(exc))  # type: ignore[arg-type]


def mid_of(data: Any) -> str | None:
    """The top-level ``mid`` of a decoded value as PaymentEvent reads it (schemas/events.py
    ``event_field``); None when there is none, or the model cannot read it (no text), or ``data``
    is no object."""
    if not isinstance(data, dict):
        return None
    try:
        mid: str | None = event_field(data, "mid")
    except ValidationError:
        return None
    return mid


def spelt_as_configured(event: PaymentEvent, merchant: Merchant) -> PaymentEvent:
    """``event`` with its merchant's ``mid`` as the merchants file spells it: a mid matches in any
    case (``Merchants.for_event``), and everything keyed or stored by mid (Flex bodies and batch
    file headers, ``detail.mid``, the order table's ``mid/orderId`` keys) has one spelling."""
    if event.mid is None or merchant.mid is None or event.mid == merchant.mid:
        return event
    return event.model_copy(update={"mid": merchant.mid})


def event_from(data: dict[str, Any], may_hold: bool = True) -> PaymentEvent:
    """A decoded record value as a PaymentEvent (refusing card numbers), or InvalidEvent.
    ``may_hold=False`` (``may_hold_pan`` of its raw bytes) skips the PAN search."""
    where = find_pan(data) if may_hold else None
    if where is not None:
        raise InvalidEvent(
            f"{where} holds a card number (PAN); send a Flex token instead", reason="pan-detected"
        )
    return validate_payment_event(data)
