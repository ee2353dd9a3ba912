"""Faust's topics reach their started producer without waiting three turns of the event loop.

Every record Faust produces (each order table change, sent to the table's changelog) goes through
``Topic.publish_message``, which first awaits ``Topic._get_producer``: ``App.maybe_start_producer``,
wrapped in mode's ``stampede``. That wrapper awaits ``asyncio.sleep(0)`` three times on every
call, even once the producer has long been started. So Faust's producer buffer, which sends its
records one after the other (``ProducerBuffer._handle_pending``), sends one per three turns of the
loop. On a busy worker it falls behind the agent writing the table, and once it holds more than
100 records Faust stops handing records to every agent until 100 more are sent, waiting up to
0.1 s for each ("producer buffer full" in the log).

:func:`_get_producer` returns the producer at once when it is started and no Faust transaction is
on (flexbridge uses none); otherwise it is Faust's, unchanged. Installed by
:func:`streams.runtime.faust_fixes.apply`.
"""

from __future__ import annotations

from typing import Any

from faust.topics import Topic

__all__ = ["install"]

_original = Topic._get_producer


async def _get_producer(self: Topic) -> Any:
    app = self.app
    producer = app.producer
    if producer.started and not app.in_transaction:
        return producer
    return await _original(self)


def install() -> None:
    Topic._get_producer = _get_producer  # type: ignore[method-assign]
