"""``POST /v1/oauth2/token`` and ``POST /v1/tokenize`` (the two calls that need no bearer)."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from .state import STATE
from .tokens import CardInfo
from .validation import TOKEN, TOKENIZE, Errors, as_int, check, read_checked
from .wire import dig, envelope, failure, iso, json_response, read_json, utcnow, validation_response

__all__ = ["token", "tokenize"]


def _same_secret(given: Any, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


async def token(request: web.Request) -> web.Response:
    """Exchange a merchant's AppKey/AppSecret (any casing) for a bearer token bound to its MID;
    wrong credentials (or another merchant's secret) → 400."""
    state = request.app[STATE]
    body = await read_checked(request, TOKEN)
    if isinstance(body, web.Response):
        return body
    merchant = state.merchants.by_app_key(body["appkey"])
    valid_secret = merchant is not None and _same_secret(
        body["appsecret"], merchant.app_secret.get_secret_value()
    )
    if merchant is None or not valid_secret:
        return failure(400, "Invalid AppKey or AppSecret.", "InvalidCredentials", accessToken=None)
    issued = state.tokens.issue(merchant.app_key, merchant.mid)
    return json_response(
        envelope(
            accessToken=issued.access_token,
            refreshToken=issued.refresh_token,
            expires=issued.expires_ms,
            id=issued.token_id,
            session=None,
            daysToEnforceMFA=None,
            skipAvailable=None,
        )
    )


def _query_errors(request: web.Request) -> Errors:
    return {
        name: [f"The {name} field is required."]
        for name in ("mid", "environment")
        if not request.query.get(name, "").strip()
    }


def _card_number_errors(number: str) -> Errors:
    digits = number.replace(" ", "")
    if digits.isdigit() and 12 <= len(digits) <= 19:
        return {}
    return {"PaymentMethod.CreditCard.Number": ["The field Number is invalid."]}


async def tokenize(request: web.Request) -> web.Response:
    """Vault a card; answers the Spreedly-style envelope with ``transaction.payment_method.token``."""
    state = request.app[STATE]
    body = await read_json(request)
    if isinstance(body, web.Response):
        return body
    errors = _query_errors(request) | check(body, TOKENIZE)
    if not errors:
        errors = _card_number_errors(dig(body, "payment_method.credit_card.number"))
    if errors:
        return validation_response(errors)
    card: dict[str, Any] = dig(body, "payment_method.credit_card")
    digits = str(card["number"]).replace(" ", "")
    info = CardInfo(
        last4=digits[-4:],
        first_digits=digits[:8],
        month=as_int(card.get("month")),
        year=as_int(card.get("year")),
        first_name=card.get("first_name"),
        last_name=card.get("last_name"),
    )
    card_token = state.cards.store(info)
    email = dig(body, "payment_method.email")
    return json_response(envelope(transaction=_vault_transaction(card_token, info, email), cardBinInfo=None))


def _vault_payment_method(card_token: str, info: CardInfo, email: Any, now: str | None) -> dict[str, Any]:
    full_name = " ".join(part for part in (info.first_name, info.last_name) if part) or None
    unknown = ("address1", "address2", "city", "state", "zip", "country", "phone_number", "company")
    return {
        "token": card_token,
        "created_at": now,
        "updated_at": now,
        "email": email,
        "data": None,
        "storage_state": "retained",
        "test": True,
        "metadata": None,
        "last_four_digits": info.last4,
        "first_six_digits": info.first_digits,
        "card_type": None,
        "first_name": info.first_name,
        "last_name": info.last_name,
        "month": info.month,
        "year": info.year,
        **dict.fromkeys(unknown),
        "full_name": full_name,
        "payment_method_type": "credit_card",
        "errors": None,
        "fingerprint": None,
        "verification_value": None,
        "number": None,
    }


def _vault_transaction(card_token: str, info: CardInfo, email: Any) -> dict[str, Any]:
    now = iso(utcnow())
    return {
        "on_test_gateway": True,
        "created_at": now,
        "updated_at": now,
        "succeeded": True,
        "state": "succeeded",
        "token": None,
        "transaction_type": "AddPaymentMethod",
        "order_id": None,
        "ip": None,
        "description": None,
        "email": email,
        "amount": 0,
        "currency_code": None,
        "payment_method_added": True,
        "message_key": None,
        "message": "Succeeded!",
        "response": None,
        "payment_method": _vault_payment_method(card_token, info, email, now),
    }
