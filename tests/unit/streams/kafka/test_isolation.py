"""Every consumer that reads what producers outside flexbridge wrote (the pipeline's and the batch
consumer's payment events, Faust's commands) reads ``read_committed`` unless
``FLEXBRIDGE_KAFKA__ISOLATION_LEVEL`` says otherwise: a record of a producer transaction that was
aborted is never handed out, so no payment effect follows from it.

The embedded broker does not report aborted transactions in its fetch answers (a librdkafka
transactional producer's aborted record reaches a read_committed aiokafka consumer there), so the
skipping itself is Kafka's and aiokafka's; what is checked here is that every consumer asks for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.settings import KafkaSettings, Settings
from streams.kafka.clients import make_consumer
from streams.runtime.services import BridgeRuntime
from streams.runtime.worker import build_app


@pytest.mark.parametrize("level", [None, "read_uncommitted"])
async def test_flexbridges_consumers_and_fausts_read_as_configured(level: str | None, tmp_path: Path) -> None:
    kafka = {} if level is None else {"isolation_level": level}
    settings = Settings.model_validate({"kafka": kafka})
    faust = build_app(settings, BridgeRuntime(settings), str(tmp_path)).consumer._thread
    try:
        consumers = [
            make_consumer(settings.kafka, group_id="g"),  # the pipeline's and the batch consumer's
            make_consumer(settings.kafka, reads_to_end=True),  # a reader of flexbridge's own topics
            faust._create_consumer(asyncio.get_running_loop()),  # Faust's (commands, order statuses)
        ]
        assert [c._isolation_level for c in consumers] == [level or "read_committed"] * 3
        await asyncio.gather(*(c.stop() for c in consumers))
    finally:
        faust.thread_loop.close()  # the loop Faust made for its consumer's thread, never started


def test_an_unknown_isolation_level_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="isolation_level"):
        KafkaSettings(isolation_level="read_everything")  # type: ignore[arg-type]
