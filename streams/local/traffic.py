"""Realistic PaymentEvents for the demo, benchmarks and fault runs, each with the outcome it should get.

The expected outcomes follow the sandbox's default rules (docs/sandbox.md). With merchants
(:func:`plan` ``merchants=``), every event carries its merchant's ``mid``, and a few carry a
``mid`` no merchant has (``unknown-merchant`` dead letters).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["KINDS", "UNKNOWN_MERCHANT", "UNKNOWN_MID", "Planned", "make_event", "plan"]

# The merchant of events whose mid is no configured merchant's, and that mid.
UNKNOWN_MERCHANT = "(unknown mid)"
UNKNOWN_MID = "99999999-9999-4999-a999-999999999999"


@dataclass(frozen=True)
class Planned:
    kind: str
    topic: str  # "approved" | "declined"
    key: str
    value: bytes
    event_id: str | None
    expect: str  # TRANSMITTED, an OrderStatus status, or "DLQ:<reason>"
    merchant: str = ""  # its merchant's name ("" without merchants)
    mid: str | None = None  # the mid it carries: Flex must see its effects under this merchant


# kind -> (topic, expected outcome, share of traffic)
KINDS: dict[str, tuple[str, str, float]] = {
    "approval": ("approved", "TRANSMITTED", 0.45),
    "cit-approved": ("declined", "APPROVED", 0.12),
    "cit-declined": ("declined", "DECLINED", 0.10),
    "cit-challenge": ("declined", "CHALLENGE", 0.08),
    "cit-capture": ("declined", "CAPTUREREQUIRED", 0.05),
    "mit-rebill": ("declined", "SUBMITTED", 0.12),
    "flex-rejects": ("declined", "REJECTED", 0.02),
    "bad-json": ("declined", "DLQ:schema", 0.02),
    "bad-schema": ("approved", "DLQ:schema", 0.02),
    "raw-pan": ("declined", "DLQ:pan-detected", 0.02),
}


_BILLING = {
    "firstName": "Sam",
    "lastName": "Shopper",
    "country": "United States",
    "countryCode": "US",
    "addressLine1": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "zipcode": "94105",
}


def _transaction(now: str, rng: random.Random) -> dict[str, Any]:
    return {
        "id": f"psp-{rng.getrandbits(40):x}",
        "timestampUtc": now,
        "timezoneUtcOffset": 0,
        "amount": rng.randint(500, 19_900),
        "currency": "USD",
        "responseCode": rng.choice(["05", "51", "203"]),
        "responseCodeSource": "NMI",
        "avsResultCode": "M",
        "cvvResultCode": "NA",
        "cavvResultCode": "NA",
        "cardNotPresent": True,
    }


def _payment_method(last4: str, rng: random.Random) -> dict[str, Any]:
    return {
        "holderName": "Sam Shopper",
        "cardType": "CREDIT",
        "cardBrand": "VISA",
        "cardCountry": "US",
        "expirationMonth": 9,
        "expirationYear": 2030,
        "cardBinNumber": "411111" if last4 == "1111" else "400000",
        "cardLast4Digits": last4,
        "cardNumber": str(uuid.UUID(int=rng.getrandbits(128))),  # a vault token, never a card number
        "verificationValue": "999",
    }


def _base(order_id: str, rng: random.Random) -> dict[str, Any]:
    """A complete event; the draws from ``rng`` keep their order (the same seed, the same events)."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    last4 = rng.choice(["1111", "3184"])
    return {
        "eventId": f"evt-{uuid.UUID(int=rng.getrandbits(128))}",
        "occurredAt": now,
        "orderId": order_id,
        "customerIp": f"203.0.113.{rng.randint(1, 254)}",
        "orderSource": "ecommerce",
        "transaction": _transaction(now, rng),
        "payer": {
            "id": f"cust-{rng.randint(1, 10**6)}",
            "email": "shopper@example.com",
            "phone": "+1 555-0100",
        },
        "paymentMethod": _payment_method(last4, rng),
        "billingInformation": dict(_BILLING),
    }


