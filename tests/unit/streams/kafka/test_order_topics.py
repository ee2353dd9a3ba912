"""The order topics must have the order table's partition count (streams/kafka/preflight.py)."""

from __future__ import annotations

from streams.kafka.preflight import order_topics_mismatch

NAMES = ["orders.status", "orders.commands"]


def test_topics_of_the_table_count_or_missing_pass() -> None:
    assert order_topics_mismatch({"orders.status": 8, "orders.commands": 8}, NAMES, 8) is None
    assert order_topics_mismatch({}, NAMES, 8) is None  # both made with 8
    assert order_topics_mismatch({"orders.status": 8}, NAMES, 8) is None


def test_a_topic_of_another_count_is_named_with_its_count_and_the_setting() -> None:
    problem = order_topics_mismatch({"orders.status": 8, "orders.commands": 16}, NAMES, 8)
    assert problem is not None
    assert problem.startswith(
        "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS is 8, but orders.commands has 16 partitions"
    )
    assert "orders.status has" not in problem


def test_both_of_one_other_count_still_fail_the_order_table() -> None:
    problem = order_topics_mismatch({"orders.status": 16, "orders.commands": 16}, NAMES, 8)
    assert problem is not None and "orders.status has 16, orders.commands has 16 partitions" in problem
