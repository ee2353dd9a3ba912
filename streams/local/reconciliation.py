"""Reconcile what was published against what Flex saw and what flexbridge published.

Used by ``flexbridge demo`` (and the tests): every planned event must have exactly the outcome it
should — a transmit Flex answered (by the API, or as a row of a ``transmit_`` batch file Flex
accepted), an OrderStatus with the expected status, or a dead letter with the expected reason —
and no Flex effect may have happened twice. With merchants, :func:`reconcile_merchants` reconciles
each merchant on its own, against only what Flex saw under that merchant's MID.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from streams.kafka.clients import read_topic
from streams.local.traffic import Planned

__all__ = [
    "BatchTransmit",
    "Observed",
    "Reconciliation",
    "Row",
    "outcome_of",
    "read_batch_transmits",
    "read_observed",
    "reconcile",
    "reconcile_merchants",
]


@dataclass(frozen=True)
class BatchTransmit:
    """A row Flex answered SUCCESS in the response to a ``transmit_`` batch file."""

    mid: str  # the merchant whose SFTP account the file came in by
    file: str
    order_id: str


@dataclass
class Observed:
    journal: list[dict[str, Any]]
    statuses: list[dict[str, Any]]  # OrderStatus values from orders.status
    dead_letters: list[tuple[str, str]]  # (key, dlq-reason)
    batch_transmits: list[BatchTransmit] = field(default_factory=list)


async def read_observed(
    bootstrap: str, status_topic: str, dlq_topic: str, journal: list[dict[str, Any]]
) -> Observed:
    """What flexbridge published so far (statuses, dead letters), with the sandbox's ``journal``."""
    statuses = [orjson.loads(r.value) for r in await read_topic(bootstrap, status_topic) if r.value]
    dlq = [
        ((r.key or b"").decode(), dict(r.headers).get("dlq-reason", b"?").decode())
        for r in await read_topic(bootstrap, dlq_topic)
    ]
    return Observed(journal=journal, statuses=statuses, dead_letters=dlq)


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text()
    except FileNotFoundError:  # moved on by a worker meanwhile: the next look finds it in its new place
        return []
    return list(csv.DictReader(text.splitlines()))


def read_batch_transmits(outbound: Mapping[str, Path]) -> list[BatchTransmit]:
    """The SUCCESS rows of every ``transmit_`` response file in each merchant's outbound folder
    (``mid`` -> the folder on the SFTP server's disk), wherever the workers moved it since."""
    found = []
    for mid, folder in outbound.items():
        for path in sorted(folder.rglob("transmit_*.response.csv")):
            found += [
                BatchTransmit(mid, path.name, row.get("orderId", ""))
                for row in _rows(path)
                if row.get("status") == "SUCCESS"
            ]
    return found


@dataclass
class Row:
    kind: str
    expect: str
    published: int = 0
    matched: int = 0
    wrong: int = 0
    missing: int = 0


@dataclass
class Reconciliation:
    rows: dict[str, Row] = field(default_factory=dict)
    duplicate_effects: int = 0
    duplicate_statuses: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        clean = all(r.matched == r.published for r in self.rows.values())
        return clean and self.duplicate_effects == 0 and self.duplicate_statuses == 0

    @property
    def accounted(self) -> int:
        return sum(r.matched for r in self.rows.values())

    @property
    def published(self) -> int:
        return sum(r.published for r in self.rows.values())


def _effects(seen: Observed) -> tuple[Counter[str], int]:
    """Successful transmits per merchant orderId, and evaluate effects applied twice for one key.
    A batch file answered again under the same name (a re-upload) is one transmit."""
    transmits = Counter(t.order_id for t in set(seen.batch_transmits))
    evaluations: Counter[str] = Counter()
    for call in seen.journal:
        if call.get("status") != 200 or call.get("replayed"):
            continue
        body = call.get("body") or {}
        if call.get("path") == "/v1/transmit":
            transmits[str(body.get("orderId"))] += 1
        elif call.get("path") == "/v1/evaluate":
            evaluations[str(call.get("idempotencyKey"))] += 1
    return transmits, sum(n - 1 for n in evaluations.values() if n > 1)


def outcome_of(
    p: Planned, transmits: Counter[str], status: dict[str, list[str]], dlq: dict[str, set[str]]
) -> str:
    if p.expect == "TRANSMITTED":
        return "TRANSMITTED" if transmits[p.key] else "-"
    if p.expect.startswith("DLQ:") or p.event_id is None:
        reasons = dlq.get(p.key, set())
        wanted = p.expect.removeprefix("DLQ:")
        return p.expect if wanted in reasons else (f"DLQ:{sorted(reasons)[0]}" if reasons else "-")
    seen = status.get(p.event_id, [])
    return seen[-1] if seen else "-"


def reconcile(planned: list[Planned], seen: Observed) -> Reconciliation:
    transmits, duplicate_evaluations = _effects(seen)
    status: dict[str, list[str]] = defaultdict(list)
    reasons: dict[str, str] = {}
    for s in seen.statuses:
        status[str(s.get("eventId"))].append(str(s.get("status")))
        if s.get("reason"):
            reasons[str(s.get("eventId"))] = str(s["reason"])
    dlq: dict[str, set[str]] = defaultdict(set)
    for key, reason in seen.dead_letters:
        dlq[key].add(reason)
    result = Reconciliation()
    result.duplicate_effects = duplicate_evaluations + sum(n - 1 for n in transmits.values() if n > 1)
    # A status repeated for the same event is a duplicate (PENDING then SUBMITTED is not), unless
    # the event itself was published that many times.
    copies = Counter(p.event_id for p in planned if p.event_id is not None)
    result.duplicate_statuses = sum(
        max(0, n - copies[e]) for e in copies for n in Counter(status.get(e, [])).values()
    )
    for p in planned:
        row = result.rows.setdefault(p.kind, Row(p.kind, p.expect))
        row.published += 1
        got = outcome_of(p, transmits, status, dlq)
        if got == p.expect:
            row.matched += 1
        elif got == "-":
            row.missing += 1
        else:
            row.wrong += 1
            if len(result.examples) < 5:
                why = f" ({reasons[p.event_id]})" if p.event_id in reasons else ""
                result.examples.append(f"{p.key} ({p.kind}): expected {p.expect}, got {got}{why}")
    return result


def _under(seen: Observed, mid: str | None) -> Observed:
    """What Flex saw under merchant ``mid`` (its token, its SFTP account), with everything published;
    all of it for events without a ``mid``."""
    if mid is None:
        return seen
    journal = [call for call in seen.journal if call.get("mid") == mid]
    batches = [t for t in seen.batch_transmits if t.mid == mid]
    return replace(seen, journal=journal, batch_transmits=batches)


def reconcile_merchants(planned: list[Planned], seen: Observed) -> dict[str, Reconciliation]:
    """Each merchant's events reconciled on their own, in order of first appearance: a Flex effect
    counts for an event only when Flex saw it under the event's merchant (the journal's ``mid``)."""
    groups: dict[str, list[Planned]] = defaultdict(list)
    for p in planned:
        groups[p.merchant].append(p)
    return {name: reconcile(group, _under(seen, group[0].mid)) for name, group in groups.items()}
