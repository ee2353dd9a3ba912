"""The order table with several merchants: each merchant's order of one orderId is its own entry
(``mid/orderId``), a single-merchant table keeps plain orderId keys, an entry written under the
plain key before a second merchant came is still its merchant's, and ``GET /orders/{orderId}``
answers each merchant's order, or one. The Faust table is a dict here (a pure unit test)."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.status import Status, status_of
from streams.runtime.metrics import Metrics
from streams.runtime.order_view import order_answer
from streams.runtime.orders import OrderBook

MIDS = ("mid-acme", "mid-bolt")


def book(mids: tuple[str, ...] = MIDS) -> tuple[OrderBook, dict[str, bytes]]:
    table: dict[str, bytes] = {}
    return OrderBook(table, Metrics(), mids), table


def fold(orders: OrderBook, status: Status, mid: str | None, event: str, session: str = "s") -> None:
    detail: dict[str, Any] = {} if mid is None else {"mid": mid}
    record = status_of("1001", status, "evaluate", event, session_key=session, detail=detail)
    orders.on_statuses([(b"1001", record.model_dump_json(by_alias=True).encode(), 0)])


def test_two_merchants_orders_of_one_order_id_are_two_entries() -> None:
    orders, table = book()
    fold(orders, "CAPTUREREQUIRED", "mid-acme", "e1", "s-acme")
    fold(orders, "CHALLENGE", "mid-bolt", "e2", "s-bolt")
    fold(orders, "APPROVED", "mid-acme", "e3", "s-acme")
    assert sorted(table) == ["mid-acme/1001", "mid-bolt/1001"]
    acme, bolt = orders.get("1001", "mid-acme"), orders.get("1001", "mid-bolt")
    assert acme is not None and (acme.status, acme.mid, acme.order_session_key) == (
        "APPROVED",
        "mid-acme",
        "s-acme",
    )
    assert bolt is not None and (bolt.status, bolt.mid, len(bolt.history)) == ("CHALLENGE", "mid-bolt", 1)
    assert [s.mid for s in orders.orders_of("1001")] == ["mid-acme", "mid-bolt"]
    assert orders.order_id_of("mid-bolt/1001") == "1001" and orders.order_id_of("1001") == "1001"


def test_a_single_merchant_table_keeps_plain_order_id_keys() -> None:
    for mids in ((), ("mid-acme",)):
        orders, table = book(mids)
        fold(orders, "CAPTUREREQUIRED", "mid-acme", "e1")
        fold(orders, "APPROVED", None, "e2")
        assert list(table) == ["1001"], mids
        state = orders.get("1001")
        assert state is not None and state.status == "APPROVED" and state.mid == "mid-acme"
        assert [s.status for s in orders.orders_of("1001")] == ["APPROVED"]


def test_an_entry_under_the_plain_key_is_still_its_merchants_once_keyed_by_merchant() -> None:
    single, table = book(("mid-acme",))
    fold(single, "CAPTUREREQUIRED", "mid-acme", "e1")  # written while one merchant was served
    orders = OrderBook(table, Metrics(), MIDS)  # a second merchant added
    old = orders.get("1001", "mid-acme")
    assert old is not None and old.status == "CAPTUREREQUIRED"
    assert orders.get("1001", "mid-bolt") is None
    fold(orders, "APPROVED", "mid-acme", "e2")
    now = orders.get("1001", "mid-acme")
    assert now is not None and now.status == "APPROVED" and [h.event_id for h in now.history] == ["e1", "e2"]
    assert [s.status for s in orders.orders_of("1001")] == ["APPROVED"]  # the stale plain one is not shown


def test_get_orders_answers_each_merchants_order_or_the_one_asked_for() -> None:
    orders, _ = book()
    assert order_answer(orders, "1001") == ({"error": "unknown order 1001", "orderId": "1001"}, 404)
    fold(orders, "CAPTUREREQUIRED", "mid-acme", "e1")
    body, code = order_answer(orders, "1001")
    assert code == 200 and body["mid"] == "mid-acme" and body["status"] == "CAPTUREREQUIRED"  # as before
    fold(orders, "CHALLENGE", "mid-bolt", "e2")
    body, code = order_answer(orders, "1001")
    assert code == 200 and body["orderId"] == "1001"
    assert [(o["mid"], o["status"]) for o in body["orders"]] == [
        ("mid-acme", "CAPTUREREQUIRED"),
        ("mid-bolt", "CHALLENGE"),
    ]
    body, code = order_answer(orders, "1001", "mid-bolt")
    assert code == 200 and (body["mid"], body["status"]) == ("mid-bolt", "CHALLENGE")
    assert order_answer(orders, "1001", "mid-nobody")[1] == 404


def test_a_refused_command_makes_no_order_and_is_recorded_by_an_order_that_exists() -> None:
    orders, table = book()
    for mid in (None, "mid-bolt"):  # an order nobody has; one bolt does not have
        detail = {"mid": mid} if mid else {}
        for value in ("REJECTED", "FAILED"):
            answer = status_of("1001", value, "command", f"c-{value}", reason="unknown-order", detail=detail)
            orders.on_statuses([(b"1001", answer.model_dump_json(by_alias=True).encode(), 0)])
    assert list(table) == [] and orders.orders_of("1001") == []
    fold(orders, "CAPTUREREQUIRED", "mid-acme", "e1")
    answer = status_of("1001", "REJECTED", "command", "cmd-9", detail={"mid": "mid-acme"})
    orders.on_statuses([(b"1001", answer.model_dump_json(by_alias=True).encode(), 0)])
    [acme] = orders.orders_of("1001")
    verdicts = [(h.status, h.verdict) for h in acme.history]
    assert verdicts == [("CAPTUREREQUIRED", "applied"), ("REJECTED", "answer")]


def test_a_status_that_names_no_merchant_is_the_one_merchants_order_of_its_id() -> None:
    orders, table = book()
    fold(orders, "CAPTUREREQUIRED", "mid-acme", "e1")
    fold(orders, "APPROVED", None, "e2")  # e.g. a webhook on the plain path
    state = orders.get("1001", "mid-acme")
    assert list(table) == ["mid-acme/1001"] and state is not None and state.status == "APPROVED"
    fold(orders, "CHALLENGE", "mid-bolt", "e3")
    fold(orders, "EXPIRED", None, "e4")  # two merchants have it now: it is nobody's
    assert sorted(table) == ["1001", "mid-acme/1001", "mid-bolt/1001"]


def test_an_order_with_an_entry_another_release_wrote_is_shown_and_folds() -> None:
    """A history entry whose verdict and source this release does not know (a newer release's,
    during a rolling deploy): ``GET /orders/{orderId}`` shows it as given, and statuses still fold."""
    orders, table = book(())
    fold(orders, "CAPTUREREQUIRED", None, "e1")
    doc = orjson.loads(table["1001"])
    doc["history"][0].update(verdict="someday", source="oracle")
    table["1001"] = orjson.dumps(doc)
    body, code = order_answer(orders, "1001")
    assert code == 200 and body["status"] == "CAPTUREREQUIRED"
    assert [(h["source"], h["verdict"]) for h in body["history"]] == [("oracle", "someday")]
    fold(orders, "APPROVED", None, "e2")
    body, code = order_answer(orders, "1001")
    assert code == 200 and body["status"] == "APPROVED"
    assert [(h["source"], h["verdict"]) for h in body["history"]] == [
        ("oracle", "someday"),
        ("evaluate", "applied"),
    ]


def test_a_status_for_an_entry_that_cannot_be_read_is_skipped_not_raised() -> None:
    """An entry that is not JSON, not an object, or in a status this release does not know (a newer
    release's): the status agent must not crash on it (Faust would restart the agent and the status
    be lost to the table anyway); the status is counted ``unreadable`` and the entry left as it was."""
    orders, table = book(())
    fold(orders, "CAPTUREREQUIRED", None, "e1")
    future = orjson.loads(table["1001"]) | {"status": "SOMEDAY"}
    for stored in (b"{not json", b"[1, 2]", orjson.dumps(future)):
        table["1001"] = stored
        fold(orders, "APPROVED", None, "e2")
        assert table["1001"] == stored
    counted = orders.metrics.order_statuses.labels("unreadable")._value.get()
    assert counted == 3


def test_with_several_merchants_an_unreadable_entry_is_skipped_not_raised() -> None:
    """With several merchants, a status that names none is placed by reading the orderId's entries
    (its one owner), and a merchant's status by reading its entry under the plain key too: an entry
    there that cannot be read is counted ``unreadable``, never raised out of the status agent."""
    orders, table = book()
    fold(orders, "CAPTUREREQUIRED", "mid-acme", "e1")
    for stored in (b"{not json", orjson.dumps({"orderId": "1001", "status": "SOMEDAY"})):
        table["mid-acme/1001"] = stored
        fold(orders, "APPROVED", None, "e2")  # which merchant's: read from the entries
        assert table["mid-acme/1001"] == stored
    del table["mid-acme/1001"]
    table["1001"] = b"{not json"  # written under the plain key before the table was keyed by merchant
    fold(orders, "APPROVED", "mid-acme", "e3")
    assert table == {"1001": b"{not json"}
    assert orders.metrics.order_statuses.labels("unreadable")._value.get() == 3


def test_an_unreadable_entry_is_answered_with_what_is_stored() -> None:
    """``GET /orders/{orderId}`` on an entry that cannot be read: 500 naming the order and why, and
    the stored JSON as it is when it is JSON, so that an operator sees what is there."""
    orders, table = book(())
    fold(orders, "CAPTUREREQUIRED", None, "e1")
    future = orjson.loads(table["1001"]) | {"status": "SOMEDAY"}
    table["1001"] = orjson.dumps(future)
    body, code = order_answer(orders, "1001")
    assert code == 500 and body["orderId"] == "1001" and body["stored"] == future
    assert "unreadable" in body["error"] and "status" in body["error"]
    table["1001"] = b"{not json"
    body, code = order_answer(orders, "1001")
    assert code == 500 and body["stored"] == "{not json"
