"""A merchant's app secret rotated without a restart: when Flex refuses the secret in use and the
merchant's ``app_secret_file`` now holds another, the client asks again with that one and keeps it
(against the sandbox serving three merchants, each with its own credentials)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from consumers.flex.client import FlexAuthFailed, FlexClient
from core.merchants import load_merchants
from core.settings import Settings
from tests.integration.flex.support import TOKEN
from tests.sandbox.merchants_support import ACME, CORA, merchants_sandbox
from tests.support import wait_for

pytestmark = pytest.mark.integration


async def test_a_secret_rotated_in_its_file_is_taken_at_the_next_refusal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with merchants_sandbox(tmp_path / "sandbox") as sandbox:
        mounted = tmp_path / "mounted" / "app_secret"  # the worker's mounted secret, still the old one
        mounted.parent.mkdir()
        mounted.write_text("the-secret-before-the-rotation\n")
        text = (tmp_path / "sandbox" / "merchants.toml").read_text()
        path = tmp_path / "worker.toml"
        path.write_text(text.replace(str(tmp_path / "sandbox" / "cora_app_secret"), str(mounted)))
        settings = Settings.model_validate({"merchants_file": path, "flex": {"base_url": sandbox.url}})
        merchants = load_merchants(settings)
        cora, acme = merchants.by_name("cora"), merchants.by_name("acme")
        assert cora is not None and acme is not None and cora.app_secret_file == mounted
        async with FlexClient(settings.flex) as flex:
            with pytest.raises(FlexAuthFailed):
                await flex.for_merchant(cora).ensure_token()  # the file holds nothing else yet

            mounted.write_text(f"{CORA.app_secret}\n")  # the rotation reaches the mounted file

            async def token() -> str | None:
                try:
                    return await flex.for_merchant(cora).ensure_token()
                except FlexAuthFailed:
                    return None  # the refusal is held a moment before Flex is asked again

            with caplog.at_level(logging.WARNING, logger="consumers.flex.client"):
                bearer = await wait_for(token, 30, "a token with the secret read again")
            assert await flex.for_merchant(acme).ensure_token()  # an inline secret: nothing to read
        async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as http:
            asked = (await http.get("/_sandbox/requests", params={"path": TOKEN})).json()["requests"]
    # refused with the old secret (at first, and once more after the refusal's hold), then granted
    assert [call["status"] for call in asked] == [400, 400, 200, 200]  # the last one acme's
    assert bearer
    said = [r.getMessage() for r in caplog.records]
    assert f"Flex took the app secret read again from {mounted}" in said[-1]
    assert all(CORA.app_secret not in line and ACME.app_secret not in line for line in said)
