"""Reconciliation looks each order up as its merchant (OrderState.mid): Flex shows a merchant only
its own orders; an order whose merchant is not served is not asked about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from pydantic import SecretStr

from consumers.flex.client import FlexClient
from consumers.order_machine import apply_status
from consumers.reconcile import NO_BATCH_RESULT, candidates_of
from core.merchants import Merchant, Merchants
from core.settings import ReconcileSettings
from schemas.flex import OrderDetails, OrderPage
from schemas.order_state import OrderState
from schemas.status import status_of
from streams.runtime.reconcile import Lookup, Reconciler, lookups_by_merchant
from streams.runtime.status import StatusPublisher

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC).timestamp()


def _merchant(name: str) -> Merchant:
    return Merchant(mid=f"mid-{name}", name=name, app_key=SecretStr("k"), app_secret=SecretStr("s"))


class Asked:
    """The Flex lookups of one merchant (no order found: nothing to publish)."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        self._name, self._log = name, log

    async def get_order(self, order_session_key: str) -> OrderDetails:
        raise AssertionError("no order of this test has an orderSessionKey")

    async def find_orders(self, query: str, page_size: int = 50) -> OrderPage:
        self._log.append((self._name, query))
        return OrderPage()


class Flex:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def for_merchant(self, merchant: Merchant) -> Asked:
        return Asked(merchant.name, self.asked)


def _unanswered(order_id: str, mid: str | None) -> OrderState:
    detail: dict[str, Any] = {"batchFile": "f.json", "sequenceNumber": 1}
    if mid is not None:
        detail["mid"] = mid
    at = datetime.fromtimestamp(NOW - 3600, UTC)
    failed = status_of(
        order_id, "FAILED", "batch", f"e-{order_id}", reason=NO_BATCH_RESULT, detail=detail, occurred_at=at
    )
    state, _ = apply_status(None, failed)
    return state.model_copy(update={"updated_at": at})


async def _pass(merchants: Merchants, states: list[OrderState]) -> tuple[Flex, list[str]]:
    flex = Flex()
    reconciler = Reconciler(ReconcileSettings(after_seconds=1), 14, clock=lambda: NOW, sleep=_no_wait)
    publisher = cast(StatusPublisher, object())  # nothing is found, so nothing is published
    lookups = await reconciler.run_pass(
        candidates_of(states), lookups_by_merchant(cast(FlexClient, flex), merchants), publisher
    )
    return flex, [lookup.result for lookup in lookups]


async def _no_wait(_: float) -> None:
    return None


async def test_each_order_is_looked_up_as_its_merchant() -> None:
    merchants = Merchants([_merchant("acme"), _merchant("bolt")])
    states = [_unanswered("O-a", "mid-acme"), _unanswered("O-b", "mid-bolt"), _unanswered("O-x", "mid-other")]
    flex, results = await _pass(merchants, states)
    assert sorted(flex.asked) == [("acme", "O-a"), ("bolt", "O-b")]
    assert sorted(results) == ["not-found", "not-found", "unknown-merchant"]


async def test_one_merchant_served_looks_up_orders_without_a_mid_as_itself() -> None:
    flex, results = await _pass(Merchants([_merchant("acme")]), [_unanswered("O-1", None)])
    assert flex.asked == [("acme", "O-1")] and results == ["not-found"]


class Completed:
    """Flex's answer for every order: completed (APPROVED)."""

    def __init__(self) -> None:
        self.asked = 0

    async def get_order(self, order_session_key: str) -> OrderDetails:
        self.asked += 1
        return OrderDetails(id=order_session_key, status=7)

    async def find_orders(self, query: str, page_size: int = 50) -> OrderPage:
        raise AssertionError("the order has an orderSessionKey")


class Published:
    def __init__(self) -> None:
        self.statuses: list[str] = []

    async def publish(self, status: Any, headers: Any = None) -> None:
        self.statuses.append(status.status)


