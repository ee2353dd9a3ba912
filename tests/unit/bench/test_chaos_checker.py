"""Unit tests of the fault run's life-cycle invariants (bench/chaos_checks.py) and of how the event
checker attributes SFTP batch results (bench/checker.py), on hand-made observations."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from bench.chaos_checks import Lifecycle, batch_records_once, commands_once, statuses_in_order, webhooks_once
from bench.checker import attributed, check
from consumers.keys import event_key
from streams.local.reconciliation import Observed
from streams.local.traffic import Planned, plan


def _delivery(event: str, session: str, state: str = "delivered", ident: int = 1) -> dict[str, Any]:
    payload = {"Event": event, "OrderId": session, "ExternalOrderId": "ORD-1", "IsResent": False}
    return {"id": ident, "event": event, "state": state, "payload": payload, "attempts": []}


def test_webhooks_once_holds_when_each_delivered_key_is_published_once() -> None:
    deliveries = [_delivery("order.completed", "s1"), _delivery("order.refunded", "s1", ident=2)]
    lc = Lifecycle(deliveries=deliveries, published_webhooks=["order.completed:s1", "order.refunded:s1"])
    inv = webhooks_once(lc)
    assert inv.held, inv.examples
    assert inv.detail.startswith("2 webhooks sent, 2 republished")


def test_webhooks_once_finds_lost_duplicated_stray_and_pending_webhooks() -> None:
    deliveries = [
        _delivery("order.completed", "lost"),
        _delivery("order.completed", "twice", ident=2),
        _delivery("order.expired", "pending", state="pending", ident=3),
    ]
    published = ["order.completed:twice", "order.completed:twice", "order.cancelled:nowhere"]
    inv = webhooks_once(Lifecycle(deliveries=deliveries, published_webhooks=published))
    assert not inv.held
    assert inv.examples == [
        "delivered, never published: order.completed:lost",
        "published 2×: order.completed:twice",
        "published, never sent: order.cancelled:nowhere",
        "still being delivered: order.expired:pending",
    ]


def test_webhooks_once_keys_a_merchants_delivery_in_its_scope() -> None:
    # with merchants the receiver scopes each merchant's dedupe keys (acme/…): the same webhook of
    # two merchants is two webhooks, and one published without its scope was not this delivery;
    # the plain path's (the single-merchant settings) stay unscoped, whatever merchant it serves
    acme, bolt = _delivery("order.completed", "s1"), _delivery("order.completed", "s1", ident=2)
    acme["url"], bolt["url"] = "http://w:1/webhooks/flex/acme", "http://w:1/webhooks/flex/bolt"
    both = ["acme/order.completed:s1", "bolt/order.completed:s1"]
    assert webhooks_once(Lifecycle(deliveries=[acme, bolt], published_webhooks=both)).held
    plain = {**_delivery("order.completed", "s1"), "url": "http://w:1/webhooks/flex", "merchant": "default"}
    assert webhooks_once(Lifecycle(deliveries=[plain], published_webhooks=["order.completed:s1"])).held
    inv = webhooks_once(Lifecycle(deliveries=[acme], published_webhooks=["order.completed:s1"]))
    assert not inv.held
    assert inv.examples == [
        "delivered, never published: acme/order.completed:s1",
        "published, never sent: order.completed:s1",
    ]


def test_webhooks_once_allows_a_failed_delivery_published_at_most_once() -> None:
    # Kafka had it, the answer was lost and the attempts ran out: published once is right.
    lc = Lifecycle(deliveries=[_delivery("order.expired", "s9", state="failed")])
    assert webhooks_once(lc).held
    lc.published_webhooks = ["order.expired:s9"]
    inv = webhooks_once(lc)
    assert inv.held and "1 never delivered" in inv.detail


def _command(kind: str, order: str, expect: str, command_id: str | None = None) -> Planned:
    cid = command_id or f"cmd-{kind}-{order}"
    body = {"commandId": cid, "type": kind, "orderId": order, "amount": 100, "currency": "USD"}
    return Planned(kind, "commands", order, orjson.dumps(body), cid, expect)


def _answer(command: Planned, status: str) -> dict[str, Any]:
    return {"orderId": command.key, "eventId": command.event_id, "status": status, "source": "command"}


def _refund_call(session: str, *, replayed: bool = False, status: int = 200) -> dict[str, Any]:
    return {"path": f"/v1/orders/{session}/refund", "status": status, "replayed": replayed, "fault": None}


ORDERS = [{"orderSessionKey": "s1", "orderId": "ORD-1"}]


def test_commands_once_accepts_a_command_sent_twice_whose_repeat_is_a_replay() -> None:
    refund = _command("refund", "ORD-1", "REFUNDED")
    too_much = _command("refund", "ORD-1", "REJECTED", "cmd-too-much")
    journal = [_refund_call("s1"), _refund_call("s1", replayed=True), _refund_call("s1", status=400)]
    statuses = [_answer(refund, "REFUNDED"), _answer(refund, "REFUNDED"), _answer(too_much, "REJECTED")]
    lc = Lifecycle(commands=[refund, refund, too_much], orders=ORDERS)
    inv = commands_once(lc, Observed(journal, statuses, []))
    assert inv.held, inv.examples
    assert inv.detail == "3/3 commands answered as expected; 1 refund/capture/cancel effects"


def test_commands_once_finds_a_refund_applied_twice_and_a_command_answered_two_ways() -> None:
    refund = _command("refund", "ORD-1", "REFUNDED")
    journal = [_refund_call("s1"), _refund_call("s1")]  # the second is not a replay: refunded twice
    statuses = [_answer(refund, "FAILED"), _answer(refund, "REFUNDED")]
    inv = commands_once(Lifecycle(commands=[refund], orders=ORDERS), Observed(journal, statuses, []))
    assert not inv.held
    assert "refund of ORD-1 applied 2×" in inv.examples
    assert f"{refund.event_id}: ['FAILED', 'REFUNDED']" in inv.examples


def test_commands_once_finds_a_command_never_answered() -> None:
    cancel = _command("cancel", "ORD-1", "CANCELLED")
    inv = commands_once(Lifecycle(commands=[cancel], orders=ORDERS), Observed([], [], []))
    assert not inv.held and inv.detail.startswith("0/1 commands")


def _mit() -> Planned:
    return next(p for p in plan(40, seed=5) if p.kind == "mit-rebill")


def _order(order_id: str, *actions: str) -> dict[str, Any]:
    return {"orderId": order_id, "history": [{"action": a} for a in ("evaluate", *actions)]}


def test_batch_records_once_counts_a_re_uploaded_file_as_answered_from_its_keys() -> None:
    mit = _mit()
    batches = [{"kind": "evaluate", "accepted": 1}, {"kind": "evaluate", "accepted": 1}]
    inv = batch_records_once([mit], Lifecycle(batches=batches, orders=[_order(mit.key)]), [])
    assert inv.held, inv.examples
    assert (
        inv.detail == "2 files, 2 records accepted, 1 orders (1 re-submitted records answered from their key)"
    )


def test_batch_records_once_finds_a_record_submitted_twice() -> None:
    mit = _mit()
    evaluate = {"path": "/v1/evaluate", "body": {"orderId": mit.key}}
    for orders, journal in (
        ([_order(mit.key), _order(mit.key)], []),  # two orders
        ([_order(mit.key, "evaluate-retry")], []),  # submitted again under another key
        ([_order(mit.key)], [evaluate]),  # also sent to the API
    ):
        assert not batch_records_once([mit], Lifecycle(orders=orders), journal).held


def test_batch_records_once_leaves_out_the_mit_of_a_merchant_sending_it_to_the_api() -> None:
    mit = replace(_mit(), merchant="bolt")
    evaluate = {"path": "/v1/evaluate", "body": {"orderId": mit.key}}
    lc = Lifecycle(orders=[_order(mit.key)])
    assert not batch_records_once([mit], lc, [evaluate]).held  # bolt sends MIT by SFTP
    assert batch_records_once([mit], lc, [evaluate], mit_by_api={"bolt"}).held


def _evaluated(p: Planned, mid: str) -> dict[str, Any]:
    """Flex's journal entry of ``p``'s /evaluate call, made under merchant ``mid``."""
    body = {"orderId": p.key}
    return {
        "path": "/v1/evaluate",
        "status": 200,
        "mid": mid,
        "body": body,
        "idempotencyKey": event_key(p.event_id or ""),
    }


def test_merchants_apart_holds_only_when_each_event_reached_flex_under_its_own_merchant() -> None:
    merchants = [("acme", "mid-a"), ("bolt", "mid-b")]
    planned = [p for p in plan(60, seed=3, merchants=merchants) if p.kind in ("cit-approved", "approval")]
    cit = next(p for p in planned if p.kind == "cit-approved")
    approval = next(p for p in planned if p.kind == "approval" and p.merchant != cit.merchant)
    planned = [cit, approval]
    other = {"mid-a": "mid-b", "mid-b": "mid-a"}
    status = {"orderId": cit.key, "eventId": cit.event_id, "status": "APPROVED", "source": "evaluate"}
    transmit = {"path": "/v1/transmit", "status": 200, "body": {"orderId": approval.key}}

    def seen(evaluate_mid: str | None, transmit_mid: str | None) -> Observed:
        journal = [_evaluated(cit, evaluate_mid), {**transmit, "mid": transmit_mid}]
        return Observed(journal, [status], [])

    name = "each merchant's events reached their outcomes under that merchant at Flex"
    right = {i.name: i for i in check(planned, seen(cit.mid, approval.mid), [])}
    assert right[name].held, right[name].examples
    # the decline was evaluated under the other merchant's token: its outcome is there, not its merchant
    wrong_evaluate = {i.name: i for i in check(planned, seen(other[str(cit.mid)], approval.mid), [])}
    assert wrong_evaluate["every event reached exactly one final outcome"].held
    assert not wrong_evaluate[name].held
    assert wrong_evaluate[name].examples == [
        f"{cit.key} ({cit.merchant}): /v1/evaluate under mid {other[str(cit.mid)]}"
    ]
    # the approval was transmitted under the other merchant's token: not its merchant's transmit
    wrong_transmit = {i.name: i for i in check(planned, seen(cit.mid, other[str(approval.mid)]), [])}
    assert not wrong_transmit[name].held
    assert wrong_transmit[name].examples[0] == f"{approval.merchant}: 0/1 accounted"
    # without merchants there is no such invariant
    alone = [replace(p, merchant="", mid=None) for p in planned]
    assert name not in {i.name for i in check(alone, seen(None, None), [])}


def test_batch_results_are_attributed_to_their_event_and_pending_is_not_an_outcome() -> None:
    mit = _mit()
    assert mit.event_id is not None
    pending = {"orderId": mit.key, "eventId": mit.event_id, "status": "PENDING", "source": "batch"}
    result = {
        "orderId": mit.key,
        "eventId": "batch:evaluate_x.json#1",  # published by a worker that did not upload the file
        "status": "SUBMITTED",
        "source": "batch",
        "detail": {"idempotencyKey": event_key(mit.event_id)},
    }
    assert attributed([mit], [pending]) == [pending]  # no answer yet: PENDING stays (and is wrong)
    assert attributed([mit], [pending, result, pending]) == [{**result, "eventId": mit.event_id}]
    held = [i.held for i in check([mit], Observed([], [pending, result], []), kills=[])]
    assert held == [True, True, True]
    assert not check([mit], Observed([], [pending], []), kills=[])[0].held


def _status(order: str, status: str, source: str, event: str) -> dict[str, Any]:
    return {"orderId": order, "status": status, "source": source, "eventId": event}


def test_statuses_in_order_finds_a_batch_submitted_after_the_webhook_outcome() -> None:
    in_order = [
        _status("ORD-1", "PENDING", "batch", "e1"),
        _status("ORD-1", "SUBMITTED", "batch", "e1"),
        _status("ORD-1", "APPROVED", "webhook", "order.completed:s1"),
    ]
    assert statuses_in_order(Observed([], in_order, [])).held
    late = [in_order[0], in_order[2], in_order[1]]
    inv = statuses_in_order(Observed([], late, []))
    assert not inv.held
    assert inv.examples == ["ORD-1: illegal transition APPROVED → SUBMITTED (source batch); not applied"]


def test_statuses_in_order_counts_a_late_answer_marked_so_apart() -> None:
    """Flex's answer published after the order's webhook moved its Flex order on: marked
    ``detail.late`` it is counted, unmarked it is out of order."""
    webhook = _status("ORD-1", "APPROVED", "webhook", "order.completed:s1") | {"orderSessionKey": "s1"}
    answer = _status("ORD-1", "CAPTUREREQUIRED", "evaluate", "e1") | {"orderSessionKey": "s1"}
    marked = answer | {"detail": {"late": True}}
    inv = statuses_in_order(Observed([], [webhook, marked], []))
    assert inv.held and inv.detail == "1 orders, 0 statuses out of order, 1 late answers marked"
    assert not statuses_in_order(Observed([], [webhook, answer], [])).held


def _transmit(order: str, at: str, status: int = 200) -> dict[str, Any]:
    return {"path": "/v1/transmit", "at": at, "status": status, "fault": None, "body": {"orderId": order}}


def test_a_transmit_repeat_after_a_kill_is_explained_also_when_flex_stamped_the_call_after_the_kill() -> None:
    first, again = "2026-12-02T09:40:00.294Z", "2026-12-02T09:40:19.850Z"

    def held(kills: list[float]) -> bool:
        journal = [_transmit("ORD-1", first), _transmit("ORD-1", again)]
        return check([], Observed(journal, [], []), kills)[2].held

    at = datetime.fromisoformat(first.replace("Z", "+00:00")).timestamp()
    assert held([at - 0.03])  # the worker died with its call in flight, 30 ms before Flex stamped it
    assert held([at + 4.0])  # the worker died before its ledger entry was written
    assert not held([])  # no fault at all
    assert not held([at - 5.0])  # a kill long before the call: nothing was in flight then
    assert not held([at + 10.0])  # a kill long after: the ledger entry was written by then
