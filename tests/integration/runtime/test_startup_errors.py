"""A worker that cannot run stops at once with a message naming the setting to change."""

from __future__ import annotations

import pytest

from core.settings import KafkaSettings
from streams.kafka.topics import ensure_topics
from tests.conftest import Stack
from tests.support import run_flexbridge

pytestmark = pytest.mark.integration


async def test_a_broker_refusing_the_idempotent_producer_names_the_setting(stack: Stack) -> None:
    env = {**stack.env, "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "true"}  # the embedded broker refuses it
    code, _, err = await run_flexbridge(env, "worker")
    assert code == 2, err
    assert "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE=false" in err
    assert "UnknownError()" not in err.splitlines()[-1]


async def test_a_commands_topic_of_another_partition_count_than_the_order_table_names_the_setting(
    stack: Stack,
) -> None:
    """With ``orders.commands`` split unlike the order table, a command would meet its order only on
    the worker that happens to hold both partitions: the worker does not start."""
    await ensure_topics(
        KafkaSettings(bootstrap_servers=stack.bootstrap, topic_partitions=2), [stack.topics["commands"]]
    )
    code, _, err = await run_flexbridge(stack.env, "worker")  # FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS=4
    assert code == 2, err
    assert f"FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS is 4, but {stack.topics['commands']} has 2 partitions" in err
