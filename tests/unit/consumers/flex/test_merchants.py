"""FlexClient per merchant: one token cache each (single flight per merchant, a 401 refreshes that
merchant's token only), the merchant's own credentials and mid, one set of connection pools."""

from __future__ import annotations

import asyncio

import httpx
import orjson
from pydantic import SecretStr

from consumers.flex.client import FlexAuthFailed, FlexClient
from consumers.flex.merchant import FlexObservers
from core.merchants import Merchant
from tests.unit.consumers.flex.test_tokens import FakeFlex, FakeTime, client


def merchant(name: str, mid: str, secret: str | None = None) -> Merchant:
    return Merchant(
        mid=mid,
        name=name,
        site_id=f"site-{name}",
        app_key=SecretStr(f"key-{name}"),
        app_secret=SecretStr(secret or f"secret-{name}"),
    )


ACME, GLOBEX = merchant("acme", "mid-acme"), merchant("globex", "mid-globex")


class PerMerchantFlex(FakeFlex):
    """Issues ``tok-<AppKey>-<n>``; answers 401 to a token listed in ``revoked``."""

    def __init__(self, time: FakeTime) -> None:
        super().__init__(time)
        self.revoked: set[str] = set()
        self.fetched: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            key = orjson.loads(request.content)["AppKey"]
            self.fetched.append(key)
            for _ in range(5):  # let concurrent callers pile up behind each merchant's lock
                await asyncio.sleep(0)
            if key == "key-refused":
                return httpx.Response(401, json={"AppKey": ["invalid"]})
            expires = int((self.time.wall() + 600) * 1000)
            return httpx.Response(
                200, json={"accessToken": f"tok-{key}-{self.fetched.count(key)}", "expires": expires}
            )
        self.api_requests.append(request)
        if request.headers["Authorization"].removeprefix("Bearer ") in self.revoked:
            return httpx.Response(401)
        return httpx.Response(200, json={"orderSessionKey": "osk", "status": "APPROVED"})


async def test_each_merchant_fetches_its_own_token_once_under_concurrent_calls() -> None:
    flex = PerMerchantFlex(FakeTime())
    async with client(flex) as api:
        acme, globex = api.for_merchant(ACME), api.for_merchant(GLOBEX)
        calls = [m.evaluate({"idempotencyKey": str(i)}) for i in range(50) for m in (acme, globex)]
        await asyncio.gather(*calls)
        assert api.for_merchant(ACME) is acme  # made once, then kept
        assert (acme.token_fetches, globex.token_fetches, api.token_fetches) == (1, 1, 0)
    assert sorted(flex.fetched) == ["key-acme", "key-globex"]
    tokens = {r.headers["Authorization"] for r in flex.api_requests}
    assert tokens == {"Bearer tok-key-acme-1", "Bearer tok-key-globex-1"}


async def test_a_401_refreshes_that_merchants_token_only() -> None:
    flex = PerMerchantFlex(FakeTime())
    async with client(flex) as api:
        acme, globex = api.for_merchant(ACME), api.for_merchant(GLOBEX)
        await asyncio.gather(acme.ensure_token(), globex.ensure_token())
        flex.revoked.add("tok-key-acme-1")
        await asyncio.gather(*(acme.evaluate({"idempotencyKey": str(i)}) for i in range(20)))
        await globex.evaluate({"idempotencyKey": "g"})
        assert (acme.token_fetches, globex.token_fetches) == (2, 1)
    assert flex.fetched == ["key-acme", "key-globex", "key-acme"]


async def test_a_merchant_whose_credentials_are_refused_fails_alone() -> None:
    flex = PerMerchantFlex(FakeTime())
    refused = merchant("refused", "mid-refused").model_copy(update={"app_key": SecretStr("key-refused")})
    async with client(flex) as api:
        bad = api.for_merchant(refused)
        results = await asyncio.gather(
            bad.evaluate({"idempotencyKey": "b"}), api.for_merchant(ACME).evaluate({}), return_exceptions=True
        )
    assert isinstance(results[0], FlexAuthFailed) and 'merchant "refused"' in str(results[0])
    assert not isinstance(results[1], BaseException)


async def test_the_merchants_mid_goes_to_tokenize_and_the_settings_merchant_is_the_client_itself() -> None:
    flex = PerMerchantFlex(FakeTime())
    settings_merchant = Merchant(
        mid="mid-1", name="default", app_key=SecretStr("app-key-1"), app_secret=SecretStr("app-secret-1")
    )
    async with client(flex) as api:
        assert api.for_merchant(settings_merchant) is api
        flex.api = None
        view = api.for_merchant(ACME)
        assert view.credentials.mid == "mid-acme" and view.credentials.site_id == "site-acme"
        try:
            await view.tokenize({"number": "x"})
        except Exception:  # noqa: BLE001, S110  # the fake answers no token; only the request matters
            pass
    assert flex.api_requests[-1].url.params["mid"] == "mid-acme"


async def test_views_share_the_connection_pools_and_only_the_owner_closes_them() -> None:
    flex = PerMerchantFlex(FakeTime())
    api = client(flex)
    view = api.for_merchant(ACME)
    await view.aclose()  # a view does not close the shared pools
    await view.evaluate({"idempotencyKey": "v"})
    await api.aclose()
    assert view._shared.http is api._shared.http and api._shared.http.is_closed


async def test_observers_are_made_per_merchant() -> None:
    flex = PerMerchantFlex(FakeTime())
    calls: list[tuple[str, str, int | str]] = []

    def observers(name: str) -> FlexObservers:
        return FlexObservers(on_call=lambda endpoint, status, _s: calls.append((name, endpoint, status)))

    api = FlexClient(
        client(flex)._shared.settings,
        transport=httpx.MockTransport(flex),
        clock=flex.time.monotonic,
        wall_clock=flex.time.wall,
        sleep=flex.time.sleep,
        observers_for=observers,
    )
    async with api:
        await api.for_merchant(GLOBEX).evaluate({"idempotencyKey": "g"})
    assert [c[0] for c in calls] == ["globex", "globex"]  # the token call, then /evaluate
    assert calls[-1][1:] == ("POST /v1/evaluate", 200)
