"""PaymentEvent: the input on ``payments.approved`` and ``payments.declined`` (DESIGN.md §2.2).

The envelope (``eventId``, ``occurredAt``) sits beside a Flex-shaped transaction body. Only the
envelope and the shape of the required objects are checked here; Flex validates its own fields
and answers 400 (which becomes REJECTED). Top-level keys are matched case-insensitively, as Flex
binds them, and unknown fields are kept so they can be passed on unchanged.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from core.errors import InvalidEvent
from schemas.keys import canonical_keys, field_aliases

__all__ = ["PaymentEvent", "describe_validation_error", "event_field", "validate_payment_event"]

ENVELOPE_ONLY = ("eventId", "occurredAt")


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
    return value


# A JSON object, taken as decoded: ``dict[str, Any]`` would copy it key by key (a fifth of an
# event's validation), and the keys of decoded JSON are strings already. Same error, same schema.
JsonObject = Annotated[dict[str, Any], PlainValidator(_json_object, json_schema_input_type=dict[str, Any])]


class PaymentEvent(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="allow", alias_generator=to_camel, populate_by_name=True, str_strip_whitespace=True
    )

    event_id: str = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime
    order_id: str = Field(min_length=1, max_length=200)
    mid: str | None = None
    site_id: str | None = None
    is_mit: bool = Field(default=False, alias="isMIT")
    is_recurring: bool = False
    expiry_date_utc: AwareDatetime | None = None
    transaction: JsonObject
    payer: JsonObject
    payment_method: JsonObject

    @model_validator(mode="before")
    @classmethod
    def _canonical_keys(cls, data: Any) -> Any:
        return canonical_keys(data, _ALIASES) if isinstance(data, dict) else data

    def flex_body(self, *, mid: str | None, site_id: str | None) -> dict[str, Any]:
        """The Flex request body: every field the publisher sent minus the envelope, defaults filled.

        Built without ``model_dump`` (it cost five times as much on the batch path): declared fields
        in declaration order from the validated model (datetimes in pydantic's JSON form), then the
        extras as decoded; None values dropped. tests/unit/consumers/sftp/test_intake.py holds it equal,
        byte for byte, to ``model_dump(by_alias=True, mode="json")`` minus the envelope.
        """
        body: dict[str, Any] = {}
        for name, alias in _DECLARED:
            value = getattr(self, name)
            if value is not None:
                body[alias] = (
                    _DATETIME.dump_python(value, mode="json") if isinstance(value, datetime) else value
                )
        for key, value in (self.model_extra or {}).items():
            if value is not None:
                body[key] = value
        if mid and "mid" not in body:
            body["mid"] = mid
        if site_id and "siteId" not in body:
            body["siteId"] = site_id
        return body


# (attribute, wire name) of PaymentEvent's declared fields in declaration order, minus the envelope.
_DECLARED = tuple(
    (name, f.alias or name)
    for name, f in PaymentEvent.model_fields.items()
    if (f.alias or name) not in ENVELOPE_ONLY
)
_DATETIME = TypeAdapter(AwareDatetime)
_ALIASES = field_aliases(PaymentEvent)


def event_field(data: dict[str, Any], name: str) -> Any:
    """The field ``name`` (``is_mit``, ``mid``) of a decoded event as PaymentEvent reads it, without
    validating the rest: its key found as the model's first step finds it (``canonical_keys``: any
    case, ``_`` or ``-``; of two spellings, the exact one), its value converted by the field's own
    type and the model's config, its default when absent. Raises ValidationError when the model
    could not read it."""
    wire, reader, default = _field_reader(name)
    value = canonical_keys(data, _ALIASES).get(wire, _ABSENT)
    return default if value is _ABSENT else reader.validate_python(value)


_ABSENT = object()


@cache
def _field_reader(name: str) -> tuple[str, TypeAdapter[Any], Any]:
    field = PaymentEvent.model_fields[name]
    kind: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return field.alias or name, TypeAdapter(kind, config=PaymentEvent.model_config), field.default


def describe_validation_error(exc: ValidationError) -> str:
    """A short human text naming each offending field, never echoing values (they may hold card data)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def validate_payment_event(data: dict[str, Any]) -> PaymentEvent:
    """Validate one decoded record value, or raise InvalidEvent naming the offending fields."""
    try:
        return PaymentEvent.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(f"schema violation: {describe_validation_error(exc)}") from None
