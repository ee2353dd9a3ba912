"""MerchantSlots: each merchant fills at most its share of the slots; a waiting record lends its
pipeline slot; nothing is kept for a merchant with nothing in flight."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from consumers.flex.slots import MerchantSlots


async def test_a_slow_merchant_fills_its_share_and_the_others_still_run() -> None:
    slots = MerchantSlots(total=8, share=0.5)
    release = asyncio.Event()
    running: dict[str, int] = {"slow": 0, "fast": 0}
    peak = 0

    async def work(merchant: str) -> None:
        nonlocal peak
        async with slots.hold(merchant):
            running[merchant] += 1
            peak = max(peak, running["slow"])
            if merchant == "slow":
                await release.wait()
            running[merchant] -= 1

    slow = [asyncio.create_task(work("slow")) for _ in range(20)]
    await asyncio.sleep(0)
    assert slots.size == 4 and running["slow"] == 4 and slots.in_use("slow") == 20
    await asyncio.wait_for(asyncio.gather(*(work("fast") for _ in range(10))), timeout=5)
    release.set()
    await asyncio.gather(*slow)
    assert peak == 4
    assert slots.merchants == 0 and slots.in_use("slow") == 0  # nothing kept once idle


async def test_a_record_waiting_for_its_share_lends_its_slot() -> None:
    lent: list[str] = []

    @contextlib.asynccontextmanager
    async def lend() -> AsyncIterator[None]:
        lent.append("out")
        yield
        lent.append("back")

    slots = MerchantSlots(total=2, share=0.5, lend=lend)
    inside = asyncio.Event()
    done = asyncio.Event()

    async def first() -> None:
        async with slots.hold("a"):
            inside.set()
            await done.wait()

    task = asyncio.create_task(first())
    await inside.wait()
    second = asyncio.create_task(_hold(slots, "a"))
    await asyncio.sleep(0)
    assert lent == ["out"]  # the second waits for a's share, its slot lent meanwhile
    done.set()
    await asyncio.gather(task, second)
    assert lent == ["out", "back"]


async def test_the_free_path_lends_nothing_and_one_merchant_may_use_every_slot() -> None:
    slots = MerchantSlots(total=3, share=1.0, lend=None)
    assert slots.size == 3
    await asyncio.gather(*(_hold(slots, "only") for _ in range(9)))
    assert slots.merchants == 0


async def test_a_cancelled_waiter_gives_nothing_away() -> None:
    slots = MerchantSlots(total=1, share=1.0)
    gate = asyncio.Event()

    async def holder() -> None:
        async with slots.hold("m"):
            await gate.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_hold(slots, "m"))
    await asyncio.sleep(0)
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    gate.set()
    await first
    assert slots.merchants == 0
    await asyncio.wait_for(_hold(slots, "m"), timeout=1)


async def _hold(slots: MerchantSlots, merchant: str) -> None:
    async with slots.hold(merchant):
        await asyncio.sleep(0)
