"""``flexbridge dlq show`` of a position the DLQ does not have: one line and exit 2."""

from __future__ import annotations

import pytest

from core.settings import KafkaSettings
from streams.kafka.topics import ensure_topics
from streams.local.broker import EmbeddedBroker
from tests.support import run_flexbridge, unique

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
