"""Response files written by the test itself: the sandbox processes an uploaded batch file (its
orders exist) but withholds its answer, and the test writes Flex's answer into the outbound folder,
whole, in part, or with rows the uploaded file never had."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from sandbox import RunningSandbox
from schemas.batch import RESPONSE_COLUMNS, RESPONSE_SUFFIX
from tests.support import wait_for


def folders(sandbox: RunningSandbox) -> tuple[Path, Path]:
    """The one SFTP user's inbound and outbound folders, as the sandbox sees them on disk."""
    assert sandbox.sftp is not None
    [user] = sandbox.sftp.server.users.values()
    return user.inbound, user.outbound


def withhold_next(sandbox: RunningSandbox) -> None:
    """The next batch file is processed (its orders created) without a response file."""
    assert sandbox.sftp is not None
    sandbox.sftp.withhold = 1


async def until_withheld(sandbox: RunningSandbox) -> str:
    """The name of the batch file the sandbox processed without answering."""
    assert sandbox.sftp is not None
    sftp = sandbox.sftp

    async def withheld() -> str | None:
        return sftp.withheld[0] if sftp.withheld else None

    return await wait_for(withheld, 20, "the sandbox to process the batch file without answering")


def rows_for(sandbox: RunningSandbox, data_file: str) -> list[dict[str, Any]]:
    """The rows Flex would answer for ``data_file``: one SUBMITTED per record, with its order's key."""
    inbound, _ = folders(sandbox)
    records = json.loads((inbound / "processed" / data_file).read_bytes())["records"]
    keys = {o.order_id: o.order_session_key for o in sandbox.state.orders.all()}
    return [
        {
            "sequenceNumber": r["sequenceNumber"],
            "orderId": r["orderId"],
            "idempotencyKey": r["idempotencyKey"],
            "status": "SUBMITTED",
            "orderSessionKey": keys[r["orderId"]],
        }
        for r in records
    ]


def response_name(data_file: str) -> str:
    return data_file.removesuffix(".json") + RESPONSE_SUFFIX


def write_response(sandbox: RunningSandbox, data_file: str, rows: list[dict[str, Any]]) -> str:
    """Write ``rows`` as ``data_file``'s response (temporary name, then rename, as Flex does)."""
    _, outbound = folders(sandbox)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RESPONSE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    name = response_name(data_file)
    scratch = outbound / f".{name}.part"
    scratch.write_text(out.getvalue())
    os.replace(scratch, outbound / name)
    return name


async def until_done(sandbox: RunningSandbox, names: list[str]) -> None:
    """Until ``outbound/done/`` holds exactly these files (the poller moves a file there after
    publishing its rows)."""
    _, outbound = folders(sandbox)
    done = outbound / "done"

    async def filed() -> bool:
        return done.is_dir() and sorted(p.name for p in done.iterdir()) == sorted(names)

    await wait_for(filed, 20, f"outbound/done/ to hold {names}", every=0.1)
