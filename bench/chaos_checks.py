"""The fault run's invariants over the order life cycle: webhooks, commands and SFTP batch records.

Pure functions over what the sandbox and the output topics show (:class:`Lifecycle`), so each is
unit-tested on hand-made observations (tests/unit/bench/test_chaos_checker.py).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.checker import Invariant, effect
from consumers.order_machine import apply_status
from consumers.webhooks.keys import scoped_key
from core.errors import InvalidEvent
from schemas.order_state import OrderState
from schemas.status import OrderStatus
from schemas.webhooks import dedupe_key, parse_webhook
from streams.local.reconciliation import Observed, reconcile
from streams.local.traffic import Planned
from streams.runtime.webhook_http import WEBHOOK_PREFIX

__all__ = [
    "Lifecycle",
    "batch_records_once",
    "commands_once",
    "lifecycle_invariants",
    "statuses_in_order",
    "webhooks_once",
]

# An order's command effects in the journal: the Flex call and the order it names.
_REFUND = re.compile(r"^/v1/orders/([^/]+)/refund$")
_CANCEL = re.compile(r"^/v1/orders/([^/]+)/cancel$")
_SUCCESS = {"refund": "REFUNDED", "capture": "APPROVED", "cancel": "CANCELLED"}


@dataclass
class Lifecycle:
    """What the sandbox and ``flex.webhooks`` show about the orders, beside the events' :class:`Observed`."""

    commands: list[Planned] = field(default_factory=list)  # as published on orders.commands
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # GET /_sandbox/webhooks
    published_webhooks: list[str] = field(default_factory=list)  # dedupe header of each flex.webhooks record
    batches: list[dict[str, Any]] = field(default_factory=list)  # GET /_sandbox/batches
    orders: list[dict[str, Any]] = field(default_factory=list)  # GET /_sandbox/orders


def _delivery_key(delivery: dict[str, Any]) -> str | None:
    """The receiver's dedupe key of a delivery (the product's own definition), in the scope of the
    merchant whose path it went to (``…/webhooks/flex/acme``: ``acme/…``; the plain path's, of the
    single-merchant settings, unscoped), None if unparseable."""
    try:
        key = dedupe_key(parse_webhook(orjson.dumps(delivery.get("payload"))))
    except InvalidEvent:
        return None
    _, _, name = str(delivery.get("url") or "").partition(WEBHOOK_PREFIX)
    return scoped_key(name or None, key)


def webhooks_once(lc: Lifecycle) -> Invariant:
    """Every delivered webhook is on ``flex.webhooks`` exactly once; nothing is there twice or from nowhere.

    Keyed like the receiver (``event:OrderId``, a refund's with its ``EventData``): a redelivery is one
    webhook.
    """
    published = Counter(lc.published_webhooks)
    state: dict[str, set[str]] = defaultdict(set)
    for d in lc.deliveries:
        state[_delivery_key(d) or f"unparseable #{d.get('id')}"].add(str(d.get("state")))
    lost = [k for k, s in state.items() if "delivered" in s and published[k] == 0]
    twice = [k for k, n in published.items() if n > 1]
    stray = [k for k in published if k not in state]
    pending = [k for k, s in state.items() if "pending" in s]
    failed = sum(1 for s in state.values() if s == {"failed"})
    examples = [f"delivered, never published: {k}" for k in lost[:3]]
    examples += [f"published {published[k]}×: {k}" for k in twice[:3]]
    examples += [f"published, never sent: {k}" for k in stray[:3]]
    examples += [f"still being delivered: {k}" for k in pending[:3]]
    return Invariant(
        "every webhook delivered was republished on flex.webhooks exactly once",
        not (lost or twice or stray or pending),
        f"{len(state)} webhooks sent, {sum(published.values())} republished, {failed} never delivered",
        examples,
    )


def _command_call(call: dict[str, Any]) -> tuple[str, str] | None:
    """(command type, orderSessionKey) of a refund, cancel or capture call; None for other calls."""
    path = str(call.get("path"))
    if m := _REFUND.match(path):
        return "refund", m.group(1)
    if m := _CANCEL.match(path):
        return "cancel", m.group(1)
    if path == "/v1/capture":
        return "capture", str((call.get("body") or {}).get("orderId"))
    return None


def _command_effects(journal: list[dict[str, Any]], sessions: dict[str, str]) -> Counter[tuple[str, str]]:
    """(merchant orderId, command type) → effects Flex applied that were not replays."""
    effects: Counter[tuple[str, str]] = Counter()
    for call in journal:
        target = _command_call(call)
        if target is not None and effect(call) and not call.get("replayed"):
            kind, session = target
            effects[(sessions.get(session, session), kind)] += 1
    return effects


