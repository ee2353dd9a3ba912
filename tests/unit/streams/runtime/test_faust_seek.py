"""Faust's recovery seek: an offset of None or below -1 reads the changelog partition from the
start instead of stopping the worker (streams/runtime/faust_fixes.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from faust.types import TP

from streams.runtime import faust_fixes


class _Consumer:
    def __init__(self) -> None:
        self.sought: dict[Any, int] = {}

    async def seek_wait(self, offsets: dict[Any, int]) -> None:
        self.sought = dict(offsets)


async def test_none_and_offsets_below_minus_one_seek_to_the_start() -> None:
    tps = [TP("orders-changelog", p) for p in range(4)]
    offsets: Counter[TP] = Counter({tps[0]: None, tps[1]: -2, tps[2]: -1, tps[3]: 41})
    consumer = _Consumer()
    await faust_fixes._seek_offsets(None, consumer, set(tps), offsets, "active")  # type: ignore[arg-type]
    assert consumer.sought == {tps[0]: 0, tps[1]: 0, tps[2]: 0, tps[3]: 41}
