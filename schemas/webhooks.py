"""FlexWebhook: the payload of a Flex webhook delivery (flex-api.md §3.3) and how to read it.

Flex sends PascalCase keys (``Event``, ``OrderId`` …); camelCase, snake_case or any other casing of
the same names is accepted too, and unknown fields are kept. Newer docs warn the body comes as text
rather than ``application/json``: :func:`parse_webhook` reads the raw bytes, and also unwraps a JSON
string whose content is the JSON object. Anything else is an :class:`~core.errors.InvalidEvent`
(HTTP 400 at the receiver).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_pascal

from core.errors import InvalidEvent
from schemas.codec import json_object, load_json
from schemas.events import describe_validation_error
from schemas.keys import canonical_keys, field_aliases
from schemas.status import OrderStatus, Status, status_of

__all__ = ["STATUS_BY_EVENT", "FlexWebhook", "dedupe_key", "order_status", "parse_webhook", "status_for"]

# DESIGN.md §2.3; any other event (challenge.*, payout.* …) goes to ``flex.webhooks`` only.
STATUS_BY_EVENT: Final[Mapping[str, Status]] = MappingProxyType(
    {
        "order.completed": "APPROVED",
        "order.expired": "EXPIRED",
        "order.cancelled": "CANCELLED",
        "order.refunded": "REFUNDED",
        "order.capturerequired": "CAPTUREREQUIRED",
        "payment.chargeback.received": "CHARGEBACK",
    }
)

# The body, then at most two levels of "a JSON string holding the JSON".
_MAX_DECODES: Final = 3


class FlexWebhook(BaseModel):
    """One webhook payload. ``event`` is lower-cased; ``OrderId`` is the Flex order id (orderSessionKey),
    ``ExternalOrderId`` the merchant's ``orderId``. ``model_dump(by_alias=True)`` gives PascalCase."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        alias_generator=to_pascal,
        populate_by_name=True,
        str_strip_whitespace=True,
        coerce_numbers_to_str=True,
    )

    event: str = Field(min_length=1, max_length=200)
    time_stamp: datetime | None = None
    event_data: Any = None
    external_order_id: str | None = None
    order_id: str | None = None
    confirmation_id: str | None = None
    is_test_mode: bool = False
    is_resent: bool = False

    @model_validator(mode="before")
    @classmethod
    def _canonical_keys(cls, data: Any) -> Any:
        return canonical_keys(data, _ALIASES) if isinstance(data, dict) else data

    @field_validator("event")
    @classmethod
    def _lower_event(cls, value: str) -> str:
        # pydantic strips Unicode white space only; str.strip also takes the ASCII separators \x1c-\x1f
        event = value.strip().lower()
        if not event:
            raise ValueError("must name an event")
        return event

    @field_validator("time_stamp")
    @classmethod
    def _utc_when_naive(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @field_validator("is_test_mode", "is_resent", mode="before")
    @classmethod
    def _null_is_false(cls, value: Any) -> Any:
        return False if value is None else value


_ALIASES: Final = field_aliases(FlexWebhook)


def _json_object(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``: JSON, or a JSON string (text) holding it."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise InvalidEvent(f"webhook body must be bytes, got {type(body).__name__}")
    if body[:1] == b"{":  # the usual case: one orjson pass over the bytes; anything odd takes the long way
        with contextlib.suppress(orjson.JSONDecodeError):
            if isinstance(quick := orjson.loads(body), dict):
                return quick
    try:
        value: Any = bytes(body).decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise InvalidEvent("webhook body is not UTF-8 text") from None
    for _ in range(_MAX_DECODES):
        if not isinstance(value, str):
            break
        if not value.strip():
            raise InvalidEvent("webhook body is empty")
        value = load_json(value, "webhook body")
    return json_object(value, "webhook body")


def parse_webhook(body: bytes) -> FlexWebhook:
    """The payload of a raw webhook body; :class:`InvalidEvent` (→ HTTP 400) for anything else."""
    data = _json_object(body)
    try:
        return FlexWebhook.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(f"webhook payload: {describe_validation_error(exc)}") from None


def dedupe_key(w: FlexWebhook) -> str:
    """The redelivery key (flex-api.md §3.5): ``event:OrderId``; ``IsResent``/``TimeStamp`` left out.

    An ``order.refunded`` with ``EventData`` is keyed ``order.refunded:OrderId:sha256:…`` (a digest
    of its ``EventData``): Flex sends one per refund, and a second partial refund of an order is a
    new event, not a redelivery (which carries the same ``EventData``). An event without an
    ``OrderId`` (e.g. ``payout.*``) is keyed on a digest of its ``ExternalOrderId`` and ``EventData``.
    """
    if w.order_id:
        if w.event in _PER_EVENT_DATA and w.event_data is not None:
            return f"{w.event}:{w.order_id}:sha256:{_digest(w.event_data)}"
        return f"{w.event}:{w.order_id}"
    return f"{w.event}:sha256:{_digest({'ExternalOrderId': w.external_order_id, 'EventData': w.event_data})}"


# Events Flex may send more than once per order, each with its own EventData (one per partial refund).
_PER_EVENT_DATA: Final = frozenset({"order.refunded"})


def _digest(value: Any) -> str:
    """The first 32 hex digits of the SHA-256 of ``value`` as canonical JSON (keys sorted)."""
    basis = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.sha256(basis).hexdigest()[:32]


def status_for(w: FlexWebhook) -> Status | None:
    """The OrderStatus ``status`` this webhook sets (DESIGN.md §2.3), or None for the other events."""
    return STATUS_BY_EVENT.get(w.event)


def order_status(w: FlexWebhook, mid: str | None = None) -> OrderStatus | None:
    """The ``orders.status`` record of a webhook (source ``webhook``, ``eventId`` = its dedupe key;
    ``detail.mid``: ``mid``, the merchant whose path received it, when known).

    None for events without a status (§2.3) and for a webhook without ``ExternalOrderId``: the
    status topic is keyed by the merchant's order id (the body still goes to ``flex.webhooks``).
    """
    status = status_for(w)
    if status is None or not w.external_order_id:
        return None
    detail: dict[str, Any] = {"webhookEvent": w.event, "isResent": w.is_resent, "isTestMode": w.is_test_mode}
    if w.confirmation_id:
        detail["confirmationId"] = w.confirmation_id
    if w.event_data is not None:
        detail["eventData"] = w.event_data
    if mid:
        detail["mid"] = mid
    return status_of(  # every field is already valid: no second validation pass
        w.external_order_id,
        status,
        "webhook",
        dedupe_key(w),
        session_key=w.order_id,
        occurred_at=w.time_stamp,
        detail=detail,
        validate=False,
    )
