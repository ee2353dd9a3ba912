"""Unit tests of the bridge's question to the intake rule (consumers/intake.py ``to_batch_files``):
which records it leaves to the batch path without a task. Its answer must be the full rule's
(``route_to_merchant``) whenever that is an SFTP route, and None otherwise: a refused record is
never left, so the bridge still dead-letters it, once."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.intake import Flow, Routed, may_be_mit, may_name_mit, route_to_merchant, to_batch_files
from core.merchants import Merchants
from core.settings import RoutingSettings, Settings
from streams.local.traffic import KINDS, make_event
from streams.runtime.bridge import Bridge
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.metrics import Metrics
from tests.unit.consumers.test_flows import FakeFlex, FakeProducer, _record
from tests.unit.consumers.test_intake import MUTATIONS, _mutated
from tests.unit.consumers.test_merchant_routing import ACME, BOTH, GLOBEX, merchant

ANY_SFTP = merchant("any", None, mit="sftp")
MERCHANTS = (BOTH, Merchants([ACME]), Merchants([GLOBEX]), Merchants([ANY_SFTP]))


def _event(kind: str, seed: int = 1, **fields: Any) -> dict[str, Any]:
    event = make_event(kind, f"ORD-{seed}", random.Random(seed))
    assert isinstance(event, dict)
    return {**event, **fields}


def _mit(**fields: Any) -> bytes:
    return orjson.dumps(_event("mit-rebill", **{"mid": "mid-acme", **fields}))


def test_a_valid_mit_decline_of_a_merchant_routing_mit_to_files_is_left_to_the_batch_path() -> None:
    routed = to_batch_files(_mit(), "evaluate", BOTH)
    assert isinstance(routed, Routed) and routed.route == "sftp" and routed.merchant == ACME
    assert to_batch_files(_mit(mid="mid-globex"), "evaluate", BOTH) is None  # globex: MIT by the API


@pytest.mark.parametrize(
    "raw",
    [
        _mit(eventId=""),  # schema: the bridge dead-letters it
        orjson.dumps(_event("raw-pan", mid="mid-acme", isMIT=True)),  # pan-detected
        orjson.dumps(_event("bad-schema", mid="mid-acme", isMIT=True)),
        _mit(mid="mid-unknown"),  # unknown-merchant
        _mit()[:-3],  # not JSON
        b'{"isMIT": true}',
        None,
    ],
)
def test_a_record_the_bridge_refuses_is_never_left_to_the_batch_path(raw: bytes | None) -> None:
    assert to_batch_files(raw, "evaluate", BOTH) is None


def test_declines_that_cannot_be_mit_are_answered_from_their_text() -> None:
    cit = orjson.dumps(_event("cit-declined", mid="mid-acme"))
    assert not may_name_mit(cit) and not may_name_mit(None)
    assert to_batch_files(cit, "evaluate", BOTH) is None
    mit = _mit()
    assert may_name_mit(mit) and may_name_mit(b'{"ISMIT": 1}')
    escaped = mit.replace(b'"isMIT"', b'"\\u0069sMIT"')  # the same key, spelt with an escape
    assert escaped != mit and may_name_mit(escaped)
    routed = to_batch_files(escaped, "evaluate", BOTH)
    assert routed is not None and routed == to_batch_files(mit, "evaluate", BOTH)


def _spelt(raw: bytes, key: str) -> bytes:
    """``raw`` with its ``isMIT`` key spelt ``key`` (its value and place kept)."""
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        return raw
    return orjson.dumps({(key if k == "isMIT" else k): v for k, v in data.items()})


@pytest.mark.parametrize("key", ["is_mit", "is-mit", "IS_MIT", "Is-Mit", "i_s-M_I-t", "ISMIT"])
def test_an_is_mit_key_spelt_as_the_model_takes_it_is_left_to_the_batch_path(key: str) -> None:
    raw = _spelt(_mit(), key)
    assert may_name_mit(raw) and may_be_mit(orjson.loads(raw))
    full = route_to_merchant(raw, "evaluate", BOTH)
    assert isinstance(full, Routed) and full.route == "sftp"  # the bridge leaves it to the files
    assert to_batch_files(raw, "evaluate", BOTH) == full  # so the batch path must take it


@given(
    st.sampled_from(sorted(KINDS)),
    st.integers(0, 50),
    st.lists(st.sampled_from(("", "_", "-", "__")), min_size=6, max_size=6),
    st.lists(st.booleans(), min_size=5, max_size=5),
    st.sampled_from(MERCHANTS),
)
def test_every_spelling_of_the_is_mit_key_agrees_with_the_full_rule(
    kind: str, seed: int, gaps: list[str], upper: list[bool], merchants: Merchants
) -> None:
    letters = [c.upper() if up else c for c, up in zip("ismit", upper, strict=True)]
    key = "".join(gap + letter for gap, letter in zip(gaps, [*letters, ""], strict=True))
    raw = make_event(kind, f"ORD-{seed}", random.Random(seed))
    if not isinstance(raw, bytes):
        raw = orjson.dumps({**raw, "mid": "mid-acme"} if seed % 2 else raw)
    with contextlib.suppress(orjson.JSONDecodeError):
        raw = _spelt(raw, key)
    full = route_to_merchant(raw, "evaluate", merchants)
    expected = full if isinstance(full, Routed) and full.route == "sftp" else None
    assert to_batch_files(raw, "evaluate", merchants) == expected


@given(*MUTATIONS, st.sampled_from(MERCHANTS))
def test_it_agrees_with_the_full_rule(
    kind: str, seed: int, field: str, value: Any, flow: Flow, merchants: Merchants
) -> None:
    raw = _mutated(kind, seed, field, value)
    full = route_to_merchant(raw, flow, merchants)
    expected = full if isinstance(full, Routed) and full.route == "sftp" else None
    assert to_batch_files(raw, flow, merchants) == expected


async def test_the_bridge_leaves_valid_mit_to_the_batch_path_and_dead_letters_the_rest_once() -> None:
    producer = FakeProducer()
    metrics = Metrics()
    deps = Deps.build(Settings(routing=RoutingSettings(mit="sftp")), producer, metrics)  # type: ignore[arg-type]
    bridge = Bridge(deps, FakeFlex(), Ledger(deps.kafka, deps.topics.ledger, producer))  # type: ignore[arg-type]
    good = _record(orjson.dumps(_event("mit-rebill")))
    bad = _record(orjson.dumps(_event("mit-rebill", eventId="")))
    cit = _record(orjson.dumps(_event("cit-declined")))
    assert bridge.to_batch(good) and not bridge.to_batch(bad) and not bridge.to_batch(cit)
    assert producer.sent == []
    labels = {"topic": "payments.declined", "outcome": "routed-sftp", "merchant": "default"}
    assert not metrics.registry.get_sample_value("flexbridge_events_out_total", labels)
    bridge.count_to_batch()  # the pipeline counts them after each fetch
    assert metrics.registry.get_sample_value("flexbridge_events_out_total", labels) == 1
    bridge.count_to_batch()  # counted once
    assert metrics.registry.get_sample_value("flexbridge_events_out_total", labels) == 1
    await bridge.handle(bad)
    [(topic, _, _, headers)] = producer.sent
    assert topic == "payments.dlq" and dict(headers)["dlq-reason"] == b"schema"
