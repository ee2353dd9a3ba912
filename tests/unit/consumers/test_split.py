"""Unit tests of which reader takes a record (consumers/split.py ``batch_bound``), with what the batch
path then does with its records (consumers/sftp/intake.py ``batch_item``). Every record gets one
outcome: a valid event the full rule (``route_to_merchant``) routes to SFTP goes into its merchant's
file, and nothing else does; a refused record is dead-lettered once, by whichever reader takes it,
with the full rule's reason; any other record is the bridge's."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

import consumers.intake
import consumers.sftp.intake
from consumers.intake import Flow, Refused, Routed, route_to_merchant
from consumers.sftp.intake import BatchItem, batch_item
from consumers.split import batch_bound
from core.errors import InvalidEvent
from core.merchants import Merchant, Merchants
from core.settings import RoutingSettings, Settings
from schemas.events import PaymentEvent
from streams.local.traffic import KINDS, make_event
from streams.runtime.bridge import Bridge
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.metrics import Metrics
from tests.unit.consumers.test_flows import FakeFlex, FakeProducer, _record
from tests.unit.consumers.test_intake import MUTATIONS, _mutated
from tests.unit.consumers.test_merchant_routing import ACME, BOTH, GLOBEX, merchant

ANY_SFTP = merchant("any", None, mit="sftp")
FILES = Merchant(  # approvals by SFTP too
    mid="mid-acme",
    name="files",
    app_key=SecretStr("k"),
    app_secret=SecretStr("s"),
    routing=RoutingSettings(mit="sftp", transmit="sftp"),
)
MERCHANTS = (BOTH, Merchants([ACME]), Merchants([GLOBEX]), Merchants([ANY_SFTP]), Merchants([FILES]))
EXPIRY = 30


def _event(kind: str, seed: int = 1, **fields: Any) -> dict[str, Any]:
    event = make_event(kind, f"ORD-{seed}", random.Random(seed))
    assert isinstance(event, dict)
    return {**event, **fields}


def _mit(**fields: Any) -> bytes:
    return orjson.dumps(_event("mit-rebill", **{"mid": "mid-acme", **fields}))


def _outcome(raw: bytes | None, flow: Flow, merchants: Merchants) -> str:
    """The one outcome of a record, each reader running its part; fails if both or neither act."""
    taken: list[str] = []
    if batch_bound(raw, flow, merchants) is None:  # the bridge's
        full = route_to_merchant(raw, flow, merchants)
        assert not (isinstance(full, Routed) and full.route == "sftp"), "an SFTP event left by both"
        taken.append(f"dlq:{full.reason}" if isinstance(full, Refused) else "api")
    item = batch_item(flow, raw, merchants, EXPIRY)  # type: ignore[arg-type]
    if isinstance(item, Refused):
        taken.append(f"dlq:{item.reason}")
    elif item is not None:
        taken.append(f"file:{item.merchant.name}")
    assert len(taken) == 1, taken
    return taken[0]


def test_a_valid_mit_decline_of_a_merchant_routing_mit_to_files_goes_in_its_file() -> None:
    bound = batch_bound(_mit(), "evaluate", BOTH)
    assert bound is not None and bound.merchant == ACME
    assert _outcome(_mit(), "evaluate", BOTH) == "file:acme"
    assert batch_bound(_mit(mid="mid-globex"), "evaluate", BOTH) is None  # globex: MIT by the API
    assert _outcome(_mit(mid="mid-globex"), "evaluate", BOTH) == "api"
    assert _outcome(_mit(mid=" MID-ACME "), "evaluate", BOTH) == "file:acme"  # as the model reads a mid


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        (_mit(eventId=""), "dlq:schema"),  # the batch path's: dead-lettered there
        (orjson.dumps(_event("raw-pan", mid="mid-acme", isMIT=True)), "dlq:pan-detected"),
        (orjson.dumps(_event("bad-schema", mid="mid-acme", isMIT=True)), "dlq:schema"),
        (_mit(isMIT="maybe"), "dlq:schema"),  # an isMIT the model cannot read: the bridge's
        (_mit(mid=42), "dlq:schema"),  # a mid the model cannot read: the bridge's
        (_mit(mid="mid-unknown"), "dlq:unknown-merchant"),
        (_mit()[:-3], "dlq:schema"),  # not JSON
        (b'{"isMIT": true}', "dlq:schema"),  # no mid, two merchants: the bridge's
        (None, "dlq:schema"),
    ],
)
def test_a_refused_record_is_dead_lettered_once_with_the_full_rules_reason(
    raw: bytes | None, outcome: str
) -> None:
    assert _outcome(raw, "evaluate", BOTH) == outcome


def test_the_batch_path_dead_letters_its_refused_records_as_their_merchants() -> None:
    raw = orjson.dumps(_event("raw-pan", mid="mid-acme", isMIT=True))
    assert batch_bound(raw, "evaluate", BOTH) is not None  # no validation, no card-number search here
    refused = batch_item("evaluate", raw, BOTH, EXPIRY)
    assert isinstance(refused, Refused) and refused.merchant == ACME
    assert "4111" not in refused.message


@pytest.mark.parametrize(
    "value", [True, False, 1, 0, "true", "false", "yes", "no", "on", "off", "t", "f", "1", "0", 1.0, 2, None]
)
def test_is_mit_is_read_as_the_model_reads_it(value: Any) -> None:
    data = _event("mit-rebill", mid="mid-acme", isMIT=value)
    try:
        is_mit = PaymentEvent.model_validate(data).is_mit
    except ValueError:
        is_mit = False  # the model refuses it: the bridge dead-letters it
    assert (batch_bound(orjson.dumps(data), "evaluate", BOTH) is not None) is is_mit


def test_declines_without_an_is_mit_key_are_answered_from_their_text() -> None:
    cit = orjson.dumps(_event("cit-declined", mid="mid-acme"))
    assert batch_bound(cit, "evaluate", BOTH) is None and _outcome(cit, "evaluate", BOTH) == "api"
    escaped = _mit().replace(b'"isMIT"', b'"\\u0069sMIT"')  # the same key, spelt with an escape
    assert escaped != _mit() and _outcome(escaped, "evaluate", BOTH) == "file:acme"


def _spelt(raw: bytes, key: str) -> bytes:
    """``raw`` with its ``isMIT`` key spelt ``key`` (its value and place kept)."""
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        return raw
    return orjson.dumps({(key if k == "isMIT" else k): v for k, v in data.items()})


@given(
    st.sampled_from(sorted(KINDS)),
    st.integers(0, 50),
    st.lists(st.sampled_from(("", "_", "-", "__")), min_size=6, max_size=6),
    st.lists(st.booleans(), min_size=5, max_size=5),
    st.sampled_from(MERCHANTS),
)
def test_every_spelling_of_the_is_mit_key_gives_one_outcome(
    kind: str, seed: int, gaps: list[str], upper: list[bool], merchants: Merchants
) -> None:
    letters = [c.upper() if up else c for c, up in zip("ismit", upper, strict=True)]
    key = "".join(gap + letter for gap, letter in zip(gaps, [*letters, ""], strict=True))
    raw = make_event(kind, f"ORD-{seed}", random.Random(seed))
    if not isinstance(raw, bytes):
        raw = orjson.dumps({**raw, "mid": "mid-acme"} if seed % 2 else raw)
    with contextlib.suppress(orjson.JSONDecodeError):
        raw = _spelt(raw, key)
    _outcome(raw, "evaluate", merchants)


@given(*MUTATIONS, st.sampled_from(MERCHANTS))
def test_every_record_gets_one_outcome_and_the_files_get_exactly_the_full_rules_sftp_events(
    kind: str, seed: int, field: str, value: Any, flow: Flow, merchants: Merchants
) -> None:
    raw = _mutated(kind, seed, field, value)
    outcome = _outcome(raw, flow, merchants)
    full = route_to_merchant(raw, flow, merchants)
    if isinstance(full, Routed) and full.route == "sftp":
        assert full.merchant is not None and outcome == f"file:{full.merchant.name}"
        item = batch_item(flow, raw, merchants, EXPIRY)
        assert isinstance(item, BatchItem) and item.event_id == full.event.event_id
    elif isinstance(full, Routed):
        assert outcome == "api"
    else:
        assert outcome == f"dlq:{full.reason}"


async def test_the_bridge_leaves_the_batch_paths_records_and_dead_letters_the_rest_once() -> None:
    producer = FakeProducer()
    metrics = Metrics()
    deps = Deps.build(Settings(routing=RoutingSettings(mit="sftp")), producer, metrics)  # type: ignore[arg-type]
    bridge = Bridge(deps, FakeFlex(), Ledger(deps.kafka, deps.topics.ledger, producer))  # type: ignore[arg-type]
    good = _record(orjson.dumps(_event("mit-rebill")))
    invalid = _record(orjson.dumps(_event("mit-rebill", eventId="")))  # the batch path dead-letters it
    unreadable = _record(orjson.dumps(_event("mit-rebill", isMIT="maybe")))
    cit = _record(orjson.dumps(_event("cit-declined")))
    assert bridge.to_batch(good) and bridge.to_batch(invalid)
    assert not bridge.to_batch(unreadable) and not bridge.to_batch(cit)
    assert producer.sent == []
    labels = {"topic": "payments.declined", "outcome": "routed-sftp", "merchant": "default"}
    assert not metrics.registry.get_sample_value("flexbridge_events_out_total", labels)
    bridge.count_to_batch()  # the pipeline counts them after each fetch
    assert metrics.registry.get_sample_value("flexbridge_events_out_total", labels) == 2
    bridge.count_to_batch()  # counted once
    assert metrics.registry.get_sample_value("flexbridge_events_out_total", labels) == 2
    await bridge.handle(unreadable)
    [(topic, _, _, headers)] = producer.sent
    assert topic == "payments.dlq" and dict(headers)["dlq-reason"] == b"schema"


def _stricter(data: dict[str, Any], may_hold: bool = True) -> PaymentEvent:
    raise InvalidEvent("schema violation: refused by another release")


@pytest.mark.parametrize("stricter", ["bridge", "batch path"])
def test_readers_of_two_releases_that_disagree_on_validity_still_give_one_outcome(
    stricter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During a rolling deploy a record's two readers may run releases that validate differently:
    the split does not depend on it, so the record still gets exactly one outcome."""
    module = consumers.intake if stricter == "bridge" else consumers.sftp.intake
    monkeypatch.setattr(module, "event_from", _stricter)
    mit, cit = _mit(), orjson.dumps(_event("cit-declined", mid="mid-acme"))
    assert _outcome(mit, "evaluate", BOTH) == ("file:acme" if stricter == "bridge" else "dlq:schema")
    assert _outcome(cit, "evaluate", BOTH) == ("dlq:schema" if stricter == "bridge" else "api")
