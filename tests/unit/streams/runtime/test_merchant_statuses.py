"""Batch and webhook statuses name their merchant's ``mid`` (``detail.mid``), as evaluate statuses
do, so an order that went by SFTP or whose news came by webhook gets its merchant (OrderState.mid)."""

from __future__ import annotations

import orjson
from pydantic import SecretStr

from consumers.order_machine import apply_status
from consumers.sftp.registry import SentRecord
from consumers.webhooks.keys import WebhookKeys
from core.merchants import SINGLE_MERCHANT_NAME, Merchant, Merchants
from core.settings import WebhookSettings
from schemas.batch import ResultRow
from schemas.webhooks import order_status, parse_webhook
from streams.runtime.batch.poller import result_status
from streams.runtime.batch.upload import pending_status, pending_values
from streams.runtime.metrics import Metrics
from tests.unit.consumers.webhooks.test_keys import _key

SENT = [SentRecord(1, "O1", "evt-1", "k1"), SentRecord(2, "O2", "evt-2", "k2")]
HOOK = b'{"Event":"order.completed","ExternalOrderId":"O1","OrderId":"osk-1","IsTestMode":false}'


def _merchant(name: str, mid: str | None) -> Merchant:
    key = SecretStr(_key(name))
    return Merchant(mid=mid, name=name, app_key=SecretStr("k"), app_secret=SecretStr("s"), subscriber_key=key)


def test_pending_statuses_carry_the_mid_of_the_files_merchant() -> None:
    values = [orjson.loads(v) for v in pending_values("evaluate_x.json", SENT, "mid-acme")]
    assert [v["detail"]["mid"] for v in values] == ["mid-acme", "mid-acme"]
    assert pending_status("evaluate_x.json", SENT[0], "mid-acme").detail["mid"] == "mid-acme"
    assert "mid" not in pending_status("evaluate_x.json", SENT[0]).detail  # no MID configured


def test_a_pending_status_gives_a_new_order_its_merchant() -> None:
    state, _ = apply_status(None, pending_status("evaluate_x.json", SENT[0], "mid-acme"))
    assert state.mid == "mid-acme"


def test_result_statuses_carry_the_mid_of_the_folders_merchant() -> None:
    row = ResultRow(sequence_number=1, order_id="O1", status="SUBMITTED", order_session_key="osk-1")
    assert result_status("f.json", row, SENT[0], "mid-bolt").detail["mid"] == "mid-bolt"
    assert "mid" not in result_status("f.json", row, SENT[0]).detail


def test_a_webhook_status_carries_the_mid_of_the_merchant_whose_path_received_it() -> None:
    acme, bolt = _merchant("acme", "mid-acme"), _merchant("bolt", "mid-bolt")
    keys = WebhookKeys.build(WebhookSettings(), Merchants([acme, bolt]))
    receiving = keys.of("bolt")
    assert receiving is not None and receiving.mid == "mid-bolt"
    status = order_status(parse_webhook(HOOK), receiving.mid)
    assert status is not None and status.detail["mid"] == "mid-bolt"
    plain = order_status(parse_webhook(HOOK))
    assert plain is not None and "mid" not in plain.detail


def test_the_plain_path_names_the_single_merchants_mid() -> None:
    hook = WebhookSettings(subscriber_key=SecretStr(_key(SINGLE_MERCHANT_NAME)))
    keys = WebhookKeys.build(hook, Merchants([_merchant(SINGLE_MERCHANT_NAME, "mid-1")]))
    plain = keys.of(None)
    assert plain is not None and plain.mid == "mid-1" and plain.merchant is None


def test_batch_webhook_and_token_metrics_are_labelled_by_merchant() -> None:
    metrics = Metrics(["acme", "bolt"])
    metrics.batch_result("SUBMITTED", "acme")
    metrics.batch_missing(3, "bolt")
    metrics.batch_bad_response("bolt")
    metrics.flex_observers("bolt").on_token("flex-auth")  # type: ignore[misc]
    text = metrics.render().decode()
    assert 'flexbridge_batch_results_total{merchant="acme",status="SUBMITTED"} 1.0' in text
    assert 'flexbridge_batch_missing_results_total{merchant="bolt"} 3.0' in text
    assert 'flexbridge_batch_bad_responses_total{merchant="bolt"} 1.0' in text
    assert 'flexbridge_flex_token_fetches_total{merchant="bolt",result="flex-auth"} 1.0' in text
    assert 'flexbridge_flex_token_fetches_total{merchant="acme",result="flex-auth"} 0.0' in text
