"""What the sandbox keeps for a long run (its journal, its idempotency records) is held in bytes of
its own size: orjson's bytes keep the whole buffer they were written in, at least 4 KB each."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

from sandbox.idempotency import IdempotencyStore, fingerprint
from sandbox.journal import Journal
from sandbox.wire import json_response

COUNT = 2000


def _held(work: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        work()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return held


def test_the_journal_holds_its_entries_in_about_their_size() -> None:
    journal = Journal(limit=COUNT)
    entries = [
        journal.open("POST", "/v1/evaluate", {}, {"orderId": f"ORD-{i}"}, f"key-{i}") for i in range(COUNT)
    ]

    def close_all() -> None:
        for entry in entries:
            entry.status = 200
            journal.close(entry)

    held = _held(close_all)
    json_bytes = sum(len(raw) for _, _, raw in journal._entries)
    assert len(journal.entries()) == COUNT
    assert held < 2 * json_bytes, f"{held / COUNT:.0f} bytes an entry for {json_bytes / COUNT:.0f} of JSON"


def test_an_idempotency_record_holds_its_fingerprint_and_answer_in_about_their_size() -> None:
    store = IdempotencyStore(window_seconds=3600)
    calls = [
        (f"key-{i}", {"orderid": f"ORD-{i}", "amount": 1250}, json_response({"orderSessionKey": f"sk-{i}"}))
        for i in range(COUNT)
    ]

    def save_all() -> None:
        for key, body, response in calls:
            store.save(key, fingerprint("evaluate", None, body), response)

    held = _held(save_all)
    kept = [store.lookup(key) for key, _, _ in calls]
    json_bytes = sum(len(r.fingerprint) + len(r.body) for r in kept if r is not None)
    assert len(store) == COUNT
    assert held < 3 * json_bytes, f"{held / COUNT:.0f} bytes a record for {json_bytes / COUNT:.0f} of JSON"