def make_event(kind: str, order_id: str, rng: random.Random) -> dict[str, Any] | bytes:
    """One event of ``kind`` (bytes for the kinds that are not even JSON)."""
    ev = _base(order_id, rng)
    if kind == "cit-declined":
        ev["payer"].pop("phone")
        ev["paymentMethod"].pop("verificationValue")
    elif kind == "cit-challenge":
        ev["payer"]["phone"] = "+99.2001a"
    elif kind == "cit-capture":
        ev["transactionType"] = "AUTHORIZATION"
        ev["payer"]["phone"] = "998888"
    elif kind == "cit-approved":
        ev["paymentMethod"]["cardLast4Digits"] = "1111"
    elif kind == "mit-rebill":
        ev.update(isMIT=True, isRecurring=True)
        if rng.random() < 0.3:  # a card the sandbox does not rescue: the order expires
            ev["paymentMethod"].update(cardBinNumber="520000", cardLast4Digits="0007")
        ev["subscription"] = {
            "subscriptionId": f"sub-{order_id}",
            "interval": "monthly",
            "price": "19.99",
            "currency": "USD",
        }
    elif kind == "flex-rejects":
        del ev["transaction"]["responseCode"]
    elif kind == "bad-json":
        return orjson.dumps(ev)[:-7]
    elif kind == "bad-schema":
        del ev["eventId"]
    elif kind == "raw-pan":  # a managed MIT: by SFTP, the batch path dead-letters it, else the bridge
        ev.update(isMIT=True, isRecurring=True)
        ev["paymentMethod"]["cardNumber"] = "4111111111111111"
    return ev


def plan(count: int, seed: int = 7, merchants: Sequence[tuple[str, str]] = ()) -> list[Planned]:
    """``count`` events in the proportions of KINDS, shuffled deterministically by ``seed``.

    ``merchants`` ((name, mid) pairs): the events are dealt to them in turn, each carrying its
    merchant's ``mid``, and one in a hundred more (at least one) carry a ``mid`` no merchant has.
    """
    rng = random.Random(seed)  # a reproducible workload  # noqa: S311
    names = list(KINDS)
    weights = [KINDS[k][2] for k in names]
    kinds = [names[i % len(names)] for i in range(len(names))]  # every kind at least once
    kinds += rng.choices(names, weights, k=max(0, count - len(kinds)))
    rng.shuffle(kinds)
    out = []
    for i, kind in enumerate(kinds):
        order_id = f"ORD-{seed}-{i:06d}"
        value = make_event(kind, order_id, rng)
        topic, expect, _ = KINDS[kind]
        name, mid = merchants[i % len(merchants)] if merchants else ("", None)
        out.append(_planned(kind, topic, order_id, value, expect, name, mid))
    if merchants:
        out += _unknown_merchant(max(1, count // 100), seed, rng)
    return out


def _planned(
    kind: str,
    topic: str,
    key: str,
    value: dict[str, Any] | bytes,
    expect: str,
    merchant: str,
    mid: str | None,
) -> Planned:
    if isinstance(value, dict) and mid is not None:
        value["mid"] = mid
    event_id = value.get("eventId") if isinstance(value, dict) else None
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return Planned(kind, topic, key, raw, event_id, expect, merchant, mid)


def _unknown_merchant(count: int, seed: int, rng: random.Random) -> list[Planned]:
    """Valid CIT declines and approvals whose ``mid`` no merchant has: dead letters, never Flex calls."""
    out = []
    for i in range(count):
        order_id = f"ORD-{seed}-U{i:05d}"
        kind = "cit-declined" if i % 2 else "approval"
        value = make_event(kind, order_id, rng)
        topic = KINDS[kind][0]
        out.append(
            _planned(
                "unknown-mid", topic, order_id, value, "DLQ:unknown-merchant", UNKNOWN_MERCHANT, UNKNOWN_MID
            )
        )
    return out
