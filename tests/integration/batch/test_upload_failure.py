"""An upload refused for a reason that does not pass by itself (permission denied on the rename), on
the real broker and the sandbox's SFTP server: the upload is tried again until the permission is
back, then the file goes up once and the partition's commit moves on (its records count in
``flexbridge_batch_consumer_lag``, and the seconds they waited in ``..._seconds``, until then)."""

from __future__ import annotations

import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from streams.runtime.batch.path import BatchPath
from tests.integration.batch.path_support import Running, log_of, publish_mit, settings_for, until_statuses
from tests.support import wait_for

pytestmark = pytest.mark.integration


def batch_lag(path: BatchPath, seconds: bool = False) -> dict[str, float]:
    """``flexbridge_batch_consumer_lag`` (or ``..._seconds``) by partition, as /metrics shows it."""
    gauge = path.metrics.batch_consumer_lag_seconds if seconds else path.metrics.batch_consumer_lag
    return {s.labels["partition"]: s.value for m in gauge.collect() for s in m.samples}


async def test_a_refused_rename_is_tried_again_until_it_is_allowed(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    assert sftp_sandbox.sftp is not None
    faults = sftp_sandbox.sftp.server.faults
    faults.deny_rename = ".json"  # the data file's rename, not its manifest's
    settings = settings_for(broker, sftp_sandbox, max_records=4, retry_max_seconds=0.2)
    orders = [f"U-{i}" for i in range(4)]
    async with Running(settings) as path:
        await publish_mit(settings, orders, partition_key="U")

        async def refused_again() -> bool:
            return faults.denied >= 3  # the upload did not stop at the first refusal

        await wait_for(refused_again, 20, "the rename to be refused three times")
        stats = path.stats()
        assert stats["uploading"] == 1 and stats["oldest_unuploaded_seconds"] > 0
        [(name, error)] = stats["uploads_failing"].items()
        assert name.endswith(".json") and "SFTPPermissionDenied" in error
        failures = path.metrics.batch_upload_failures.labels("default", "SFTPPermissionDenied")
        assert failures._value.get() >= 2
        assert sorted(batch_lag(path).values()) == [0.0, 4.0]  # the file's partition: none committed
        [stuck] = [int(p) for p, lag in batch_lag(path).items() if lag]

        async def waiting() -> list[float] | None:
            path.stats()  # its records have waited since the end passed its commit, the other none
            waited = sorted(batch_lag(path, seconds=True).values())
            return waited if len(waited) == 2 and waited[0] == 0.0 and waited[1] > 0.0 else None

        await wait_for(waiting, 20, "the file's partition to count seconds waited")
        faults.deny_rename = None  # the permission is given back
        await until_statuses(settings, "SUBMITTED", 4)

        async def committed() -> bool:
            part = next(p for p in path.consumer._parts.values() if p.tp.partition == stuck)
            return part.committed == 4

        await wait_for(committed, 20, "the partition committed past the file")
        stats = path.stats()
        assert stats["uploading"] == 0 and stats["uploads_failing"] == {}
        assert set(batch_lag(path).values()) == {0.0}  # every held partition (refreshed by stats)
        assert set(batch_lag(path, seconds=True).values()) == {0.0}
        assert path.consumer.uploader.files == 1
    assert [(e["records"], e["accepted"]) for e in log_of(sftp_sandbox)] == [(4, 4)]  # one submission
    assert sorted(o.order_id for o in sftp_sandbox.state.orders.all()) == orders
    async with Running(settings) as path:  # the next owner counts from the committed offset

        async def caught_up() -> dict[str, float] | None:
            path.stats()  # refreshes the gauges, as /metrics does
            lag = batch_lag(path)
            return lag if len(lag) == 2 and set(lag.values()) == {0.0} else None

        await wait_for(caught_up, 20, "the next owner's lag of every partition to be 0")
