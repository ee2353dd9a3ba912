"""Wire models of the Flex API responses flexbridge reads, and the few request bodies it builds.

Flex is ASP.NET Core and binds JSON case-insensitively, so every model here accepts its field names
in any casing (``orderSessionKey``, ``OrderSessionKey``, ``order_session_key``), ignores unknown
fields, and takes ``status`` as a string or a number. Request bodies stay plain mappings (the
merchant's fields pass through unchanged) except the ones flexbridge constructs itself:
:func:`refund_body`, :func:`capture_body`, :func:`cancel_body`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from core.errors import InvalidEvent
from schemas.flex_errors import error_messages, parse_error_body, redact_pan
from schemas.keys import Aliases, canonical_keys, field_aliases

__all__ = [
    "CancelResponse", "CaptureResponse", "EvaluateResponse", "FlexEnvelope", "FlexErrorItem", "FlexModel",
    "OrderDetails", "OrderPage", "OrderStatusCode", "OutcomeResponse", "RefundResponse", "TokenResponse",
    "TokenizePaymentMethod", "TokenizeResponse", "TokenizeTransaction", "TransmitResponse",
    "cancel_body", "capture_body", "cents_to_dollars", "parse_error_body", "redact_pan", "refund_body",
]  # fmt: skip


def _as_text(value: Any) -> Any:
    """Numbers (``"status": 400``) become text; everything else is left to the field type."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


Text = Annotated[str | None, BeforeValidator(_as_text)]


