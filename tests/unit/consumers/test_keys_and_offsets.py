from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from consumers.keys import EVENT_NAMESPACE, command_key, event_key
from streams.runtime.offsets import PartitionOffsets


def test_event_key_is_a_deterministic_uuid5() -> None:
    key = event_key("evt-1")
    assert key == event_key("evt-1")
    assert uuid.UUID(key).version == 5
    assert key != event_key("evt-2")
    assert key != command_key("evt-1")  # separate namespaces for events and commands


def test_event_key_is_pinned() -> None:
    # A change here would break idempotency for every event already sent to Flex.
    assert event_key("evt-1") == str(
        uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "urn:flexbridge:payment-event"), "evt-1")
    )


@given(st.text())
def test_event_key_is_uuid5_of_any_event_id(event_id: str) -> None:
    try:
        expected: str | type[Exception] = str(uuid.uuid5(EVENT_NAMESPACE, event_id))
    except UnicodeEncodeError:  # a lone surrogate: neither can encode it
        expected = UnicodeEncodeError
    try:
        assert event_key(event_id) == expected
    except UnicodeEncodeError:
        assert expected is UnicodeEncodeError


def test_committable_waits_for_the_lowest_in_flight() -> None:
    p = PartitionOffsets()
    assert p.committable() is None
    for o in (10, 11, 12):
        p.started(o)
    p.finished(11)
    p.finished(12)
    assert p.committable() == 10  # 10 still running: nothing past it is safe
    p.finished(10)
    assert p.committable() == 13
    p.committed = 13
    assert p.committable() is None  # nothing new
    p.started(13)
    assert p.committable() is None  # 13 in flight, 13 already committed
    p.finished(13)
    assert p.committable() == 14


def test_field_names_bind_like_flex_and_the_exact_spelling_wins() -> None:
    from schemas.flex import EvaluateResponse
    from schemas.keys import Aliases, canonical_keys, fold

    assert fold("Order_Session-Key") == fold("orderSessionKey")
    aliases = Aliases({"orderid": "orderId"})
    assert canonical_keys({"OrderId": 1, "other": 2}, aliases) == {"orderId": 1, "other": 2}
    assert canonical_keys({"ORDER_ID": 1, "orderId": 2}, aliases) == {"orderId": 2}
    assert canonical_keys({"orderId": 2, "ORDERID": 1}, aliases) == {"orderId": 2}
    plain = {"orderId": 1, "other": 2}
    assert canonical_keys(plain, aliases) == plain
    assert canonical_keys(plain, aliases) is plain  # its key sequence is remembered: passed on as it is
    assert canonical_keys({"other": 2, "OrderId": 1}, aliases) == {"other": 2, "orderId": 1}
    answer = EvaluateResponse.model_validate({"OrderSessionKey": "variant", "orderSessionKey": "exact"})
    assert answer.order_session_key == "exact"
