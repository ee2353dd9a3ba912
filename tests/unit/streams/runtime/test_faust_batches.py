"""The order-state agent's events a batch at a time (streams/runtime/faust_batches.py): every event
queued, up to the bound; an event of an earlier generation, or read while the flow is stopped, acked
and not handed out; the rest tracked as unacked until the caller asks for the next batch. Faust's
stream, app and consumer are stand-ins here (a pure unit test)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams.runtime.faust_batches import event_batches

TOPIC = "orders.status"


class _Message:
    def __init__(self, offset: int, generation: int) -> None:
        self.topic, self.offset, self.generation_id, self.tracked = TOPIC, offset, generation, False


class _Event:
    def __init__(self, offset: int, generation: int = 2) -> None:
        self.message = _Message(offset, generation)
        self.acked = False

    def ack(self) -> bool:
        self.acked = True
        return True


def _stream(
    events: list[_Event], *, flowing: list[bool] | None = None, queue: asyncio.Queue[_Event] | None = None
) -> Any:
    """A stream with ``events`` queued (in ``queue``, or a plain one); ``flowing``: whether the flow
    is on at each batch taken."""
    queue = asyncio.Queue() if queue is None else queue
    for event in events:
        queue.put_nowait(event)

    async def maybe_start() -> None:
        return None

    app = SimpleNamespace(
        consumer=SimpleNamespace(unacked=set()),
        topics=SimpleNamespace(acking_topics={TOPIC}),
        consumer_generation_id=2,
        flow_control=SimpleNamespace(is_active=lambda: flowing.pop(0) if flowing else True),
    )
    channel = SimpleNamespace(queue=queue)
    return SimpleNamespace(maybe_start=maybe_start, app=app, channel=channel, should_stop=False)


async def test_each_batch_is_every_event_queued_up_to_the_bound() -> None:
    events = [_Event(offset) for offset in range(5)]
    batches = event_batches(_stream(events), most=3)
    assert await anext(batches) == events[:3]
    assert await anext(batches) == events[3:]


async def test_a_batch_is_unacked_and_tracked_until_the_next_is_asked_for() -> None:
    events = [_Event(0), _Event(1)]
    stream = _stream(events)
    batches = event_batches(stream, most=1)
    first = await anext(batches)
    assert first == [events[0]] and not events[0].acked
    assert stream.app.consumer.unacked == {events[0].message}  # a rebalance waits for it
    await anext(batches)
    assert events[0].acked and not events[1].acked


async def test_an_event_of_an_earlier_generation_is_acked_and_not_handed_out() -> None:
    stale, live = _Event(0, generation=1), _Event(1)
    batches = event_batches(_stream([stale, live]))
    assert await anext(batches) == [live]
    assert stale.acked and not stale.message.tracked


async def test_events_read_while_the_flow_is_stopped_are_acked_and_not_handed_out() -> None:
    events = [_Event(0), _Event(1), _Event(2)]
    batches = event_batches(_stream(events, flowing=[False, True]), most=2)
    assert await anext(batches) == [events[2]]  # the first two were taken while the flow stopped
    assert events[0].acked and events[1].acked and not events[2].acked


async def test_a_backlog_gives_the_event_loop_a_turn_between_batches() -> None:
    """A queue that is not empty hands out without suspending: a backlog must not hold the loop."""
    other_ran = asyncio.Event()

    async def other() -> None:
        other_ran.set()

    batches = event_batches(_stream([_Event(0), _Event(1)]), most=1)
    task = asyncio.ensure_future(other())
    await anext(batches)
    assert not other_ran.is_set()  # nothing suspended yet
    await anext(batches)
    assert other_ran.is_set()
    await task


async def test_a_stopping_agent_ends_the_batches_as_the_stream_ends() -> None:
    """Faust's actor throws StopAsyncIteration into the agent's queue (mode's ThrowableQueue) when
    the agent stops. The batches end; raised out of the generator it became a RuntimeError, which
    Faust logged as the order-state agent crashing at every worker's stop."""
    queue: ThrowableQueue[_Event] = ThrowableQueue(flow_control=FlowControlEvent(initially_suspended=False))
    first = _Event(0)
    queue.put_nowait(first)
    batches = event_batches(_stream([], queue=queue))
    assert await anext(batches) == [first]
    queue._throw(StopAsyncIteration())  # as faust.agents.actor does on stop
    with pytest.raises(StopAsyncIteration):  # the generator ended: no RuntimeError
        await anext(batches)
    assert first.acked  # the batch handed out was finished before the end
