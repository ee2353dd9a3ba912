"""Which files recorded by a previous owner before their rename (uploaded.py) reached Flex's inbound
folder: decided on every assignment, before the partitions count as held (path.py).

A recorded file ``NAME`` whose temporary ``.NAME.part`` is no longer in the inbound folder was
renamed: its range stays, its records are skipped and its registry entry reconciles it. A
``.NAME.part`` still there does not prove the contrary: the previous owner's rename may have been
sent and still be queued or running at the server (the worker stopped or was killed meanwhile, or
a rebalance cancelled its upload after the drain timeout: cancelling the task does not call the
request back). Were the file rebuilt while that rename can still land, Flex would take it twice.
So the new owner removes ``.NAME.part`` itself, and the server decides which came first: a
rename and a removal of one file are each atomic there, so exactly one of them finds it.

- The removal finds it: no rename of it can land any more (its source is gone). Flex never saw
  ``NAME``: the range is dropped (written at once, so a later owner does not skip the records),
  then the registry entry is forgotten, and the records go into ``NAME`` again.
- The removal does not find it (the old rename landed between the listing and the removal): the
  file was renamed, exactly as if the listing had not shown the part.
- The removal fails otherwise (after the retries an outage gets, e.g. no permission to remove):
  the file is taken as renamed. Its records are not sent again; if it really never reached Flex
  they are reported ``FAILED no-batch-result`` after the result timeout (never a second file).

A worker killed after the removal and before the range is written leaves a range whose part is
gone: the next owner takes the file as renamed and its records are reported missing, not sent.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Sequence

from aiokafka import TopicPartition

from consumers.retry import OUTAGE, retry
from consumers.sftp.accounts import SftpAccounts
from consumers.sftp.errors import SftpError
from consumers.sftp.registry import BatchRegistry
from core.merchants import Merchant
from schemas.batch import temp_name
from streams.kafka.errors import kafka_op
from streams.runtime.batch.uploaded import Uploaded, UploadedJournal

__all__ = ["Reclaim"]

log = logging.getLogger(__name__)


class Reclaim:
    """Settles the files recorded before their rename for the partitions just read back."""

    def __init__(
        self,
        merchants: Sequence[Merchant],
        sftp: SftpAccounts,
        inbound_dir: str,
        registry: BatchRegistry,
        journal: UploadedJournal,
    ) -> None:
        self._merchants, self._sftp, self._inbound = merchants, sftp, inbound_dir
        self._registry, self._journal = registry, journal

    async def settle(self, loaded: dict[TopicPartition, Uploaded]) -> int:
        """Drop the ranges of ``loaded``'s files that never reached the inbound folder (and never
        can now); returns how many."""
        listed: dict[str, set[str]] = {}  # by merchant: the inbound folder's names, listed once
        dropped = 0
        for tp, uploaded in loaded.items():
            for merchant, name in uploaded.named():
                if merchant not in listed:
                    listed[merchant] = await self._inbound_names(merchant)
                if temp_name(name) in listed[merchant] and await self._removed(merchant, name):
                    uploaded.drop(merchant, name)
                    await self._journal.write_uploaded(tp, uploaded.encode(0))
                    await self._discard(name)
                    dropped += 1
                    log.info("batch file %s was never renamed into place: its records are read again", name)
        return dropped

    async def _removed(self, merchant_name: str, name: str) -> bool:
        """Whether this removal of ``.NAME.part`` found it (then no old rename can land)."""
        client = self._sftp.client(self._merchant(merchant_name))
        path = posixpath.join(self._inbound, temp_name(name))
        try:
            found = await retry(lambda: client.remove(path), OUTAGE, what="stale part removal", log=log)
        except SftpError as exc:
            log.error("%s could not be removed (%s): %s is taken as renamed", path, exc, name)
            return False
        if not found:
            log.info("%s was renamed into place while its owner was gone: not sent again", name)
        return found

    async def _discard(self, name: str) -> None:
        discard = kafka_op(lambda: self._registry.discard(name))
        await retry(discard, OUTAGE, what="forgetting a batch registry entry", log=log)

    def _merchant(self, name: str) -> Merchant:
        return next(m for m in self._merchants if m.name == name)

    async def _inbound_names(self, merchant_name: str) -> set[str]:
        if not any(m.name == merchant_name for m in self._merchants):
            return set()  # no longer routed to SFTP here: nothing of it is read into a file
        client = self._sftp.client(self._merchant(merchant_name))
        files = await retry(lambda: client.listdir(self._inbound), OUTAGE, what="inbound listing", log=log)
        return {f.name for f in files}
