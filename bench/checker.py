"""The fault run's checker: reads what Flex saw and what flexbridge published, proves the invariants.

Pure functions over observations, so the checker itself is unit-tested.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from consumers.keys import event_key
from streams.local.reconciliation import Observed, reconcile, reconcile_merchants
from streams.local.traffic import Planned

__all__ = ["Invariant", "attributed", "check", "effect", "merchants_apart"]

# A transmit repeated within this many seconds after a SIGKILL is the at-least-once window of an
# endpoint that takes no idempotency key (the ledger entry was not yet written when the worker died).
KILL_WINDOW_SECONDS = 5.0
# The sandbox stamps a call (``at``) when it reaches its middleware, after the call has waited in
# the sandbox's socket and event loop: a worker SIGKILLed this long before that stamp may have sent
# the call already, and never read its answer (seen: killed 30 ms before the stamp of its own call).
ARRIVAL_SLACK_SECONDS = 1.0


@dataclass
class Invariant:
    name: str
    held: bool
    detail: str
    examples: list[str] = field(default_factory=list)


def _at(call: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(call["at"]).replace("Z", "+00:00")).timestamp()


def attributed(planned: list[Planned], statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statuses with every batch result attributed to its event, and PENDING dropped where the
    event has an outcome. PENDING (handed to Flex in a file) is not an outcome; a result published by a
    worker that did not upload the file carries ``batch:{file}#{seq}`` as its eventId and names its
    event only by ``detail.idempotencyKey`` (docs/batches.md)."""
    events = {event_key(p.event_id): p.event_id for p in planned if p.event_id}
    out = []
    for s in statuses:
        key = (s.get("detail") or {}).get("idempotencyKey")
        if s.get("source") == "batch" and str(s.get("eventId")).startswith("batch:") and key in events:
            s = {**s, "eventId": events[key]}
        out.append(s)
    decided = {str(s.get("eventId")) for s in out if s.get("status") != "PENDING"}
    return [s for s in out if s.get("status") != "PENDING" or str(s.get("eventId")) not in decided]


def _one_outcome(planned: list[Planned], seen: Observed) -> Invariant:
    seen = replace(seen, statuses=attributed(planned, seen.statuses))  # batch transmits kept
    result = reconcile(planned, seen)
    distinct: dict[str, set[str]] = defaultdict(set)
    for status in seen.statuses:
        distinct[str(status.get("eventId"))].add(str(status.get("status")))
    split = [e for e, s in distinct.items() if len(s) > 1]
    bad = [
        f"{r.kind}: {r.missing} missing, {r.wrong} wrong"
        for r in result.rows.values()
        if r.matched != r.published
    ]
    examples = result.examples + [f"{e}: {sorted(distinct[e])}" for e in split[:3]]
    return Invariant(
        "every event reached exactly one final outcome",
        not bad and not split,
        f"{result.accounted}/{result.published} accounted; {len(split)} with two different statuses",
        bad + examples,
    )


def effect(call: dict[str, Any]) -> bool:
    """The sandbox applied the call: it answered 200 (maybe too late) or lost the answer after."""
    return call.get("status") == 200 or str(call.get("fault")).startswith("after-effect")


def _lost_answer(call: dict[str, Any]) -> bool:
    return (call.get("fault") == "timeout" and call.get("status") == 200) or str(
        call.get("fault")
    ).startswith("after-effect")


def _evaluate_once(journal: list[dict[str, Any]]) -> Invariant:
    """Every evaluate effect of one order carries the same idempotency key (its event's)."""
    keys: dict[str, set[str]] = defaultdict(set)
    effects = replays = 0
    for call in journal:
        if call.get("path") != "/v1/evaluate" or not effect(call):
            continue
        if call.get("replayed"):
            replays += 1
            continue
        effects += 1
        keys[str((call.get("body") or {}).get("orderId"))].add(str(call.get("idempotencyKey")))
    new_key = [o for o, k in keys.items() if len(k) > 1]
    return Invariant(
        "no evaluate effect twice except under the same idempotency key",
        not new_key,
        f"{effects} effects, {replays} answered as replays of their key",
        [f"order {o} evaluated under {len(keys[o])} keys" for o in new_key[:3]],
    )


def _transmit_repeats(journal: list[dict[str, Any]], kills: list[float]) -> Invariant:
    """/transmit takes no key: a repeat must follow a lost answer or a SIGKILL of the worker."""
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in journal:
        if call.get("path") == "/v1/transmit":
            calls[str((call.get("body") or {}).get("orderId"))].append(call)
    unexplained, explained = [], 0
    for order, seen in calls.items():
        done = [c for c in seen if effect(c)]
        if len(done) <= 1:
            continue
        first = min(_at(c) for c in done)
        lost = any(_lost_answer(c) for c in seen)
        killed = any(first - ARRIVAL_SLACK_SECONDS <= k <= first + KILL_WINDOW_SECONDS for k in kills)
        if lost or killed:
            explained += 1
        else:
            unexplained.append(order)
    return Invariant(
        "no transmit repeated except after a lost answer or a SIGKILL",
        not unexplained,
        f"{explained} repeats explained by an injected fault or kill",
        [f"order {o} transmitted twice with no fault" for o in unexplained[:3]],
    )


def merchants_apart(planned: list[Planned], seen: Observed) -> Invariant:
    """With merchants: no Flex call for an event went out under another merchant (its token: the
    journal's ``mid``), and each merchant's events reconciled on their own, a transmit counting only
    when Flex saw it under the event's merchant (its token, or its SFTP account for a file)."""
    foreign = _foreign_calls(planned, seen.journal)
    seen = replace(seen, statuses=attributed(planned, seen.statuses))
    results = reconcile_merchants(planned, seen)
    # as for every event together (_one_outcome): a status repeated, or an evaluate answered again
    # under its own key, is the faults' doing and proven harmless by the other invariants
    short = {n: r for n, r in results.items() if any(row.matched != row.published for row in r.rows.values())}
    return Invariant(
        "each merchant's events reached their outcomes under that merchant at Flex",
        not short and not foreign,
        ", ".join(f"{name} {r.accounted}/{r.published}" for name, r in results.items())
        + f"; {len(foreign)} calls under another merchant",
        [f"{n}: {r.accounted}/{r.published} accounted" for n, r in short.items()]
        + [e for r in short.values() for e in r.examples[:2]]
        + foreign[:3],
    )


def _foreign_calls(planned: list[Planned], journal: list[dict[str, Any]]) -> list[str]:
    """The /evaluate (by idempotency key) and /transmit (by orderId) calls of planned events made
    under another ``mid`` than the event's."""
    by_key = {event_key(p.event_id): p for p in planned if p.event_id and p.mid}
    by_order = {p.key: p for p in planned if p.mid}
    found = []
    for call in journal:
        path = call.get("path")
        if path == "/v1/evaluate":
            p = by_key.get(str(call.get("idempotencyKey")))
        elif path == "/v1/transmit":
            p = by_order.get(str((call.get("body") or {}).get("orderId")))
        else:
            continue
        if p is not None and call.get("mid") != p.mid:
            found.append(f"{p.key} ({p.merchant}): {path} under mid {call.get('mid')}")
    return found


def check(planned: list[Planned], seen: Observed, kills: list[float]) -> list[Invariant]:
    found = [
        _one_outcome(planned, seen),
        _evaluate_once(seen.journal),
        _transmit_repeats(seen.journal, kills),
    ]
    return [*found, merchants_apart(planned, seen)] if any(p.merchant for p in planned) else found