def commands_once(lc: Lifecycle, seen: Observed) -> Invariant:
    """Each command got exactly one answer (the expected one), and no refund/capture/cancel took effect
    more often for an order than it had distinct successful commands of that type (repeats of a
    command are replays: the sandbox journal marks them)."""
    result = reconcile(lc.commands, seen)
    ids = {p.event_id for p in lc.commands if p.event_id}
    answers: dict[str, set[str]] = defaultdict(set)
    for s in seen.statuses:
        if s.get("source") == "command" and s.get("eventId") in ids:
            answers[str(s["eventId"])].add(str(s.get("status")))
    split = [c for c, a in answers.items() if len(a) > 1]
    allowed: Counter[tuple[str, str]] = Counter()
    for p in {p.event_id: p for p in lc.commands if p.event_id}.values():
        kind = str(orjson.loads(p.value).get("type"))
        allowed[(p.key, kind)] += p.expect == _SUCCESS.get(kind)
    sessions = {str(o.get("orderSessionKey")): str(o.get("orderId")) for o in lc.orders}
    effects = _command_effects(seen.journal, sessions)
    extra = [f"{k} of {o} applied {n}×" for (o, k), n in effects.items() if n > allowed[(o, k)]]
    examples = result.examples + [f"{c}: {sorted(answers[c])}" for c in split[:3]] + extra[:3]
    return Invariant(
        "each command answered once, its effect applied once",
        result.accounted == result.published and not split and not extra,
        f"{result.accounted}/{result.published} commands answered as expected; "
        f"{sum(effects.values())} refund/capture/cancel effects",
        examples,
    )


def batch_records_once(
    planned: list[Planned], lc: Lifecycle, journal: list[dict[str, Any]], mit_by_api: Collection[str] = ()
) -> Invariant:
    """No batch record was submitted twice: each MIT event became at most one Flex order, never a
    second submission of its order under another key (the sandbox records that as ``evaluate-retry``),
    and never also went to ``/v1/evaluate``. Re-uploads of a file are answered from the keys.
    ``mit_by_api``: the merchants that send their MIT to ``/v1/evaluate``, whose events are left out."""
    mit = {p.key for p in planned if p.kind == "mit-rebill" and p.merchant not in mit_by_api}
    orders = [o for o in lc.orders if o.get("orderId") in mit]
    per_order = Counter(str(o.get("orderId")) for o in orders)
    twice = [o for o, n in per_order.items() if n > 1]
    retried = [
        str(o.get("orderId"))
        for o in orders
        if any(h.get("action") == "evaluate-retry" for h in o.get("history") or [])
    ]
    by_api = {
        str((c.get("body") or {}).get("orderId"))
        for c in journal
        if c.get("path") == "/v1/evaluate" and (c.get("body") or {}).get("orderId") in mit
    }
    files = [b for b in lc.batches if b.get("kind") == "evaluate"]
    accepted = sum(int(b.get("accepted") or 0) for b in files)
    examples = [f"{o}: {per_order[o]} orders" for o in twice[:3]]
    examples += [f"{o}: submitted again under another key" for o in retried[:3]]
    examples += [f"{o}: also sent to /v1/evaluate" for o in sorted(by_api)[:3]]
    return Invariant(
        "no batch record was submitted twice",
        not (twice or retried or by_api),
        f"{len(files)} files, {accepted} records accepted, {len(per_order)} orders "
        f"({accepted - len(orders)} re-submitted records answered from their key)",
        examples,
    )


def statuses_in_order(seen: Observed) -> Invariant:
    """The statuses of each order, in the order ``orders.status`` holds them, are a legal life cycle:
    the order machine (consumers/order_machine.py) finds no illegal transition, e.g. a batch's
    SUBMITTED after the webhook's APPROVED. Flex's answer that came after later news of its Flex
    order is published marked ``detail.late`` (streams/runtime/bridge.py), and the machine records
    it as ``late``: counted here, not out of order for a reader who keeps the topic's rules."""
    states: dict[str, OrderState | None] = {}
    illegal: list[str] = []
    late = 0
    for raw in seen.statuses:
        try:
            status = OrderStatus.model_validate(raw)
        except ValueError:
            continue  # not an OrderStatus: the order table skips it too
        state, verdict = apply_status(states.get(status.order_id), status)
        states[status.order_id] = state
        late += verdict == "late"
        if verdict == "illegal":
            illegal.append(f"{status.order_id}: {state.history[-1].note}")
    return Invariant(
        "the statuses of each order reached orders.status in the order they happened, or marked late",
        not illegal,
        f"{len(states)} orders, {len(illegal)} statuses out of order, {late} late answers marked",
        illegal[:3],
    )


def lifecycle_invariants(
    planned: list[Planned], seen: Observed, lc: Lifecycle, mit_by_api: Collection[str] = ()
) -> list[Invariant]:
    return [
        webhooks_once(lc),
        commands_once(lc, seen),
        batch_records_once(planned, lc, seen.journal, mit_by_api),
        statuses_in_order(seen),
    ]
