"""Order reconciliation end to end: the sandbox sends no webhooks at all (it runs without a webhook
URL), and every MIT and CIT order still reaches its final state, by ``source: "reconcile"`` statuses
the worker publishes after asking Flex; ``flexbridge reconcile`` lists and looks up the same orders."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from consumers.flex.client import FlexClient
from core.settings import FlexSettings
from sandbox.samples import evaluate_body
from schemas.codec import encode_model
from schemas.status import status_of
from streams.local.broker import EmbeddedBroker
from streams.local.traffic import make_event
from tests.conftest import Stack, sftp_stack
from tests.flows import ready
from tests.support import produce, read_all, run_flexbridge, unique, values, wait_for

pytestmark = pytest.mark.integration

QUICK = {  # ask Flex about an order after 1 s without news, every half second
    "FLEXBRIDGE_RECONCILE__AFTER_SECONDS": "1",
    "FLEXBRIDGE_RECONCILE__INTERVAL_SECONDS": "0.5",
    "FLEXBRIDGE_RECONCILE__BACKOFF_MAX_SECONDS": "1",
    "FLEXBRIDGE_RECONCILE__MAX_PER_SECOND": "50",
}


@pytest.fixture
def quiet_stack(broker: EmbeddedBroker, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """A stack whose sandbox has no webhook URL (so it sends none) and an SFTP server."""
    with sftp_stack(broker, log_dir, tmp_path / "sandbox-state", "--sftp-settle", "1") as stack:
        stack.env.update(QUICK)
        stack.env["FLEXBRIDGE_BATCH__RESULT_TIMEOUT_SECONDS"] = "3"
        yield stack


async def statuses(stack: Stack) -> list[dict[str, Any]]:
    return values(await read_all(stack.bootstrap, stack.topics["status"]))


async def final_by_reconcile(
    stack: Stack, expected: dict[str, str], timeout: float = 60
) -> list[dict[str, Any]]:
    """Wait until every order of ``expected`` has its final status from a reconcile lookup."""

    async def done() -> list[dict[str, Any]] | None:
        found = await statuses(stack)
        got = {s["orderId"]: s["status"] for s in found if s["source"] == "reconcile"}
        return found if all(got.get(o) == want for o, want in expected.items()) else None

    return await wait_for(done, timeout, f"reconcile statuses {expected}", every=0.5)


def finalise(stack: Stack, key: str, status: str) -> None:
    """Move a Flex order to its final state, as Flex would later (the sandbox's inspection API)."""
    stack.sandbox.call("POST", f"/_sandbox/orders/{key}/status", {"status": status})


async def test_without_webhooks_api_mit_and_cit_orders_reach_their_final_state(quiet_stack: Stack) -> None:
    worker = quiet_stack.worker(FLEXBRIDGE_ROUTING__MIT="api")
    await ready(worker)
    rng = random.Random(11)
    kinds = {"M-1": "mit-rebill", "M-2": "mit-rebill", "C-1": "cit-challenge", "C-2": "cit-capture"}
    events: list[tuple[str | None, Any]] = [(o, make_event(k, o, rng)) for o, k in kinds.items()]
    await produce(quiet_stack.bootstrap, quiet_stack.topics["declined"], events)

    async def evaluated() -> dict[str, str] | None:
        keys = {
            s["orderId"]: s["orderSessionKey"]
            for s in await statuses(quiet_stack)
            if s["source"] == "evaluate"
        }
        return keys if len(keys) == len(kinds) else None

    keys = await wait_for(evaluated, 60, "an /evaluate answer per order", every=0.3)
    expected = {"M-1": "APPROVED", "M-2": "EXPIRED", "C-1": "APPROVED", "C-2": "CANCELLED"}
    for order_id, status in expected.items():
        finalise(quiet_stack, keys[order_id], status)
    found = await final_by_reconcile(quiet_stack, expected)
    reconciled = [s for s in found if s["source"] == "reconcile"]
    assert len(reconciled) == len(expected)  # an unchanged answer publishes nothing
    assert all(s["orderSessionKey"] == keys[s["orderId"]] for s in reconciled)
    assert quiet_stack.sandbox.call("GET", "/_sandbox/webhooks")["webhooks"] == []
    lookups = [c for c in quiet_stack.sandbox.journal() if c["path"].startswith("/v1/orders/")]
    assert len(lookups) >= len(expected) and all(c["method"] == "GET" for c in lookups)
    await folded(worker.url, expected)
    async with httpx.AsyncClient(timeout=5) as http:
        metrics = (await http.get(worker.url + "/metrics")).text
    assert 'flexbridge_orders_open{age="0-5m",state="SUBMITTED"}' in metrics
    assert 'flexbridge_reconcile_lookups_total{result="changed"}' in metrics


async def folded(url: str, expected: dict[str, str]) -> None:
    """Each order's state in the worker's table is its reconciled status."""

    async def check() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            answers = [(await http.get(f"{url}/orders/{o}")) for o in expected]
        return all(
            a.status_code == 200 and a.json()["status"] == expected[a.json()["orderId"]] for a in answers
        )

    await wait_for(check, 30, "the order table to fold the reconcile statuses", every=0.3)


async def test_without_webhooks_batch_mit_orders_reach_their_final_state(quiet_stack: Stack) -> None:
    """MIT over SFTP: answered records are looked up by orderSessionKey; a file whose response never
    came (FAILED no-batch-result) is looked up by the merchant orderId."""
    quiet_stack.sandbox.call("POST", "/_sandbox/sftp/responses", {"withhold": 1})
    worker = quiet_stack.worker(FLEXBRIDGE_ROUTING__MIT="sftp")
    await ready(worker)
    rng = random.Random(3)
    unanswered = [f"U-{i}" for i in range(3)]
    await produce(
        quiet_stack.bootstrap,
        quiet_stack.topics["declined"],
        [("U", make_event("mit-rebill", o, rng)) for o in unanswered],  # one partition: one file
    )

    async def failed() -> set[str] | None:
        """The unanswered orders FAILED no-batch-result, once each has its batch verdict (the records
        normally share the withheld file; under load one may land in a later, answered file)."""
        found = [s for s in await statuses(quiet_stack) if s["source"] == "batch"]
        verdict = {s["orderId"] for s in found if s["status"] in ("SUBMITTED", "FAILED")}
        lost = {s["orderId"] for s in found if s.get("reason") == "no-batch-result"}
        return lost if lost and verdict >= set(unanswered) else None

    lost = await wait_for(failed, 60, "FAILED no-batch-result for the withheld file", every=0.3)
    answered = [f"A-{i}" for i in range(3)]
    await produce(
        quiet_stack.bootstrap,
        quiet_stack.topics["declined"],
        [(o, make_event("mit-rebill", o, rng)) for o in answered],
    )
    orders = {o["orderId"]: o for o in quiet_stack.sandbox.orders()}
    expected = await wait_for(
        lambda: settled(quiet_stack, [*unanswered, *answered]), 60, "the sandbox to settle", every=0.3
    )
    found = await final_by_reconcile(quiet_stack, expected)
    by_order = {s["orderId"]: s for s in found if s["source"] == "reconcile"}
    assert {by_order[o]["detail"]["lookup"] for o in lost} == {"orderId"}
    assert {by_order[o]["detail"]["lookup"] for o in answered} == {"orderSessionKey"}
    assert all(by_order[o]["orderSessionKey"] == orders[o]["orderSessionKey"] for o in lost)
    assert quiet_stack.sandbox.call("GET", "/_sandbox/webhooks")["webhooks"] == []


async def settled(stack: Stack, order_ids: list[str]) -> dict[str, str] | None:
    """Each order's final state at the sandbox, once every one has one."""
    orders = {o["orderId"]: o["status"] for o in await asyncio.to_thread(stack.sandbox.orders)}
    done = {o: orders[o] for o in order_ids if orders.get(o) in ("APPROVED", "EXPIRED")}
    return done if len(done) == len(order_ids) else None


async def test_flexbridge_reconcile_lists_and_executes(stack: Stack) -> None:
    """No worker: the command reads orders.status itself, asks Flex, and publishes what changed."""
    env = {**stack.env, **QUICK}
    flex = FlexClient(
        FlexSettings(
            base_url=stack.sandbox.url,
            app_key=env["FLEXBRIDGE_FLEX__APP_KEY"],
            app_secret=env["FLEXBRIDGE_FLEX__APP_SECRET"],
        )
    )
    async with flex:
        answers = {
            o: await flex.evaluate(
                evaluate_body(order_id=o, is_mit=True, expiry_date_utc="2099-01-01T00:00:00Z")
            )
            for o in ("R-1", "R-2")
        }
    submitted = [
        (o, encode_model(status_of(o, "SUBMITTED", "evaluate", unique("e"), session_key=a.order_session_key)))
        for o, a in answers.items()
    ]
    await produce(stack.bootstrap, stack.topics["status"], submitted)  # type: ignore[arg-type]
    code, out, err = await run_flexbridge(env, "reconcile", "--json")
    assert code == 0, err
    listed = orjson.loads(out)["orders"]
    assert [(r["orderId"], r["status"], r["age"]) for r in sorted(listed, key=lambda r: r["orderId"])] == [
        ("R-1", "SUBMITTED", "0-5m"),
        ("R-2", "SUBMITTED", "0-5m"),
    ]
    code, out, err = await run_flexbridge(env, "reconcile", "--merchant", "acme")
    assert (code, out) == (2, "") and "--merchant needs the merchants file" in err, err
    finalise(stack, answers["R-1"].order_session_key or "", "APPROVED")
    code, out, err = await run_flexbridge(env, "reconcile", "--execute", "--json")
    assert code == 0, err
    lookups = {x["orderId"]: x for x in orjson.loads(out)["lookups"]}
    assert (lookups["R-1"]["result"], lookups["R-2"]["result"]) == ("changed", "unchanged")
    reconciled = [s for s in await statuses(stack) if s["source"] == "reconcile"]
    assert [(s["orderId"], s["status"]) for s in reconciled] == [("R-1", "APPROVED")]
    code, out, _ = await run_flexbridge(env, "reconcile")
    assert code == 0 and "1 non-final orders" in out and "R-2" in out and "R-1" not in out
    assert ["order", "merchant", "status", "age", "flex", "order"] in [
        line.split() for line in out.splitlines()
    ]


async def test_flexbridge_reconcile_names_a_status_topic_that_does_not_exist(stack: Stack) -> None:
    """Not "0 non-final orders": the operator is pointed at the wrong topic or cluster."""
    env = {**stack.env, "FLEXBRIDGE_TOPICS__STATUS": unique("no.such.status")}
    code, out, err = await run_flexbridge(env, "reconcile")
    assert code == 2 and not out, (out, err)
    assert "does not exist" in err and "FLEXBRIDGE_TOPICS__STATUS" in err, err


async def test_flexbridge_reconcile_execute_stops_before_any_lookup_without_a_flex_token(
    stack: Stack,
) -> None:
    """Refused credentials: one failure up front, not each order waiting out the Flex deadline."""
    topic = unique("status")
    env = {**stack.env, "FLEXBRIDGE_TOPICS__STATUS": topic, "FLEXBRIDGE_FLEX__APP_SECRET": "wrong"}
    submitted = encode_model(status_of("R-9", "SUBMITTED", "evaluate", unique("e"), session_key="s-9"))
    await produce(stack.bootstrap, topic, [("R-9", submitted)])  # type: ignore[list-item]
    code, out, err = await run_flexbridge(env, "reconcile", "--execute")
    assert code == 2, (out, err)
    assert "no Flex token for merchant 'default'" in err and "nothing was looked up" in err, err
    # the listing and the token fetch it stopped at, as they came; no lookup, no summary
    assert out.endswith("getting a Flex token for merchant default …\n") and "looked up at Flex:" not in out
