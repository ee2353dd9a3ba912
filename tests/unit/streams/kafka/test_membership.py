"""Closing consumers without LeaveGroup (streams/kafka/membership.py): pure unit tests."""

from __future__ import annotations

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator

from streams.kafka.membership import keep_membership_on_close, skip_leave_group


class _Coordinator:
    """What ``skip_leave_group`` touches of aiokafka's GroupCoordinator; records any request."""

    group_id = "g"

    def __init__(self) -> None:
        self.generation, self.member_id = 3, "m-1"
        self.sent: list[object] = []

    async def _send_req(self, request: object) -> None:
        self.sent.append(request)

    def reset_generation(self) -> None:
        self.generation, self.member_id = -1, ""


async def test_closing_forgets_the_membership_without_a_leave_group_request() -> None:
    coordinator = _Coordinator()
    await skip_leave_group(coordinator)
    assert coordinator.sent == []
    assert (coordinator.generation, coordinator.member_id) == (-1, "")


def test_the_switch_replaces_leave_group_for_every_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GroupCoordinator, "_maybe_leave_group", GroupCoordinator._maybe_leave_group)
    assert GroupCoordinator._maybe_leave_group is not skip_leave_group
    keep_membership_on_close()
    assert GroupCoordinator._maybe_leave_group is skip_leave_group
