"""Every merchant's result poller (streams/runtime/batch/poller.py), on one staggered schedule.

Each merchant's outbound folder is polled through its own SFTP account: a merchant with files
awaiting results (or an upload within the idle interval) every
``FLEXBRIDGE_BATCH__POLL_INTERVAL_SECONDS``, any other every ``…__IDLE_POLL_INTERVAL_SECONDS``;
first polls are spread over the interval by a hash of the name (schedule.py). At most
``…__POLL_CONCURRENCY`` merchants are polled at once, and a merchant is never polled twice at once.
An idle merchant's connection is closed right after its poll; an active one's when no operation
used it for ``…__SFTP_IDLE_TIMEOUT_SECONDS`` (path.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Final

from consumers.sftp.accounts import SftpAccounts
from consumers.sftp.files import file_merchant
from consumers.sftp.registry import BatchRegistry
from core.merchants import Merchant, Merchants
from core.settings import BatchSettings
from schemas.batch import FileName
from streams.runtime.batch.poller import ResultPoller
from streams.runtime.batch.schedule import PollSchedule
from streams.runtime.deps import Deps
from streams.runtime.supervise import supervise, watch

__all__ = ["CONCURRENCY", "IDLE_POLLS", "ResultPolls"]

CONCURRENCY: Final[int] = BatchSettings().poll_concurrency  # merchants polled at once, by default
IDLE_POLLS: Final = 12  # an idle merchant is polled once per this many intervals, by default


class ResultPolls:
    def __init__(
        self,
        deps: Deps,
        settings: BatchSettings,
        outbound_dir: str,
        accounts: SftpAccounts,
        registry: BatchRegistry,
        *,
        merchants: list[Merchant],
        owns: Callable[[FileName], bool],
        last_upload: Mapping[str, float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        every = settings.poll_interval_seconds
        assert deps.merchants is not None  # the batch path checked  # noqa: S101
        everyone: Merchants = deps.merchants
        self._accounts, self._registry, self._clock = accounts, registry, clock
        self._labels = {file_merchant(m, everyone): m.name for m in merchants}
        self._clients = {m.name: accounts.client(m) for m in merchants}
        self.pollers = {
            m.name: ResultPoller(
                deps,
                settings,
                outbound_dir,
                self._clients[m.name],
                registry,
                owns,
                merchant=file_merchant(m, everyone),
                served=m,
            )
            for m in merchants
        }
        idle = settings.idle_poll_interval_seconds or every * IDLE_POLLS
        self._interval, self._idle = every, max(idle, every)
        self._schedule = PollSchedule(every, self._idle)
        self._slots = asyncio.Semaphore(settings.poll_concurrency)
        self._drain_timeout = settings.drain_timeout_seconds
        self._last_upload = last_upload
        self._uploads_seen: dict[str, float] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._schedule.add(self.pollers, self._clock())
        self._task = supervise("batch-results", self._loop)

    async def stop(self) -> None:
        """No round begins any more; those under way get the drain timeout to finish, so a response
        file a poller claimed is published and filed rather than left in ``processing/`` until the
        claim timeout (minutes) lets another worker take it. What is left then is cancelled."""
        scheduler, self._task = self._task, None
        late = [scheduler] if scheduler is not None else []
        if scheduler is not None:
            scheduler.cancel()
        running = list(self._running.values())
        if running:
            late += (await asyncio.wait(running, timeout=self._drain_timeout))[1]
        for task in late:
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            now = self._clock()
            self._hurry_uploaders(now)
            for name in self._schedule.due(now):
                if name not in self._running:
                    task = watch(asyncio.create_task(self._round(name), name=f"batch-results-{name}"))
                    self._running[name] = task
            await self._accounts.close_idle()
            next_at = self._schedule.next_at()
            wait = self._interval if next_at is None else min(self._interval, next_at - self._clock())
            await asyncio.sleep(max(wait, 0.01))

    def _hurry_uploaders(self, now: float) -> None:
        for name, at in list(self._last_upload.items()):
            if at > self._uploads_seen.get(name, float("-inf")):
                self._uploads_seen[name] = at
                self._schedule.hurry(name, now)

    async def _round(self, name: str) -> None:
        try:
            async with self._slots:
                handled = await self.pollers[name].round()
                active = handled > 0 or self._active(name)
                if not active:  # nothing to fetch for a while: hold no connection meanwhile
                    await self._clients[name].close_if_idle(0.0)  # unless an upload runs
            self._schedule.polled(name, self._clock(), active=active)
        finally:
            self._running.pop(name, None)

    def _active(self, name: str) -> bool:
        waiting = {self._labels.get(label) for label in self._registry.waiting()}
        uploaded = self._last_upload.get(name)
        recent = uploaded is not None and uploaded > self._clock() - self._idle
        return name in waiting or recent

    @property
    def handled(self) -> int:
        return sum(p.handled for p in self.pollers.values())

    @property
    def failed_files(self) -> int:
        return sum(p.failed_files for p in self.pollers.values())

    @property
    def missing(self) -> int:
        return sum(p.missing for p in self.pollers.values())

    @property
    def reclaimed(self) -> int:
        return sum(p.reclaimed for p in self.pollers.values())

    @property
    def polls(self) -> int:
        return sum(p.polls for p in self.pollers.values())

    @property
    def poll_failures(self) -> int:
        return sum(p.poll_failures for p in self.pollers.values())
