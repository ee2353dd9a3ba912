"""An order entry the worker cannot read (corrupt, or written by a release that knows a status this
one does not), read back from the order table's changelog by a real worker: ``flexbridge order``
shows it as stored and says why, a status for the order is counted ``unreadable``, a command for it
is dead-lettered naming the entry, and the worker stays up and serves every other order."""

from __future__ import annotations

import orjson
import pytest

from schemas.codec import encode_model
from schemas.status import status_of
from streams.local.stack import metric_total
from streams.runtime.worker import order_changelog_topic
from tests.conftest import Stack
from tests.flows import order_codes, ready
from tests.support import produce, read_all, run_flexbridge, unique, wait_for

pytestmark = pytest.mark.integration


async def test_an_unreadable_entry_is_shown_skipped_and_its_command_dead_lettered(stack: Stack) -> None:
    order, other = unique("ORD-UNREAD"), unique("ORD-FINE")
    first = stack.worker()
    await ready(first)  # makes the order table's changelog topic
    first.process.stop()
    stored = {"orderId": order, "status": "TELEPORTED", "history": []}  # a status of another release
    changelog = order_changelog_topic(stack.env["FLEXBRIDGE_KAFKA__GROUP_ID"])
    await produce(stack.bootstrap, changelog, [(order, stored)])  # the orderId's partition, as Faust
    worker = stack.worker()
    await ready(worker)

    async def read_back() -> bool:  # 503 until the table is assigned, 404 until the entry is read back
        return (await order_codes(worker, [order]))[order] == 500

    await wait_for(read_back, 30, "the unreadable entry read back", every=0.3)
    code, out, err = await run_flexbridge({}, "order", order, "--url", worker.url)
    assert code == 2 and f"order {order}: stored entry unreadable (status: literal_error)" in err, err
    assert orjson.loads(out) == stored

    status = encode_model(status_of(order, "APPROVED", "webhook", unique("W")))
    await produce(stack.bootstrap, stack.topics["status"], [(order, status)])
    command = {"commandId": unique("cmd"), "type": "cancel", "orderId": order}
    await produce(stack.bootstrap, stack.topics["commands"], [(order, command)])
    fine = encode_model(status_of(other, "APPROVED", "webhook", unique("W")))
    await produce(stack.bootstrap, stack.topics["status"], [(other, fine)])

    async def dead_letter() -> dict[str, bytes] | None:
        for record in await read_all(stack.bootstrap, stack.topics["dlq"]):
            headers = {k: v for k, v in record.headers}
            if record.value is not None and orjson.loads(record.value) == command:
                return headers
        return None

    headers = await wait_for(dead_letter, 30, "the command dead-lettered")
    assert headers["dlq-reason"] == b"internal-error"
    assert headers["dlq-error"].decode().startswith(f"order {order}: stored entry unreadable (")

    async def skipped() -> bool:
        unreadable = await metric_total(worker.url, "flexbridge_order_statuses_total", verdict="unreadable")
        return unreadable == 1 and (await order_codes(worker, [other]))[other] == 200

    await wait_for(skipped, 30, "the status counted unreadable, the other order served", every=0.3)
    assert worker.process.proc.poll() is None and (await order_codes(worker, [order]))[order] == 500
