"""``flexbridge dlq show``: a position the DLQ does not have is one line and exit 2; a record inside
the last batch of a partition is found."""

from __future__ import annotations

import orjson
import pytest

from core.settings import KafkaSettings
from streams.kafka.topics import ensure_topics
from streams.local.broker import EmbeddedBroker
from tests.support import produce, run_flexbridge, unique

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("position", "says"), [("99:1", "has no partition 99"), ("0:5", "has no record at 0:5")]
)
async def test_a_position_the_dlq_does_not_have_is_one_line(
    broker: EmbeddedBroker, position: str, says: str
) -> None:
    dlq = unique("dlq")
    await ensure_topics(KafkaSettings(bootstrap_servers=broker.bootstrap), [dlq])
    env = {"FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap, "FLEXBRIDGE_TOPICS__DLQ": dlq}
    code, out, err = await run_flexbridge(env, "dlq", "show", position)
    assert (code, out) == (2, ""), err
    assert err.strip() == f"flexbridge: {dlq} {says}", err


async def test_a_record_inside_the_last_batch_is_shown(broker: EmbeddedBroker) -> None:
    """Five dead letters written in one batch: the embedded broker's ListOffsets answers one past
    the batch's first record, so bounding the read by it alone found no record at 0:3."""
    dlq = unique("dlq")
    await ensure_topics(KafkaSettings(bootstrap_servers=broker.bootstrap, topic_partitions=1), [dlq])
    await produce(broker.bootstrap, dlq, [(f"k{i}", {"n": i}) for i in range(5)])
    env = {"FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap, "FLEXBRIDGE_TOPICS__DLQ": dlq}
    code, out, err = await run_flexbridge(env, "dlq", "show", "0:3")
    assert code == 0, err
    record = orjson.loads(out)
    assert (record["key"], record["value"]) == ("k3", {"n": 3})
