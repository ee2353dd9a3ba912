"""The short fault run of ``make chaos`` (bench/chaos.py) and unit tests of its event checker
(the life-cycle checks are tested in tests/unit/bench/test_chaos_checker.py)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from bench.chaos import run_chaos
from bench.chaos_nemesis import kill_schedule
from bench.checker import check
from streams.local.reconciliation import Observed
from streams.local.traffic import plan


def _call(path: str, order: str, key: str | None = None, **extra: object) -> dict[str, object]:
    return {
        "path": path,
        "status": 200,
        "body": {"orderId": order},
        "idempotencyKey": key,
        "at": "2026-11-24T10:00:00Z",
        "replayed": False,
        "fault": None,
        **extra,
    }


def test_the_checker_finds_a_missing_outcome_and_effects_applied_twice() -> None:
    planned = [p for p in plan(20, seed=3) if p.kind in ("approval", "cit-approved")][:2]
    approval, decline = sorted(planned, key=lambda p: p.kind)
    journal = [
        _call("/v1/transmit", approval.key),
        _call("/v1/transmit", approval.key),  # a repeat with no fault and no kill
        _call("/v1/evaluate", decline.key, "k1"),
        _call("/v1/evaluate", decline.key, "k2"),  # the same order under a second key
    ]
    held = {i.name: i.held for i in check([approval, decline], Observed(journal, [], []), kills=[])}
    assert held == {
        "every event reached exactly one final outcome": False,  # the decline has no status
        "no evaluate effect twice except under the same idempotency key": False,
        "no transmit repeated except after a lost answer or a SIGKILL": False,
    }


def test_the_checker_accepts_repeats_explained_by_a_lost_answer_or_a_kill() -> None:
    approval = next(p for p in plan(20, seed=3) if p.kind == "approval")
    journal = [
        _call("/v1/transmit", approval.key, fault="after-effect-drop", status=None),
        _call("/v1/transmit", approval.key),
    ]
    invariants = check([approval], Observed(journal, [], []), kills=[])
    assert all(i.held for i in invariants), [(i.name, i.examples) for i in invariants]
    twice = [_call("/v1/transmit", approval.key), _call("/v1/transmit", approval.key)]
    killed_at = 1795514400.5  # 2026-11-24T10:00:00.5Z, just after the first call
    assert check([approval], Observed(twice, [], []), kills=[killed_at])[2].held


@pytest.mark.parametrize(("seconds", "kills"), [(20.0, 2), (120.0, 12), (30.0, 12)])
def test_the_kills_are_spread_over_the_window_in_order(seconds: float, kills: int) -> None:
    step = seconds / (kills + 1)
    for seed in range(50):
        at = kill_schedule(random.Random(seed), 100.0, 100.0 + seconds, kills)
        assert len(at) == kills
        assert 100.0 < at[0] and at[-1] < 100.0 + seconds
        assert all(b - a >= step / 5 - 1e-9 for a, b in itertools.pairwise(at))


@pytest.mark.integration
@pytest.mark.timeout(600)  # a 20 s fault run; start-ups, kills and the settle take minutes on two cores
async def test_short_fault_run_holds_every_invariant(tmp_path: Path) -> None:
    result = await run_chaos(tmp_path, seconds=20, events=600, kills=2, seed=4)
    kills = sum(n for fault, n in result.faults.items() if fault.startswith("worker SIGKILLed"))
    assert kills == len(result.kills) >= 2
    assert any(fault.startswith("Flex:") for fault in result.faults)
    assert result.ok, [(i.name, i.detail, i.examples) for i in result.invariants if not i.held]
    # every flow took part: MIT through SFTP files, webhooks, commands, each with its invariant
    work = result.workload
    assert work["batch files the sandbox processed"] > 0 and work["webhooks the sandbox sent"] > 0
    assert work["commands (refund, capture, cancel, malformed)"] > 0
    assert {"no batch record was submitted twice", "each command answered once, its effect applied once"} <= {
        i.name for i in result.invariants
    }
    by_kafka = next(i for i in result.invariants if i.name.startswith("every input record has an outcome"))
    assert by_kafka.detail.startswith("0 of ") and not by_kafka.detail.startswith("0 of 0 ")


@pytest.mark.integration
@pytest.mark.timeout(600)
async def test_short_fault_run_with_three_merchants_holds_every_invariant(tmp_path: Path) -> None:
    """``--merchants``: the demo's three merchants (their own credentials, SFTP accounts, webhook
    keys and routes) on the same topics, and events of a mid no merchant has."""
    result = await run_chaos(tmp_path, seconds=20, events=600, kills=2, seed=5, merchants=True)
    assert result.ok, [(i.name, i.detail, i.examples) for i in result.invariants if not i.held]
    apart = next(i for i in result.invariants if i.name.startswith("each merchant's events"))
    assert all(f"{name} " in apart.detail for name in ("acme", "bolt", "cora", "(unknown mid)")), apart.detail
    assert result.workload["batch files the sandbox processed"] > 0
