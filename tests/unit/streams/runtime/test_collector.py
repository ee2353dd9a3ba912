"""The worker's garbage collector settings once started (streams/runtime/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.runtime.collector import GC_YOUNG_THRESHOLD, settle_gc


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as it was, restored after the test (settle_gc changes the whole process)."""
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_settle_gc_freezes_the_heap_and_collects_the_young_generation_less_often(collector: None) -> None:
    kept = [[i] for i in range(1000)]  # tracked containers alive before the call
    gc.unfreeze()
    _, middle, old = gc.get_threshold()
    settle_gc()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() >= len(kept)
    collectable = {id(o) for o in gc.get_objects()}  # frozen objects are out of the collector's reach
    assert not any(id(x) in collectable for x in kept)
