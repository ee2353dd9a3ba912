"""The evaluate benchmark's Kafka floor: a bare relay with the worker's Kafka clients and nothing else.

It reads declines in a consumer group and, for each record, produces it to a status topic and then to
a ledger topic, each awaited in turn, as the worker produces a decline's status and then its ledger
entry; no decoding, no Flex call, no Faust. The benchmark drives it as it drives the worker (the
same declines at the same rate, the same reader of the status topic): its end-to-end times are what
the two Kafka hops alone cost on this broker, these cores and at this rate.

``python -m bench.relay --source T --sink T --ledger T`` (prints ``ready`` once its partitions are
assigned); the Kafka settings are the worker's (``FLEXBRIDGE_KAFKA__*``, from the environment).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from aiokafka import ConsumerRecord

from core.settings import Settings
from streams.kafka.clients import make_consumer, make_producer
from streams.kafka.topics import ensure_topics
from streams.runtime.collector import settle_gc

__all__ = ["relay"]


async def relay(settings: Settings, source: str, sink: str, ledger: str) -> None:
    """Until cancelled: every record of ``source`` to ``sink``, then to ``ledger``."""
    k = settings.kafka
    await ensure_topics(k, [source, sink, ledger])
    producer = make_producer(k)
    consumer = make_consumer(
        k, group_id=f"{k.group_id}-relay-{source}", max_poll_records=settings.pipeline.fetch_max_records
    )
    await producer.start()
    await consumer.start()
    consumer.subscribe([source])
    in_flight: set[asyncio.Task[None]] = set()

    async def forward(record: ConsumerRecord[bytes, bytes]) -> None:
        await producer.send_and_wait(sink, record.value, record.key)
        await producer.send_and_wait(ledger, record.value, record.key)

    try:
        ready = False
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            if not ready and consumer.assignment():
                ready = True
                settle_gc()  # as a started worker does
                print("ready", flush=True)
            for records in batches.values():
                for record in records:
                    task = asyncio.create_task(forward(record))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
    finally:
        await consumer.stop()
        await producer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay")
    for name in ("--source", "--sink", "--ledger"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(relay(Settings(), args.source, args.sink, args.ledger))
    return 0


if __name__ == "__main__":
    sys.exit(main())
