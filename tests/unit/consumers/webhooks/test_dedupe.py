"""The receiver's memory of published webhooks: a time window and a size bound."""

from __future__ import annotations

import pytest

from consumers.webhooks.dedupe import SeenKeys


def test_a_key_is_remembered_for_the_window_only() -> None:
    seen = SeenKeys(window_seconds=60, max_entries=10)
    seen.add("order.completed:a", at=1000)
    assert seen.seen("order.completed:a", now=1059)
    assert not seen.seen("order.completed:b", now=1059)
    assert not seen.seen("order.completed:a", now=1061)
    assert len(seen) == 0  # expired entries are dropped


def test_the_oldest_key_goes_first_when_full_and_a_later_time_wins() -> None:
    seen = SeenKeys(window_seconds=60, max_entries=2)
    seen.add("a", at=10)
    seen.add("b", at=11)
    seen.add("a", at=5)  # read back out of order: the later time is kept
    seen.add("c", at=12)
    assert not seen.seen("b", now=20) and seen.seen("a", now=69) and seen.seen("c", now=20)


def test_a_nonsense_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        SeenKeys(window_seconds=0, max_entries=1)