async def test_a_change_is_published_once_while_the_table_has_not_folded_it() -> None:
    """A loaded worker's order table can trail its reconcile status: the next passes, which still
    see the order SUBMITTED, ask Flex again but do not publish the same change a second time."""
    at = datetime.fromtimestamp(NOW - 3600, UTC)
    submitted = status_of("O-s", "SUBMITTED", "evaluate", "e-s", session_key="k-s", occurred_at=at)
    state, _ = apply_status(None, submitted)
    state = state.model_copy(update={"updated_at": at})
    clock = [NOW]
    reconciler = Reconciler(
        ReconcileSettings(after_seconds=1, interval_seconds=1, backoff_max_seconds=1),
        14,
        clock=lambda: clock[0],
        sleep=_no_wait,
    )
    flex, published = Completed(), Published()
    for _ in range(3):
        await reconciler.run_pass(
            candidates_of([state]), cast(FlexClient, flex), cast(StatusPublisher, published)
        )
        clock[0] += 10
    assert flex.asked == 3 and published.statuses == ["APPROVED"]


async def test_two_merchants_orders_of_one_order_id_are_each_looked_up_as_their_own() -> None:
    merchants = Merchants([_merchant("acme"), _merchant("bolt")])
    states = [_unanswered("O-1", "mid-acme"), _unanswered("O-1", "mid-bolt")]
    flex, results = await _pass(merchants, states)
    assert sorted(flex.asked) == [("acme", "O-1"), ("bolt", "O-1")] and results == ["not-found"] * 2


class Found:
    """Every merchant's order, found by its orderId and completed (APPROVED) at Flex."""

    async def get_order(self, order_session_key: str) -> OrderDetails:
        raise AssertionError("looked up by orderId")

    async def find_orders(self, query: str, page_size: int = 50) -> OrderPage:
        return OrderPage.model_validate(
            {"items": [{"id": f"fx-{query}", "externalOrderId": query, "status": 7}]}
        )


async def test_a_reconcile_status_names_its_merchant() -> None:
    statuses: list[Any] = []

    class Kept:
        async def publish(self, status: Any, headers: Any = None) -> None:
            statuses.append(status)

    reconciler = Reconciler(ReconcileSettings(after_seconds=1), 14, clock=lambda: NOW, sleep=_no_wait)
    await reconciler.run_pass(
        candidates_of([_unanswered("O-1", "mid-acme")]),
        cast(FlexClient, Found()),
        cast(StatusPublisher, Kept()),
    )
    assert [(s.status, s.detail.get("mid")) for s in statuses] == [("APPROVED", "mid-acme")]


async def test_each_lookup_is_told_as_it_ends_before_the_next_is_asked() -> None:
    flex = Flex()
    reconciler = Reconciler(ReconcileSettings(after_seconds=1), 14, clock=lambda: NOW, sleep=_no_wait)
    publisher = cast(StatusPublisher, object())  # nothing is found, so nothing is published
    merchants = Merchants([_merchant("acme"), _merchant("bolt")])
    states = [_unanswered("O-a", "mid-acme"), _unanswered("O-b", "mid-bolt"), _unanswered("O-x", "mid-x")]
    told: list[Lookup] = []

    def tell(lookup: Lookup) -> None:
        told.append(lookup)
        flex.asked.append(("told", lookup.order.order_id))

    lookups = await reconciler.run_pass(
        candidates_of(states), lookups_by_merchant(cast(FlexClient, flex), merchants), publisher, tell
    )
    assert told == lookups and len(lookups) == 3
    for merchant, order_id in (("acme", "O-a"), ("bolt", "O-b")):  # each told right after its lookup
        asked = flex.asked.index((merchant, order_id))
        assert flex.asked[asked + 1] == ("told", order_id)
    assert [x.result for x in told if x.order.order_id == "O-x"] == ["unknown-merchant"]  # told, not asked
