"""Each merchant's share of the in-flight slots, so one merchant's flood or slowness leaves room for the rest.

A worker handles up to ``total`` records at once (the keyed pipeline's slots). With many merchants,
each may use at most ``share`` of them for its Flex calls: a merchant whose calls are slow or
retried until their deadline fills its own share, not the whole worker. A record that must wait for
its merchant's share lends its pipeline slot to other records meanwhile (``lend``, e.g.
:meth:`streams.runtime.pipeline.KeyedPipeline.lend_slot`), so the others' records still start.
Semaphores are made on first use and dropped when their merchant has nothing in flight: nothing is
kept per idle merchant.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Final

__all__ = ["MERCHANT_SHARE", "Lend", "MerchantSlots"]

MERCHANT_SHARE: Final = 0.5  # of the slots one merchant may fill when several are configured

Lend = Callable[[], AbstractAsyncContextManager[None]]


class MerchantSlots:
    """``async with slots.hold(name):`` around a merchant's work; at most ``size`` at once per merchant."""

    def __init__(self, total: int, share: float = MERCHANT_SHARE, lend: Lend | None = None) -> None:
        self.size = max(1, math.ceil(total * share))
        self.lend = lend
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}  # holders and waiters, by merchant

    def in_use(self, merchant: str) -> int:
        """How many records of ``merchant`` hold or wait for its share now."""
        return self._users.get(merchant, 0)

    @property
    def merchants(self) -> int:
        """How many merchants have something in flight (each has a semaphore only meanwhile)."""
        return len(self._semaphores)

    @contextlib.asynccontextmanager
    async def hold(self, merchant: str) -> AsyncIterator[None]:
        semaphore = self._semaphores.get(merchant)
        if semaphore is None:
            semaphore = self._semaphores[merchant] = asyncio.Semaphore(self.size)
        self._users[merchant] = self._users.get(merchant, 0) + 1
        try:
            await self._acquire(semaphore)
            try:
                yield
            finally:
                semaphore.release()
        finally:
            self._users[merchant] -= 1
            if not self._users[merchant]:
                del self._users[merchant], self._semaphores[merchant]

    async def _acquire(self, semaphore: asyncio.Semaphore) -> None:
        if not semaphore.locked() or self.lend is None:
            await semaphore.acquire()
            return
        acquired = False
        try:
            async with self.lend():  # waiting for the merchant's share: the others may use our slot
                await semaphore.acquire()
                acquired = True
        except BaseException:  # e.g. cancelled while taking the slot back: give the share back
            if acquired:
                semaphore.release()
            raise
