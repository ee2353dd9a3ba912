"""Request validation with ASP.NET's messages, keyed by PascalCase field path.

Binding follows ASP.NET Core's web JSON defaults: names are case-insensitive and numbers may
arrive as numeric strings (``"1999"``); booleans and strings must have their JSON type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from aiohttp import web

from .wire import JsonObject, dig, read_json, validation_response

__all__ = [
    "CANCEL",
    "CAPTURE",
    "EVALUATE",
    "OUTCOME",
    "REFUND",
    "TOKEN",
    "TOKENIZE",
    "TRANSMIT",
    "Errors",
    "Field",
    "as_int",
    "check",
    "evaluate_errors",
    "parse_datetime",
    "read_checked",
    "to_cents",
]

Errors = dict[str, list[str]]
Kind = Literal["str", "int", "number", "bool", "object", "datetime"]
_INT = re.compile(r"^-?\d{1,12}$")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True, slots=True)
class Field:
    path: str
    name: str
    kind: Kind
    required: bool = False


def _f(name: str, kind: Kind, required: bool = False) -> Field:
    """A field whose body path is its PascalCase name (lookup is case-insensitive anyway)."""
    return Field(name, name, kind, required)


TOKEN = (_f("AppKey", "str", True), _f("AppSecret", "str", True))
TOKENIZE = (
    Field("payment_method", "PaymentMethod", "object", True),
    Field("payment_method.credit_card", "PaymentMethod.CreditCard", "object", True),
    Field("payment_method.credit_card.number", "PaymentMethod.CreditCard.Number", "str", True),
    Field("payment_method.credit_card.month", "PaymentMethod.CreditCard.Month", "int", True),
    Field("payment_method.credit_card.year", "PaymentMethod.CreditCard.Year", "int", True),
    Field("payment_method.credit_card.first_name", "PaymentMethod.CreditCard.FirstName", "str", True),
    Field("payment_method.credit_card.last_name", "PaymentMethod.CreditCard.LastName", "str", True),
)
EVALUATE = (
    _f("IdempotencyKey", "str", True),
    _f("OrderId", "str", True),
    _f("Transaction", "object", True),
    _f("Transaction.Id", "str", True),
    _f("Transaction.ResponseCode", "str", True),
    _f("Transaction.AvsResultCode", "str", True),
    _f("Transaction.CvvResultCode", "str", True),
    _f("Transaction.CavvResultCode", "str", True),
    _f("Transaction.ResponseCodeSource", "str", True),
    _f("Transaction.Currency", "str"),
    _f("IsDeclined", "bool"),
    _f("IsMIT", "bool"),
    _f("IsRecurring", "bool"),
    _f("ExpiryDateUtc", "datetime"),
    _f("Mid", "str"),
    _f("TransactionType", "str"),
    _f("Payer", "object"),
    _f("PaymentMethod", "object"),
    _f("BillingInformation", "object"),
    _f("ShippingInformation", "object"),
)
TRANSMIT = (
    _f("OrderId", "str", True),
    _f("IsDeclined", "bool", True),
    _f("IsMIT", "bool"),
    _f("Transaction", "object", True),
    _f("Payer", "object", True),
    _f("PaymentMethod", "object", True),
)
OUTCOME = (_f("OrderSessionKey", "str", True),)
CAPTURE = (
    _f("IdempotencyKey", "str", True),
    _f("OrderId", "str", True),
    _f("Amount", "int", True),
    _f("Currency", "str", True),
)
REFUND = (_f("AmountToRefund", "number", True), _f("RefundMessage", "str"))
CANCEL = (_f("IdempotencyKey", "str"),)


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date-time (naive = UTC), or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_int(value: Any) -> int | None:
    """A 32-bit int (.NET ``int``) from a JSON integer or a numeric string; None otherwise."""
    number: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT.match(value.strip()):
        number = int(value.strip())
    return number if number is not None and _INT32_MIN <= number <= _INT32_MAX else None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def to_cents(value: Any) -> int | None:
    """Whole cents from a positive dollar amount (number or numeric string), else None."""
    number = _decimal(value)
    if number is None or number <= 0:
        return None
    cents = number * 100
    return int(cents) if cents == cents.to_integral_value() else None


def _fits(value: Any, kind: Kind) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "int":
        return as_int(value) is not None
    if kind == "number":
        return _decimal(value) is not None
    return parse_datetime(value) is not None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check(body: JsonObject, fields: tuple[Field, ...]) -> Errors:
    """Errors for missing required and mistyped fields; nested ones only when their parent exists."""
    errors: Errors = {}
    for field in fields:
        parent, dot, _ = field.path.rpartition(".")
        if dot and not isinstance(dig(body, parent), dict):
            continue
        value = dig(body, field.path)
        label = field.name.rpartition(".")[2]
        if _missing(value):
            if field.required:
                errors[field.name] = [f"The {label} field is required."]
        elif not _fits(value, field.kind):
            errors[field.name] = [f"The field {label} is invalid."]
    return errors


def evaluate_errors(body: JsonObject) -> Errors:
    """/evaluate validation, including the sandbox's amount range (> 10 and < 20000 cents)."""
    errors = check(body, EVALUATE)
    if isinstance(dig(body, "transaction"), dict):
        amount = as_int(dig(body, "transaction.amount"))
        if amount is None or not 10 < amount < 20000:
            errors["Transaction.Amount"] = ["The field Amount must be between 11 and 19999."]
    return errors


async def read_checked(request: web.Request, fields: tuple[Field, ...]) -> JsonObject | web.Response:
    """The request's JSON object when ``fields`` check out; else the 400 answer to give instead."""
    body = await read_json(request)
    if isinstance(body, web.Response):
        return body
    errors = check(body, fields)
    return validation_response(errors) if errors else body
