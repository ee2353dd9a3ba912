"""The sandbox in multi-merchant mode over real HTTP: tokens bound to each merchant's MID, the 403
for another merchant's ``mid``, the journal's ``mid`` and fault injection aimed at one merchant."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sandbox import DEV_MID, RunningSandbox
from sandbox.samples import evaluate_body
from tests.sandbox.merchants_support import (
    ACME,
    BOLT,
    CORA,
    MERCHANTS,
    merchants_sandbox,
    signed_in_as,
    token_for,
)
from tests.sandbox.support import signed_in

pytestmark = pytest.mark.integration


@pytest.fixture
async def many(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    async with merchants_sandbox(tmp_path) as running:
        yield running


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


async def _journal(sandbox: RunningSandbox, path: str | None = None) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as http:
        query = {"path": path} if path else {}
        entries: list[dict[str, Any]] = (await http.get("/_sandbox/requests", params=query)).json()[
            "requests"
        ]
        return entries


async def test_each_merchant_gets_a_token_bound_to_its_mid(many: RunningSandbox) -> None:
    for merchant in MERCHANTS:
        assert _claims(await token_for(many, merchant))["custom:mid"] == merchant.mid
    async with httpx.AsyncClient(base_url=many.url, timeout=10) as http:
        crossed = await http.post("oauth2/token", json={"AppKey": ACME.app_key, "AppSecret": BOLT.app_secret})
    assert crossed.status_code == 400 and crossed.json()["accessToken"] is None


async def test_a_body_mid_of_another_merchant_is_refused_with_403(many: RunningSandbox) -> None:
    async with signed_in_as(many, ACME) as acme:
        foreign = await acme.post("/v1/evaluate", json=evaluate_body(order_id="X-1", mid=BOLT.mid))
        own = await acme.post("/v1/evaluate", json=evaluate_body(order_id="X-2", mid=ACME.mid))
        unset = {k: v for k, v in evaluate_body(order_id="X-3").items() if k != "mid"}
        implicit = await acme.post("/v1/evaluate", json=unset)
        orders = (await acme.get("/_sandbox/orders")).json()["orders"]
    assert foreign.status_code == 403
    refusal = foreign.json()
    assert list(refusal) == ["TraceId", "mid"] and "bearer token" in refusal["mid"][0]
    assert (own.status_code, implicit.status_code) == (200, 200)
    assert {o["orderId"]: o["mid"] for o in orders} == {"X-2": ACME.mid, "X-3": ACME.mid}


async def test_a_merchant_sees_and_acts_on_its_own_orders_only(many: RunningSandbox) -> None:
    async with signed_in_as(many, ACME) as acme:
        made = await acme.post("/v1/evaluate", json=evaluate_body(order_id="O-ACME", mid=ACME.mid))
        key = made.json()["orderSessionKey"]
        assert (await acme.get(f"/v1/orders/{key}")).status_code == 200
    async with signed_in_as(many, BOLT) as bolt:
        looked = await bolt.get(f"/v1/orders/{key}")
        listed = (await bolt.get("/v1/orders", params={"pageSize": 50})).json()
        refund = await bolt.post(f"/v1/orders/{key}/refund", json={"amountToRefund": 1})
        cancel = await bolt.post(f"/v1/orders/{key}/cancel", json={})
        by_id = await bolt.post("/v1/orders/O-ACME/external-cancel", json={})
    assert (looked.status_code, refund.status_code, cancel.status_code, by_id.status_code) == (404,) * 4
    assert key not in orjson.dumps(listed).decode()
    async with httpx.AsyncClient(base_url=many.base_url, timeout=10) as http:
        [order] = [
            o for o in (await http.get("/_sandbox/orders")).json()["orders"] if o["orderId"] == "O-ACME"
        ]
    assert order["history"][-1]["action"] == "evaluate"  # nothing done to it by another merchant


async def test_the_journal_carries_the_authenticated_mid(many: RunningSandbox) -> None:
    for merchant in (ACME, CORA):
        async with signed_in_as(many, merchant) as http:
            await http.post(
                "/v1/evaluate", json=evaluate_body(order_id=f"J-{merchant.name}", mid=merchant.mid)
            )
    async with httpx.AsyncClient(base_url=many.base_url, timeout=10) as anonymous:
        refused = await anonymous.post("/v1/evaluate", json=evaluate_body(mid=ACME.mid))
    assert refused.status_code == 401
    calls = [(e["path"], e["status"], e["mid"]) for e in await _journal(many)]
    assert calls == [
        ("/v1/oauth2/token", 200, None),
        ("/v1/evaluate", 200, ACME.mid),
        ("/v1/oauth2/token", 200, None),
        ("/v1/evaluate", 200, CORA.mid),
        ("/v1/evaluate", 401, None),
    ]


async def test_the_single_merchant_journal_carries_the_dev_mid(sandbox: RunningSandbox) -> None:
    async with signed_in(sandbox, sandbox.url) as http:
        await http.post("evaluate", json=evaluate_body(order_id="J-dev"))
    entry = (await _journal(sandbox, "/v1/evaluate"))[0]
    assert (entry["status"], entry["mid"]) == (200, DEV_MID)


async def _statuses(sandbox: RunningSandbox) -> dict[str, list[int]]:
    """Each merchant's answers to three evaluates."""
    statuses: dict[str, list[int]] = {}
    for merchant in MERCHANTS:
        async with signed_in_as(sandbox, merchant) as http:
            bodies = [evaluate_body(mid=merchant.mid) for _ in range(3)]
            statuses[merchant.name] = [(await http.post("/v1/evaluate", json=b)).status_code for b in bodies]
    return statuses


@pytest.mark.parametrize("target", [BOLT.name, BOLT.mid])
async def test_faults_aimed_at_one_merchant_hit_only_it(many: RunningSandbox, target: str) -> None:
    async with httpx.AsyncClient(base_url=many.base_url, timeout=10) as admin:
        aimed = await admin.post(
            "/_sandbox/faults", json={"rate": 1.0, "statuses": [503], "merchants": [target]}
        )
        assert aimed.status_code == 200 and aimed.json()["merchants"] == [target]
        assert await _statuses(many) == {"acme": [200] * 3, "bolt": [503] * 3, "cora": [200] * 3}
        faulted = {e["mid"] for e in await _journal(many, "/v1/evaluate") if e["fault"]}
        assert faulted == {BOLT.mid}
        unknown = await admin.post("/_sandbox/faults", json={"rate": 1.0, "merchants": ["nobody"]})
    assert unknown.status_code == 400 and "nobody" in unknown.json()["error"]


async def test_a_token_fault_aimed_at_one_merchant_keys_on_its_app_key(many: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=many.base_url, timeout=10) as admin:
        config = {"rate": 1.0, "statuses": [500], "paths": ["/v1/oauth2/token"], "merchants": ["cora"]}
        assert (await admin.post("/_sandbox/faults", json=config)).status_code == 200
        answers = {
            m.name: await admin.post(
                "/v1/oauth2/token", json={"appKey": m.app_key, "appSecret": m.app_secret}
            )
            for m in MERCHANTS
        }
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "acme": 200,
        "bolt": 200,
        "cora": 500,
    }
