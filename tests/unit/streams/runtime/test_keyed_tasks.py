"""KeyedTasks, the command agent's runner: at most N pieces of work at once and one of a key's,
start() holding the reader back while every slot is taken or the key's previous work runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from consumers.command_input import order_of
from streams.runtime.keyed_tasks import KeyedTasks


class Gates:
    """Work that records when it begins and ends, and ends only once its gate is opened."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    def work(self, name: str) -> Callable[[], Coroutine[Any, Any, None]]:
        gate = self.gates[name] = asyncio.Event()

        async def run() -> None:
            self.log.append(f"begin {name}")
            await gate.wait()
            self.log.append(f"end {name}")

        return run

    async def settle(self) -> None:
        for _ in range(5):  # let every task that can run reach its gate
            await asyncio.sleep(0)


async def test_work_of_many_keys_runs_side_by_side_up_to_the_limit() -> None:
    gates, running = Gates(), KeyedTasks(3)
    for name in ("a", "b", "c"):
        await running.start(name, gates.work(name))
    await gates.settle()
    assert gates.log == ["begin a", "begin b", "begin c"] and len(running) == 3

    fourth = asyncio.create_task(running.start("d", gates.work("d")))
    await gates.settle()
    assert not fourth.done()  # every slot is taken: the reader waits
    gates.gates["b"].set()
    await fourth
    await gates.settle()
    assert gates.log[-2:] == ["end b", "begin d"]
    for gate in gates.gates.values():
        gate.set()
    await gates.settle()
    assert len(running) == 0


async def test_one_keys_work_runs_one_at_a_time_and_the_caller_waits_for_it() -> None:
    """Nothing of a key queues behind its work in progress: start() returns once the work has started."""
    gates, running = Gates(), KeyedTasks(8)
    await running.start("ORD-1", gates.work("first"))
    second = asyncio.create_task(running.start("ORD-1", gates.work("second")))
    await gates.settle()
    assert gates.log == ["begin first"] and not second.done()  # the caller waits, a slot still free
    gates.gates["first"].set()
    await second
    await running.start("ORD-2", gates.work("other"))
    await gates.settle()
    assert gates.log == ["begin first", "end first", "begin second", "begin other"]
    assert len(running) == 2


async def test_stop_cancels_the_work_in_progress() -> None:
    gates, running = Gates(), KeyedTasks(4)
    await running.start("ORD-1", gates.work("first"))
    await running.start("ORD-2", gates.work("second"))
    await gates.settle()
    await running.stop()
    await gates.settle()
    assert gates.log == ["begin first", "begin second"] and len(running) == 0


def test_a_commands_key_is_its_order_as_its_answer_names_it() -> None:
    assert order_of(b'{"commandId": "c", "type": "cancel", "orderId": "ORD-1"}') == "ORD-1"
    assert order_of(b'{"commandId": "c", "type": "teleport", "orderId": "ORD-1"}') == "ORD-1"
    assert order_of(b'{"commandId": "c", "type": "cancel"}') is None
    assert order_of(b"not json") is None and order_of(None) is None