class FlexModel(BaseModel):
    """Frozen, tolerant base: unknown fields ignored, field names matched case-insensitively."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )
    _folded: ClassVar[Aliases] = Aliases({})

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._folded = field_aliases(cls)

    @classmethod
    def _fold_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return canonical_keys(data, cls._folded)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        return cls._fold_keys(data)


class FlexErrorItem(FlexModel):
    """One entry of the envelope ``errors`` list: a serialised .NET tuple ``(message, code, code, flag)``."""

    item1: Text = None
    item2: Text = None
    item3: Text = None
    item4: bool | None = None

    @property
    def message(self) -> str:
        return self.item1 or ""

    @property
    def code(self) -> str | None:
        return self.item2 or self.item3


def _error_items(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return [{"item1": m, "item2": k} for k, msgs in value.items() for m in error_messages(msgs)]
    if isinstance(value, list | tuple):
        return [v if isinstance(v, Mapping) else {"item1": v} for v in value]
    return value


class FlexEnvelope(FlexModel):
    """The fields most Flex responses share."""

    success: bool | None = None
    result: Text = None
    status: Text = None
    status_code: Text = None
    errors: Annotated[tuple[FlexErrorItem, ...], BeforeValidator(_error_items)] = ()
    custom_properties: dict[str, Any] | None = None


class TokenResponse(FlexEnvelope):
    """``POST /oauth2/token``: ``expires`` is epoch **milliseconds** (None if Flex omits it)."""

    access_token: str = Field(min_length=1, repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    expires: int | None = None
    id: str | None = None


class EvaluateResponse(FlexEnvelope):
    """``POST /evaluate``: ``order_session_key`` is the Flex order id used by every later call."""

    order_session_key: str | None = None
    order_id: str | None = None
    sense_key: str | None = None


class TransmitResponse(FlexEnvelope):
    transmit_id: Text = None


class OutcomeResponse(FlexEnvelope):
    """Deprecated ``POST /outcome``: status APPROVED | DECLINED | EXPIRED | CANCELLED | SUBMITTED | …"""

    confirmation_id: str | None = None


class RefundResponse(FlexEnvelope):
    """``POST /orders/{id}/refund``: ``status`` SUCCESS | FAILED (FAILED explains in ``response_message``)."""

    response_code: Text = None
    response_message: str | None = None
    transaction_id: Text = None

    @property
    def failed(self) -> bool:
        return (self.status or "").upper() == "FAILED" or self.success is False


def _bare_status(value: Any) -> Any:
    return {"status": value} if isinstance(value, str) else value


class CaptureResponse(FlexEnvelope):
    """``POST /capture``: ``status`` SUCCESS | FAILED; a bare JSON string body is accepted too."""

    capture_status: Text = None

    @property
    def failed(self) -> bool:
        return "FAILED" in ((self.status or "").upper(), (self.capture_status or "").upper())

    @classmethod
    def _fold_keys(cls, data: Any) -> Any:
        return super()._fold_keys(_bare_status(data))


class CancelResponse(FlexEnvelope):
    """``POST /orders/{id}/cancel`` and ``/external-cancel``: usually an empty body or ``{}``."""


class OrderStatusCode(IntEnum):
    DRAFT = 0
    ONHOLD = 1
    CANCELLED = 2
    PROBLEM = 3
    PROCESSING = 4
    CAPTUREREQUIRED = 5
    RETURNED = 6
    COMPLETED = 7


def _order_status(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        named = OrderStatusCode.__members__.get(text.upper().replace("_", "").replace(" ", ""))
        return int(named) if named is not None else None
    return value


class OrderDetails(FlexModel):
    """``GET /orders/{id}``: ``status`` is an integer code (see :class:`OrderStatusCode`)."""

    id: str | None = None
    correlation_id: str | None = None
    reference_number: Text = None
    status: Annotated[int | None, BeforeValidator(_order_status)] = None
    status_name: str | None = None
    order_placed_date: datetime | None = None
    expiry_date: datetime | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    currency_code: str | None = None
    external_order_id: str | None = None  # the merchant's orderId (the sandbox shows it; Flex's docs do not)

    @property
    def status_label(self) -> str | None:
        """``statusName`` upper-cased, else the name of the integer code."""
        if self.status_name:
            return self.status_name.upper()
        known = OrderStatusCode._value2member_map_.get(self.status) if self.status is not None else None
        return known.name if known is not None else None


class OrderPage(FlexModel):
    """One page of ``GET /orders`` (flex-api.md §2.6); the items as ``GET /orders/{id}`` shows them."""

    items: tuple[OrderDetails, ...] = ()
    has_next_page: bool = False


class TokenizePaymentMethod(FlexModel):
    token: str | None = None
    last_four_digits: Text = None
    first_six_digits: Text = None
    card_type: str | None = None
    month: int | None = None
    year: int | None = None


class TokenizeTransaction(FlexModel):
    succeeded: bool | None = None
    message: str | None = None
    payment_method: TokenizePaymentMethod | None = None


class TokenizeResponse(FlexEnvelope):
    """``POST /tokenize``: the token is at ``transaction.payment_method.token``."""

    transaction: TokenizeTransaction | None = None

    @property
    def token(self) -> str | None:
        method = self.transaction.payment_method if self.transaction else None
        return method.token if method else None


def _check_cents(what: str, amount_cents: int) -> None:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise InvalidEvent(f"{what} amount must be a positive number of cents, got {amount_cents!r}")


def cents_to_dollars(amount_cents: int) -> Decimal:
    """1250 → Decimal("12.50"), 1 → Decimal("0.01"): exact, always two decimal places."""
    return (Decimal(amount_cents) / 100).quantize(Decimal("0.01"))


def refund_body(amount_cents: int, message: str | None = None) -> dict[str, Any]:
    """``/orders/{id}/refund`` body: ``amountToRefund`` in **dollars** (a Decimal, sent as ``12.50``)."""
    _check_cents("refund", amount_cents)
    body: dict[str, Any] = {"amountToRefund": cents_to_dollars(amount_cents)}
    if message:
        body["refundMessage"] = message
    return body


def capture_body(
    order_session_key: str, amount_cents: int, currency: str, idempotency_key: str
) -> dict[str, Any]:
    """``/capture`` body: ``amount`` in cents, ``orderId`` = the orderSessionKey from ``/evaluate``."""
    _check_cents("capture", amount_cents)
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidEvent(f"currency must be an ISO 4217 code, got {currency!r}")
    return {
        "idempotencyKey": idempotency_key,
        "orderId": order_session_key,
        "amount": amount_cents,
        "currency": currency.upper(),
    }


def cancel_body(idempotency_key: str) -> dict[str, Any]:
    """``/cancel`` and ``/external-cancel`` body: the key replays the first answer for 24 h."""
    return {"idempotencyKey": idempotency_key}
