"""``flexbridge demo --keep``: after its run the stack stays up, its settings (no secrets) in
``stack.env``, so the operator verbs can be tried on it; SIGTERM (or Ctrl-C) stops it all, and the
demo checks that its worker stopped cleanly."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

import orjson
import pytest

from tests.support import child, flexbridge, run_flexbridge

pytestmark = pytest.mark.integration


async def test_the_demo_keeps_its_stack_up_for_the_operator_verbs(tmp_path: Path, log_dir: Path) -> None:
    work = tmp_path / "demo"
    demo = child("demo", flexbridge("demo", "--events", "40", "--keep", "--workdir", str(work)), {}, log_dir)
    try:
        await asyncio.to_thread(demo.wait_line, r"The stack stays up", 240)
        text = (work / "stack.env").read_text()
        env = {k: shlex.split(v)[0] for k, v in (line.split("=", 1) for line in text.splitlines())}
        assert "FLEXBRIDGE_MERCHANTS_FILE" in env and "SECRET" not in text and "APP_KEY" not in text
        code, out, err = await run_flexbridge(env, "dlq", "list", "--json")
        assert code == 0, err
        assert {g["reason"] for g in orjson.loads(out)["reasons"]} >= {"schema", "pan-detected"}
        for topic in ("payments.approved", "payments.declined"):  # the demo reconciled: none is lost
            code, out, err = await run_flexbridge(env, "replay", "--topic", topic, "--last", "1h", "--json")
            assert code == 0, err
            totals = orjson.loads(out)["totals"]
            assert totals["records"] > 0 and totals["noOutcome"] == 0, totals
    finally:
        code = await asyncio.to_thread(demo.stop)
    assert code == 0, demo.output()[-2000:]  # 1 also when an agent or a task crashed in its worker
    assert "worker stopped cleanly: no agent or task crashed in it" in demo.output()
