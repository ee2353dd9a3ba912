"""The operator verbs with Kafka out of reach: one line naming the setting and exit 2, not a
traceback, and no client left open behind."""

from __future__ import annotations

import pytest

from streams.local.procs import free_port
from tests.support import run_flexbridge

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "verb",
    [
        ("dlq", "list"),
        ("dlq", "show", "0:0"),
        ("dlq", "redrive", "--reason", "schema"),
        ("replay", "--topic", "payments.declined", "--last", "1h"),
        ("reconcile",),
    ],
    ids=lambda verb: " ".join(verb[:2]),
)
async def test_an_unreachable_broker_is_one_line_naming_the_setting(verb: tuple[str, ...]) -> None:
    env = {"FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    code, _, err = await run_flexbridge(env, *verb)
    assert code == 2, err
    assert "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS" in err.splitlines()[-1], err
    assert "Traceback" not in err and "Unclosed" not in err, err
