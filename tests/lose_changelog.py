"""A flexbridge worker that loses, once each, the records of the order table's changelog partition 0
that Faust's consumer hands out during a table recovery: taken from Kafka and handed to no one, one
of the ways a recovery can wait for ever for records (docs/chaos.md, streams/runtime/faust_recovery.py).
Run as ``python -m tests.lose_changelog worker …`` by tests/integration/runtime/test_recovery_restart.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from faust.transport.consumer import Consumer

from streams.cli import main
from streams.runtime.orders import ORDER_TABLE

log = logging.getLogger(__name__)
_CHANGELOG = f"-{ORDER_TABLE}-changelog"
_original_getmany = Consumer.getmany
_lost: set[int] = set()


async def _getmany(self: Consumer, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
    async for tp, message in _original_getmany(self, timeout):
        ours = tp.topic.endswith(_CHANGELOG) and tp.partition == 0
        if ours and self.app.in_recovery and message.offset not in _lost:
            _lost.add(message.offset)
            log.warning("lost changelog record %d:%d", tp.partition, message.offset)
            continue
        yield tp, message


Consumer.getmany = _getmany  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    raise SystemExit(main())
