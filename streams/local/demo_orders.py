"""The demo's second act: commands against orders the first act created, and MIT outcomes by webhook."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from streams.local.traffic import Planned

__all__ = ["mit_outcomes", "plan_commands"]


def _sessions(statuses: list[dict[str, Any]]) -> dict[str, str]:
    """orderId -> orderSessionKey, from the statuses seen so far."""
    return {str(s["orderId"]): str(s["orderSessionKey"]) for s in statuses if s.get("orderSessionKey")}


def _command(kind: str, order: Planned, sessions: dict[str, str], expect: str, **fields: Any) -> Planned:
    command_id = f"cmd-{kind}-{order.key}"
    body = {"commandId": command_id, "orderId": order.key, "orderSessionKey": sessions.get(order.key)}
    body.update(currency="USD", message="flexbridge demo", **fields)
    return Planned(
        kind, "commands", order.key, orjson.dumps(body), command_id, expect, order.merchant, order.mid
    )


def plan_commands(planned: list[Planned], statuses: list[dict[str, Any]], orders: int = 4) -> list[Planned]:
    """Refunds, captures and cancels against up to ``orders`` approved and ``orders`` capture-required
    orders (half refunded in part and then refused too much, half refunded in full by a command sent
    twice; half captured, half cancelled), and one malformed command."""
    sessions = _sessions(statuses)
    approved = [p for p in planned if p.kind == "cit-approved" and p.key in sessions][:orders]
    captures = [p for p in planned if p.kind == "cit-capture" and p.key in sessions][:orders]
    half = orders // 2
    out: list[Planned] = []
    for order in approved[:half]:
        out.append(_command("refund-part", order, sessions, "REFUNDED", type="refund", amount=100))
        out.append(_command("refund-too-much", order, sessions, "REJECTED", type="refund", amount=10**7))
    for order in approved[half:]:
        twice = _command("refund-all", order, sessions, "REFUNDED", type="refund")
        out += [twice, twice]  # the same command twice: one refund
    for order in captures[:half]:
        amount = orjson.loads(order.value)["transaction"]["amount"]
        out.append(_command("capture", order, sessions, "APPROVED", type="capture", amount=amount))
    for order in captures[half:]:
        out.append(_command("cancel", order, sessions, "CANCELLED", type="cancel"))
    if approved:
        first = approved[0]
        out.append(
            Planned(
                "bad-command",
                "commands",
                first.key,
                b"{not json",
                None,
                "DLQ:schema",
                first.merchant,
                first.mid,
            )
        )
    return out


def mit_outcomes(planned: list[Planned], statuses: list[dict[str, Any]]) -> Counter[str]:
    """The final status each MIT rebill got by webhook (APPROVED or EXPIRED), by status."""
    mit = {p.key for p in planned if p.kind == "mit-rebill"}
    final = {
        str(s["orderId"]): str(s["status"])
        for s in statuses
        if s.get("source") == "webhook"
        and s.get("orderId") in mit
        and s.get("status") in ("APPROVED", "EXPIRED")
    }
    return Counter(final.values())
