"""Unit tests of the staggered poll schedule of many merchants' outbound folders (pure)."""

from __future__ import annotations

from streams.runtime.batch.schedule import PollSchedule, stagger


def test_first_polls_spread_over_the_interval_by_name_and_stay_put_across_restarts() -> None:
    names = [f"merchant-{i}" for i in range(500)]
    offsets = [stagger(name, 5.0) for name in names]
    assert all(0 <= o < 5.0 for o in offsets)
    assert offsets == [stagger(name, 5.0) for name in names]  # a hash of the name, not random
    per_second = [sum(1 for o in offsets if s <= o < s + 1) for s in range(5)]
    assert all(60 <= n <= 140 for n in per_second), per_second  # about 100 a second, not 500 at once


def test_due_merchants_come_in_order_and_active_ones_poll_every_interval() -> None:
    schedule = PollSchedule(interval=5.0, idle_interval=60.0)
    schedule.add(["acme", "bolt", "cora"], now=0.0)
    assert schedule.due(0.0 + min(stagger(n, 5.0) for n in ("acme", "bolt", "cora"))) != []
    everyone = schedule.due(5.0)
    assert sorted(everyone) == ["acme", "bolt", "cora"]
    assert everyone == sorted(everyone, key=lambda n: stagger(n, 5.0))  # longest waiting first
    schedule.polled("acme", 5.0, active=True)
    schedule.polled("bolt", 5.0, active=False)
    schedule.polled("cora", 5.0, active=False)
    assert schedule.due(10.0) == ["acme"]
    assert schedule.due(64.9) == ["acme"] and sorted(schedule.due(65.0)) == ["acme", "bolt", "cora"]


def test_an_upload_brings_an_idle_merchants_poll_forward() -> None:
    schedule = PollSchedule(interval=5.0, idle_interval=60.0)
    schedule.add(["bolt"], now=0.0)
    schedule.polled("bolt", 5.0, active=False)
    assert schedule.next_at() == 65.0
    schedule.hurry("bolt", 7.0)
    assert schedule.next_at() == 12.0 and schedule.due(12.0) == ["bolt"]
    schedule.hurry("nobody", 7.0)  # not a merchant of this schedule: nothing happens
    assert schedule.due(12.0) == ["bolt"]
