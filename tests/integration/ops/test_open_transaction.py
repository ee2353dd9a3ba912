"""The operator tools' scan of an input topic while an upstream producer's transaction is open.

Read read_committed, a partition can be read only up to its last stable offset: the scan ends
there, and says that records lie past it, instead of waiting for the high watermark until the
transaction ends (forever, for a producer that hung). Read read_uncommitted, it ends at the high
watermark, the open transaction's records included.

The embedded broker shows it: a librdkafka producer's transaction begun, flushed and not committed
leaves a fetch's last stable offset at its first record and the high watermark past its last (and
ListOffsets answers 0 for that partition under read_committed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import confluent_kafka
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from core.settings import KafkaSettings, Settings
from streams.kafka.topics import ensure_topics
from streams.local.broker import EmbeddedBroker
from streams.ops.scan import Ranges, open_reader, resolve_ranges, scan
from streams.ops.selection import Selection
from tests.support import run_flexbridge, unique

pytestmark = pytest.mark.integration

SCAN_SECONDS = 30  # a scan that waits for the open transaction fails here instead of hanging
# partition 0: offsets 0-2 plain records, 3-4 the open transaction's; partition 1: 0-2 plain
COMMITTED = ["0:0", "0:1", "0:2", "1:0", "1:1", "1:2"]
OPEN = ["0:3", "0:4"]
HELD_BACK = (
    "{topic}[0] is read up to its last stable offset 3: a producer transaction still open holds back "
    "the records from there to the high watermark 5 until it ends"
)


@pytest.fixture(scope="module")
def topic(broker: EmbeddedBroker) -> Iterator[str]:
    """A topic of two partitions, three plain records in each, then in partition 0 a transaction of
    two records left open until the module's tests are done."""
    name = unique("txn")
    asyncio.run(ensure_topics(KafkaSettings(bootstrap_servers=broker.bootstrap, topic_partitions=2), [name]))
    plain = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap})
    for partition in (0, 1):
        for n in range(3):
            plain.produce(name, key=b"P", value=orjson.dumps({"n": n}), partition=partition)
    assert plain.flush(30) == 0
    with open_transaction(broker.bootstrap, name, len(OPEN)):
        yield name


@contextmanager
def open_transaction(bootstrap: str, topic: str, records: int) -> Iterator[None]:
    """``records`` records in partition 0 of ``topic`` in a producer transaction left open in the block."""
    upstream = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "transactional.id": unique("up")})
    upstream.init_transactions(30)
    upstream.begin_transaction()
    for n in range(records):
        upstream.produce(topic, key=b"T", value=orjson.dumps({"open": n}), partition=0)
    assert upstream.flush(30) == 0
    try:
        yield
    finally:
        upstream.abort_transaction(30)


async def _scan_all(reader: AIOKafkaConsumer, topic: str) -> tuple[Ranges, list[str]]:
    ranges = await resolve_ranges(reader, Selection(topic=topic, from_offset=0))
    records = [f"{r.partition}:{r.offset}" async for r in scan(reader, topic, ranges)]
    return ranges, sorted(records)


@pytest.mark.parametrize(
    ("level", "ranges", "records"),
    [
        ("read_committed", {0: (0, 3), 1: (0, 3)}, COMMITTED),
        ("read_uncommitted", {0: (0, 5), 1: (0, 3)}, sorted(COMMITTED + OPEN)),
    ],
)
async def test_a_scan_ends_where_its_isolation_level_can_read(
    broker: EmbeddedBroker,
    topic: str,
    level: Literal["read_committed", "read_uncommitted"],
    ranges: Ranges,
    records: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=broker.bootstrap, isolation_level=level))
    reader = await open_reader(settings)
    try:
        with caplog.at_level(logging.WARNING, logger="streams.ops.scan"):
            scanned = await asyncio.wait_for(_scan_all(reader, topic), SCAN_SECONDS)
    finally:
        await reader.stop()
    assert scanned == (ranges, records)
    held = [r.getMessage() for r in caplog.records if r.name == "streams.ops.scan"]
    assert held == ([HELD_BACK.format(topic=topic)] if level == "read_committed" else [])


def cli_env(broker: EmbeddedBroker) -> dict[str, str]:
    return {
        "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "false",  # the embedded broker refuses it
        "FLEXBRIDGE_TOPICS__LEDGER": unique("ledger"),  # none: nothing finished
        "FLEXBRIDGE_TOPICS__AUDIT": unique("audit"),
    }


async def replay(env: dict[str, str], *args: str) -> tuple[dict[str, Any], str]:
    """``flexbridge replay --json``: the result and what it wrote to stderr."""
    code, out, err = await run_flexbridge(env, "replay", "--json", *args, timeout=SCAN_SECONDS)
    assert code == 0, err
    result: dict[str, Any] = orjson.loads(out)
    return result, err


async def test_a_replay_plan_stops_at_the_open_transaction_and_says_so(
    broker: EmbeddedBroker, topic: str
) -> None:
    plan, err = await replay(cli_env(broker), "--topic", topic, "--from-offset", "0")
    assert [p["range"] for p in plan["partitions"]] == [[0, 3], [0, 3]]
    assert plan["totals"]["records"] == len(COMMITTED)
    assert HELD_BACK.format(topic=topic) in err


async def test_a_resume_finds_what_a_replay_wrote_behind_an_open_transaction(broker: EmbeddedBroker) -> None:
    """What a replay wrote to a target after an upstream transaction there began lies past the
    target's last stable offset: a resume reads it all the same, or it would send it again."""
    source, target = unique("src"), unique("dst")
    one_partition = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_partitions=1)
    await ensure_topics(one_partition, [source, target])
    plain = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap})
    for n in range(3):
        plain.produce(source, key=f"K{n}".encode(), value=orjson.dumps({"n": n}))
    assert plain.flush(30) == 0
    env = cli_env(broker)
    with open_transaction(broker.bootstrap, target, 2):
        window = ["--topic", source, "--from-offset", "0", "--to-topic", target, "--replay-id", "r-txn"]
        done, _ = await replay(env, *window, "--execute")
        assert done["sent"] == 3
        resumed, err = await replay(env, "--resume", "r-txn")  # a dry run: nothing left to send
        assert (resumed["alreadySent"], resumed["totals"]["toSend"]) == (3, 3), err
