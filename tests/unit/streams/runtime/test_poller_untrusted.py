"""The poller trusts neither the names nor the sizes of the response files Flex's server lists:
an unsafe name is never joined into a path, and a file too large for a response is not read."""

from __future__ import annotations

import logging

import pytest

from consumers.sftp.client import RemoteFile
from consumers.sftp.registry import BatchRegistry
from schemas.batch import RESPONSE_MAX_BYTES
from streams.runtime.metrics import Metrics
from tests.unit.streams.runtime.poller_support import (
    FILE,
    OUT,
    RESPONSE,
    Clock,
    MemorySftp,
    history,
    poller,
    records,
    response,
)

UNSAFE = ["../x.response.csv", "sub/y.response.csv", "..\\z.response.csv", ".hidden.response.csv"]
BAD = 'flexbridge_batch_bad_responses_total{merchant="default"}'


class ServerSftp(MemorySftp):
    """Lists what a server may: extra names, and sizes other than the content's; records what the
    poller renames and reads."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.extra: dict[str, list[str]] = {}  # directory → names listed there beside its files
        self.listed_sizes: dict[str, int] = {}
        self.renamed: list[str] = []
        self.reads: list[tuple[str, int]] = []

    async def listdir(self, directory: str) -> list[RemoteFile]:
        found = await super().listdir(directory)
        found = [RemoteFile(f.name, self.listed_sizes.get(f.name, f.size), f.mtime) for f in found]
        return found + [RemoteFile(n, 10, 0.0) for n in self.extra.get(directory, [])]

    async def rename(self, source: str, target: str) -> bool:
        self.renamed.append(source)
        return await super().rename(source, target)

    async def read(self, path: str, max_bytes: int) -> bytes:
        self.reads.append((path, max_bytes))
        return await super().read(path, max_bytes)


def setup() -> tuple[Clock, ServerSftp, Metrics, BatchRegistry]:
    clock = Clock()
    sftp = ServerSftp(clock)
    registry = BatchRegistry(clock=clock)
    registry.add(FILE, records(2))
    return clock, sftp, Metrics(), registry


async def test_a_response_name_with_a_slash_backslash_or_leading_dot_is_left_warned_once_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, sftp, metrics, registry = setup()
    polling = poller(clock, sftp, registry, metrics)
    sftp.extra[OUT] = [*UNSAFE, ".partial"]  # the last matches no response pattern: not one of its files
    sftp.extra[f"{OUT}/processing"] = UNSAFE  # old enough to be reclaimed, were they claims
    sftp.put(RESPONSE, response([(1, "O-1"), (2, "O-2")]))
    clock.now = 1010.0
    with caplog.at_level(logging.WARNING):
        await polling.round()
        await polling.round()
    assert history(polling) == [("O-1", "SUBMITTED", "evt-1"), ("O-2", "SUBMITTED", "evt-2")]
    assert not [path for path in sftp.renamed if any(name in path for name in UNSAFE)]
    warned = [r.getMessage() for r in caplog.records if "left there" in r.getMessage()]
    assert len(warned) == len(UNSAFE) and "'../x.response.csv'" in warned[0]
    assert f"{BAD} 4.0" in metrics.render().decode()


async def test_a_file_listed_larger_than_a_response_can_be_goes_to_error_unread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, sftp, metrics, registry = setup()
    polling = poller(clock, sftp, registry, metrics)
    content = response([(1, "O-1"), (2, "O-2")])
    sftp.put(RESPONSE, content)
    sftp.listed_sizes[RESPONSE] = RESPONSE_MAX_BYTES + 1
    clock.now = 1010.0
    with caplog.at_level(logging.ERROR):
        await polling.round()
    assert sftp.reads == [] and history(polling) == []
    assert sftp.under("error") == {RESPONSE: content}
    assert f"{RESPONSE_MAX_BYTES + 1} bytes listed, larger than a response of 2000 rows" in caplog.text
    assert f"{BAD} 1.0" in metrics.render().decode()


async def test_a_file_larger_than_listed_is_read_no_further_than_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("streams.runtime.batch.responses.RESPONSE_MAX_BYTES", 100)
    clock, sftp, metrics, registry = setup()
    polling = poller(clock, sftp, registry, metrics)
    content = response([(1, "O-1"), (2, "O-2")])
    assert len(content) > 100
    sftp.put(RESPONSE, content)
    sftp.listed_sizes[RESPONSE] = 50  # the listing said less than the file holds
    clock.now = 1010.0
    await polling.round()
    assert [limit for _, limit in sftp.reads] == [100]  # 101 bytes at most
    assert history(polling) == [] and sftp.under("error") == {RESPONSE: content}
