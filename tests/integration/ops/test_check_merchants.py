"""``flexbridge check``'s Flex check with a merchants file: one token per merchant, against the
sandbox in multi-merchant mode; a merchant whose secret is wrong is named with its file entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from streams.ops.check_flex import flex_checks
from tests.sandbox.merchants_support import merchants_sandbox

pytestmark = pytest.mark.integration


async def test_each_merchant_gets_a_token_and_a_refused_one_is_named(tmp_path: Path) -> None:
    async with merchants_sandbox(tmp_path / "sandbox") as sandbox:
        text = (tmp_path / "sandbox" / "merchants.toml").read_text()
        secret = tmp_path / "sandbox" / "cora_app_secret"
        path = tmp_path / "worker.toml"
        path.write_text(text.replace(f'app_secret_file = "{secret}"', 'app_secret = "wrong"'))
        settings = Settings.model_validate({"merchants_file": path, "flex": {"base_url": sandbox.url}})
        results = {r.name: r for r in await flex_checks(settings)}
    assert set(results) == {"flex token (acme)", "flex token (bolt)", "flex token (cora)"}
    assert results["flex token (acme)"].ok and results["flex token (bolt)"].ok
    cora = results["flex token (cora)"]
    assert not cora.ok and cora.setting == 'FLEXBRIDGE_MERCHANTS_FILE: merchant "cora" app_key, app_secret'
