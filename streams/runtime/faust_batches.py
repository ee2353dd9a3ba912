"""A Faust agent's events a batch at a time: every event queued for it, up to a bound, per turn of
the event loop.

Faust's stream (``Stream._py_aiter``) hands an agent one event per turn of the event loop: it awaits
``asyncio.sleep(0)`` before each, then tracks, senses and acks it alone. The order-state agent does
little per status, so that machinery and the turn cost more than the fold (docs/benchmarks.md,
"The order-state agent folds a batch a turn"). :func:`event_batches` reads the agent's queue as the
stream does, and keeps the stream's rules for each event:

- an event of an earlier generation, or read while the flow is stopped (a rebalance), is not handed
  out but acked, so that the commit passes it, as Faust skips it;
- an event of an acking topic is tracked as unacked (Faust's rebalance waits for those) until the
  caller has finished its batch, then acked;
- between two batches the event loop gets a turn, as it does between two events of the stream: a
  queue that is not empty hands out without one, so a backlog would hold the loop until it is
  empty (docs/benchmarks.md, "The order-state agent folds a batch a turn");
- the ``StopAsyncIteration`` Faust throws into the queue when the agent stops ends the batches.

Faust's per-event sensors are not called: flexbridge counts what it folds itself
(``flexbridge_order_statuses_total``). The order-state agent folds each batch without awaiting, so
a rebalance, which waits for the unacked events, never finds one half folded. (Faust's internals:
the agent's queue, and the consumer's set of unacked messages, used as the stream uses them.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["BATCH_MOST", "event_batches"]

BATCH_MOST = 64  # events a turn: ~3 ms of folds at most, so that the event loop stays responsive


async def event_batches(stream: Any, most: int = BATCH_MOST) -> AsyncIterator[list[Any]]:
    """The events of ``stream`` (a Faust agent's), each batch every event queued then, up to ``most``;
    each acked once the caller asks for the next batch."""
    await stream.maybe_start()
    app = stream.app
    queue = stream.channel.queue
    consumer = app.consumer
    acking = app.topics.acking_topics
    while not stream.should_stop:
        try:
            taken = [await queue.get()]  # raises what was thrown into the queue, as the stream does
            while len(taken) < most and not queue.empty():
                taken.append(queue.get_nowait())
        except StopAsyncIteration:
            # thrown in when the agent stops: the batches end, as the stream does (raised out of this
            # generator, Python would turn it into a RuntimeError, an agent crash in Faust's log);
            # an event taken but not handed out stays unacked, for the partition's next reader
            return
        live = []
        generation, flowing = app.consumer_generation_id, app.flow_control.is_active()
        for event in taken:
            message = event.message
            if not flowing or message.generation_id != generation:
                event.ack()
                continue
            if message.topic in acking and not message.tracked:
                message.tracked = True
                consumer.unacked.add(message)
            live.append(event)
        try:
            if live:
                yield live
        finally:
            for event in live:
                event.ack()
        await asyncio.sleep(0)
