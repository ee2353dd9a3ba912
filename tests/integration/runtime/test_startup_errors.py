"""A worker that cannot run stops at once with a message naming the setting to change."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.support import run_flexbridge

pytestmark = pytest.mark.integration


async def test_a_broker_refusing_the_idempotent_producer_names_the_setting(stack: Stack) -> None:
    env = {**stack.env, "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "true"}  # the embedded broker refuses it
    code, _, err = await run_flexbridge(env, "worker")
    assert code == 2, err
    assert "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE=false" in err
    assert "UnknownError()" not in err.splitlines()[-1]
