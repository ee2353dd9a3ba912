"""The order table's Faust table sends every write through flexbridge's changelog path
(streams/runtime/faust_table.py ``order_table``): Faust reads the record's partition from what the
send returns, the command agent waits on ``last_changelog``, and a write made while Faust's
producer is not running fails as one made after aiokafka's producer closed. A Faust app without a
broker (a pure unit test)."""

from __future__ import annotations

import asyncio
import logging

import faust
import pytest
from aiokafka.errors import ProducerClosed

from streams.runtime.faust_table import order_table


async def test_a_write_while_faust_s_producer_is_not_running_fails_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = faust.App("flexbridge-unit", broker="kafka://localhost:1", store="memory://")
    table = order_table(app, "orders", 4)
    assert table.changelog_topic.get_topic_name() == "flexbridge-unit-orders-changelog"

    sent = table.send_changelog(2, "ORD-1", b"{}")

    assert sent.message.partition == 2  # what Faust's on_key_set reads
    with caplog.at_level(logging.ERROR), pytest.raises(ProducerClosed):
        await asyncio.wait_for(table.last_changelog, 1)
    assert "the producer closed with 1 writes not sent" in caplog.text
