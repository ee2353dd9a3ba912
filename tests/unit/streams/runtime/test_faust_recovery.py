"""A table recovery that stops making progress starts again (streams/runtime/faust_recovery.py): a step
that times out no longer ends Faust's recovery task, and a recovery that has read nothing for 30 s
while records are left is started again, less and less often while it still makes no progress. On
Faust's own ``Recovery`` object, not started."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import faust
import pytest
from faust.tables.recovery import RebalanceAgain, Recovery, ServiceStopped
from faust.types import TP

from streams.runtime import faust_recovery
from streams.runtime.faust_recovery import RecoveryWatch

TP0, TP1 = TP("worker-orders-changelog", 0), TP("worker-orders-changelog", 1)


@pytest.fixture
async def recovery() -> AsyncIterator[Recovery]:
    """Made in the test's event loop: a mode service keeps the loop it was made in."""
    faust_recovery.install()
    app = faust.App("recovery-test", autodiscover=False)
    yield app.tables.recovery


async def test_a_step_that_times_out_starts_the_recovery_again(recovery: Recovery) -> None:
    counted: list[str] = []
    RecoveryWatch(recovery.app, lambda: counted.append("counted"))
    # Faust's own _wait raised ServiceStopped here, and its recovery loop ended for good
    with pytest.raises(RebalanceAgain):
        await recovery._wait(asyncio.sleep(10), timeout=0.05)
    assert recovery.signal_recovery_start.is_set()
    assert counted == ["counted"]


async def test_a_step_in_time_a_rebalance_and_a_stop_mean_what_they_meant(
    recovery: Recovery, caplog: pytest.LogCaptureFixture
) -> None:
    await recovery._wait(asyncio.sleep(0), timeout=5)  # a step that ends in time: nothing raised
    recovery.signal_recovery_start.set()
    with pytest.raises(RebalanceAgain):
        await recovery._wait(asyncio.sleep(10), timeout=5)
    recovery.signal_recovery_start.clear()
    recovery._stopped.set()
    with pytest.raises(ServiceStopped):
        await recovery._wait(asyncio.sleep(10), timeout=5)
    assert not recovery.signal_recovery_start.is_set()
    assert "starting the recovery again" not in caplog.text


def _reading(recovery: Recovery, started: float) -> None:
    """In recovery since ``started``: partition 0 has 8 records left, partition 1 none."""
    recovery._set_recovery_started()
    recovery._recovery_started_at = started
    recovery.active_highwaters.update({TP0: 7, TP1: 4})
    recovery.active_offsets.update({TP0: -1, TP1: 4})


def _watch(recovery: Recovery, monkeypatch: pytest.MonkeyPatch) -> tuple[RecoveryWatch, list[str]]:
    seen: list[str] = []
    monkeypatch.setattr(faust_recovery, "log_consumer", lambda app: seen.append("dump"))
    monkeypatch.setattr(faust_recovery, "log_task_running", lambda name: seen.append(name))
    return RecoveryWatch(recovery.app, lambda: seen.append("counted")), seen


def test_a_recovery_that_reads_nothing_for_30_s_is_started_again(
    recovery: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch, seen = _watch(recovery, monkeypatch)
    _reading(recovery, started=1000.0)
    assert not watch.check(1029.9)
    assert not recovery.signal_recovery_start.is_set()
    assert watch.check(1030.0)
    assert recovery.signal_recovery_start.is_set()
    assert seen == ["dump", "_restart_recovery", "counted"]

    # Faust starts it again (a new start time); still nothing read: the next restart waits 60 s
    recovery.signal_recovery_start.clear()
    _reading(recovery, started=1031.0)
    assert not watch.check(1031.0 + 59.9)
    assert watch.check(1031.0 + 60.0)
    assert watch.restarts == 2


def test_a_record_read_counts_as_progress(recovery: Recovery, monkeypatch: pytest.MonkeyPatch) -> None:
    watch, _ = _watch(recovery, monkeypatch)
    _reading(recovery, started=1000.0)
    recovery._active_events_received_at[TP0] = 1020.0
    assert not watch.check(1049.9)  # 29.9 s after the last record
    assert watch.check(1050.0)
    _reading(recovery, started=1051.0)
    recovery._active_events_received_at[TP0] = 1052.0  # a record since the restart: patience is 30 s again
    assert not watch.check(1053.0)
    assert watch.restarts == 0
    assert watch.check(1082.0)


def test_nothing_left_to_read_or_no_recovery_is_left_alone(
    recovery: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch, seen = _watch(recovery, monkeypatch)
    _reading(recovery, started=1000.0)
    recovery.active_offsets[TP0] = 7  # every record read: Faust ends the recovery itself
    assert not watch.check(5000.0)
    recovery.active_offsets[TP0] = -1
    recovery._set_recovery_ended()
    assert not watch.check(5000.0)
    assert seen == []
    assert not recovery.signal_recovery_start.is_set()
