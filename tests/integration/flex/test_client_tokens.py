"""The FlexClient's bearer token against the sandbox: one per burst, renewed on expiry or a 401, refused."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import SecretStr

from consumers.flex.client import FlexAuthFailed, FlexClient
from sandbox import RunningSandbox
from sandbox.samples import evaluate_body
from tests.integration.flex.support import EVALUATE, TOKEN, Admin, MakeClient, by_key
from tests.support import wait_for

pytestmark = pytest.mark.integration


async def test_one_token_serves_50_concurrent_calls(flex: FlexClient, admin: Admin) -> None:
    bodies = [evaluate_body() for _ in range(50)]
    answers = await asyncio.gather(*(flex.evaluate(body) for body in bodies))

    assert len({a.order_session_key for a in answers}) == 50
    assert all(a.status == "APPROVED" for a in answers)
    tokens = await admin.journal(TOKEN)
    assert [e["status"] for e in tokens] == [200]
    assert flex.token_fetches == 1
    evaluations = await admin.journal(EVALUATE)
    assert sorted(e["idempotencyKey"] for e in evaluations) == sorted(b["idempotencyKey"] for b in bodies)
    assert {e["status"] for e in evaluations} == {200}  # none was refused for its bearer
    assert len(await admin.orders()) == 50


@pytest.mark.parametrize("sandbox", [{"token_ttl_seconds": 2}], indirect=True)
async def test_calls_spanning_token_expiry_all_succeed(make_client: MakeClient, admin: Admin) -> None:
    flex = make_client(token_refresh_margin_seconds=0)
    first_token = await flex.ensure_token()
    answers = []
    started = time.monotonic()
    while time.monotonic() - started < 2.6:  # the TTL is the point here: keep calling across the expiry
        answers.extend(await asyncio.gather(*(flex.evaluate(evaluate_body()) for _ in range(3))))

    assert all(a.order_session_key and a.status == "APPROVED" for a in answers)
    assert await flex.ensure_token() != first_token
    tokens = await admin.journal(TOKEN)
    assert len(tokens) >= 2 and {e["status"] for e in tokens} == {200}
    assert flex.token_fetches == len(tokens)
    evaluations = by_key(await admin.journal(EVALUATE))
    assert len(evaluations) == len(answers)
    for entries in evaluations.values():
        # a call racing the expiry may meet one 401, then it must go through with a fresh token
        assert [e["status"] for e in entries] in ([200], [401, 200])
    assert len(await admin.orders()) == len(answers)


@pytest.mark.parametrize("sandbox", [{"token_ttl_seconds": 1}], indirect=True)
async def test_token_expired_on_the_server_is_refreshed_once_after_401(
    sandbox: RunningSandbox, make_client: MakeClient, admin: Admin
) -> None:
    # A wall clock an hour slow makes the client believe the token lives an hour: only a 401 tells it.
    flex = make_client(wall_clock=lambda: time.time() - 3600)
    await flex.evaluate(evaluate_body())
    token = await flex.ensure_token()

    async def expired() -> bool:
        response = await admin.http.post(
            f"{sandbox.url}outcome",
            json={"orderSessionKey": "x"},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code == 401

    await wait_for(expired, 3.0, "the sandbox to expire the token", every=0.05)
    since = (await admin.journal())[-1]["seq"]
    body = evaluate_body()
    answer = await flex.evaluate(body)

    assert answer.status == "APPROVED"
    later = [e for e in await admin.journal() if e["seq"] > since]
    assert [(e["path"], e["status"]) for e in later] == [(EVALUATE, 401), (TOKEN, 200), (EVALUATE, 200)]
    assert {later[0]["idempotencyKey"], later[2]["idempotencyKey"]} == {body["idempotencyKey"]}
    assert flex.token_fetches == 2


async def test_wrong_credentials_raise_auth_failed(make_client: MakeClient, admin: Admin) -> None:
    flex = make_client(app_secret=SecretStr("not-the-secret"))
    with pytest.raises(FlexAuthFailed) as info:
        await flex.evaluate(evaluate_body())

    error = info.value
    assert error.status_code == 400
    assert error.retriable is False
    assert error.endpoint == "POST /v1/oauth2/token"
    assert "not-the-secret" not in str(error)
    journal = await admin.journal()
    assert [(e["path"], e["status"]) for e in journal] == [(TOKEN, 400)]  # no retry, no API call
    assert journal[0]["body"]["AppSecret"] == "***"
