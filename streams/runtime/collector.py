"""The garbage collector of a running worker: collect once started, freeze what is left, collect the
young generation less often (:func:`settle_gc`). ``flexbridge worker`` calls it once Faust has started
(worker.py); ``python -m bench.mit_path``, which stands in for a worker's batch path, once that path
has started."""

from __future__ import annotations

import gc

__all__ = ["GC_YOUNG_THRESHOLD", "settle_gc"]

# Young-generation threshold once started (CPython's default is 700): a collection every few hundred
# events instead of every few, so the objects of records in flight are not traversed, and promoted
# towards the old generation, again and again.
GC_YOUNG_THRESHOLD = 10_000


def settle_gc() -> None:
    """Once the worker has started: collect, then move every object left (modules, Faust, the
    clients: a few hundred thousand) out of the collector's reach for good (``gc.freeze``), and
    collect the young generation less often. Measured on the evaluate benchmark, a full collection
    of that heap held the event loop for 0.2 to 1.2 s, and each decision waiting behind it."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
