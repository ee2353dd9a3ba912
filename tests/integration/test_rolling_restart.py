"""A deploy: three workers under a mixed load (approvals, CIT, MIT over SFTP, webhooks, commands),
restarted one at a time six times (SIGTERM, wait for the exit, start the replacement, wait until it
is ready), with no injected fault. The chaos run's checker (bench/checker.py, bench/chaos_checks.py)
proves the invariants; none may crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import run_chaos

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)  # six restarts of a worker on two cores, then the settle
async def test_a_rolling_restart_of_three_workers_crashes_none_and_keeps_every_invariant(
    tmp_path: Path,
) -> None:
    result = await run_chaos(
        tmp_path, seconds=30, events=600, kills=6, seed=7, mode="rolling", flex_faults=False
    )
    assert result.faults["worker restarted (SIGTERM, replaced, ready)"] == 6
    assert not any(f.startswith(("Flex:", "SFTP:", "worker SIGKILLed")) for f in result.faults)
    work = result.workload
    assert work["batch files the sandbox processed"] > 0 and work["webhooks the sandbox sent"] > 0
    assert work["commands (refund, capture, cancel, malformed)"] > 0
    assert {
        "no worker crashed: each one ran until stopped, and stopped with exit code 0; "
        "no agent or task crashed in one",
        "no transmit repeated except after a lost answer or a SIGKILL",
        "no evaluate effect twice except under the same idempotency key",
        "no batch record was submitted twice",
        "the statuses of each order reached orders.status in the order they happened, or marked late",
    } <= {i.name for i in result.invariants}
    broken = [f"{i.name}: {i.detail}: {i.examples}" for i in result.invariants if not i.held]
    assert not broken, "\n".join(broken)  # every worker alive, one outcome each, statuses in order …
