"""The command agent and an order entry written by another release, or unreadable: an entry whose
history has a ``verdict`` or ``source`` this release does not know is read as usual (the command
runs, the entry is kept as given); one that cannot be read at all dead-letters the command
``internal-error``, and no exception leaves the agent (a Faust agent that raises crashes). The
agent with a dict for its table, Flex and Kafka faked."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from consumers.order_machine import fold_json
from core.merchants import Merchant
from schemas.status import status_of
from streams.runtime.commands import CommandAgent
from streams.runtime.metrics import NO_MERCHANT, Metrics
from streams.runtime.orders import OrderBook
from tests.unit.streams.runtime.command_support import command_agent

ORDER = "ORD-STORED"


class _Flex:
    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def for_merchant(self, merchant: Merchant) -> _Flex:
        return self

    async def cancel(self, session: str, key: str) -> None:
        self.cancelled.append(session)


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, bytes]]] = []

    async def send_and_wait(
        self, topic: str, value: bytes | None, key: bytes | None = None, headers: Any = (), **_: Any
    ) -> None:
        self.sent.append((topic, value, dict(headers or ())))


def _agent(table: dict[str, bytes]) -> tuple[CommandAgent, OrderBook, _Flex, _Producer, Metrics]:
    book = OrderBook(table, Metrics())
    flex, producer, metrics = _Flex(), _Producer(), Metrics()
    return command_agent(book, flex, producer, metrics), book, flex, producer, metrics


def _cancel() -> SimpleNamespace:
    command = {"commandId": "C-1", "type": "cancel", "orderId": ORDER}
    message = SimpleNamespace(topic="orders.commands", partition=0, offset=7, key=ORDER.encode(), headers=[])
    message.value = orjson.dumps(command)
    return message


def _order(**entry: str) -> dict[str, Any]:
    """A CAPTUREREQUIRED order as stored, with one more history entry: an earlier status, changed by
    ``entry`` (a value another release wrote)."""
    stored = fold_json(None, status_of(ORDER, "CHALLENGE", "evaluate", "E0", session_key="S-1"))[0]
    assert stored is not None
    stored = fold_json(stored, status_of(ORDER, "CAPTUREREQUIRED", "webhook", "W1", session_key="S-1"))[0]
    assert stored is not None
    doc: dict[str, Any] = orjson.loads(stored)
    doc["history"][0].update(entry)
    return doc


@pytest.mark.parametrize("entry", [{"verdict": "someday"}, {"source": "oracle"}])
async def test_a_history_entry_another_release_wrote_is_read_and_the_command_runs(
    entry: dict[str, str],
) -> None:
    table = {ORDER: orjson.dumps(_order(**entry))}
    agent, book, flex, producer, _ = _agent(table)

    await agent.handle(_cancel())

    assert flex.cancelled == ["S-1"]
    assert [(topic, orjson.loads(value or b"")["status"]) for topic, value, _ in producer.sent] == [
        ("orders.status", "CANCELLED")
    ]
    stored = orjson.loads(table[ORDER])  # the command's record written back, the entry as it was
    assert stored["status"] == "CANCELLED" and "C-1" in stored["commands"]
    assert [h["eventId"] for h in stored["history"]] == ["E0", "W1", "C-1"]
    assert {k: stored["history"][0][k] for k in entry} == entry
    assert book.in_use == set()


@pytest.mark.parametrize(
    "stored",
    [
        b'{"orderId": "ORD-STORED", "history": [',  # not JSON (cut short)
        orjson.dumps({**_order(), "capturedAmount": "a lot"}),  # a field of the wrong type
        orjson.dumps({**_order(), "history": [{"verdict": 3}]}),  # an entry of the wrong shape
        orjson.dumps({**_order(), "status": "TELEPORTED"}),  # a status it acts on, unknown to it
    ],
    ids=["not-json", "wrong-type", "wrong-entry", "unknown-status"],
)
async def test_an_order_entry_it_cannot_read_dead_letters_the_command(stored: bytes) -> None:
    table = {ORDER: stored}
    agent, book, flex, producer, metrics = _agent(table)

    await agent.handle(_cancel())  # no exception out of the agent

    [(topic, value, headers)] = producer.sent  # no answer on orders.status: the dead letter only
    assert topic == "payments.dlq" and value == _cancel().value
    assert headers["dlq-reason"] == b"internal-error"
    error = headers["dlq-error"].decode()  # names the entry and what is wrong, never a value
    assert error.startswith(f"order {ORDER}: stored entry unreadable ("), error
    assert "a lot" not in error and "TELEPORTED" not in error
    assert headers["dlq-source-topic"] == b"orders.commands" and headers["dlq-source-offset"] == b"7"
    assert flex.cancelled == [] and table == {ORDER: stored} and book.in_use == set()
    sample = metrics.registry.get_sample_value
    assert sample("flexbridge_events_in_total", {"topic": "orders.commands", "merchant": NO_MERCHANT}) == 1
    out = {"topic": "orders.commands", "outcome": "dead-lettered", "merchant": NO_MERCHANT}
    assert sample("flexbridge_events_out_total", out) == 1
    assert sample("flexbridge_dlq_total", {"reason": "internal-error", "merchant": NO_MERCHANT}) == 1


async def test_fields_another_release_added_are_kept_when_a_command_writes_the_order_back() -> None:
    """A newer release's fields (the order's, a history entry's, a finished command's) survive this
    release's command writing the entry back: a rollback during a rolling deploy loses nothing."""
    doc = _order(origin="newer")  # a history entry's field this release does not know
    finished = {"type": "cancel", "status": "REJECTED", "answer": {}, "by": "x"}
    doc |= {"riskScore": 7, "commands": {"C-0": finished}}
    table = {ORDER: orjson.dumps(doc)}
    agent, _, flex, _, _ = _agent(table)

    await agent.handle(_cancel())

    stored = orjson.loads(table[ORDER])
    assert flex.cancelled == ["S-1"] and stored["status"] == "CANCELLED"
    assert stored["riskScore"] == 7 and stored["history"][0]["origin"] == "newer"
    assert stored["commands"]["C-0"]["by"] == "x" and "C-1" in stored["commands"]
