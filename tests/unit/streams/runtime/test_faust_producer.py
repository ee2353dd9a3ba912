"""Faust's topics get their started producer without yielding to the event loop, and start it as
Faust does when it is not started (streams/runtime/faust_producer.py)."""

from __future__ import annotations

from typing import Any

import faust
import pytest

from streams.runtime import faust_producer


@pytest.fixture
def app() -> faust.App:
    faust_producer.install()
    return faust.App("faust-producer-test", broker="kafka://127.0.0.1:1", autodiscover=False)


def test_a_started_producer_is_returned_without_a_turn_of_the_loop(app: faust.App) -> None:
    topic = app.topic("orders.status")
    app.producer._started.set()  # as mode marks the producer once it has started
    step = topic._get_producer()
    with pytest.raises(StopIteration) as finished:
        step.send(None)  # the first step finishes: nothing is awaited
    assert finished.value.value is app.producer


async def test_a_producer_not_started_is_started_by_faust(
    app: faust.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []

    async def maybe_start_producer() -> Any:
        started.append(app.producer)
        return app.producer

    monkeypatch.setattr(app, "maybe_start_producer", maybe_start_producer)
    assert await app.topic("orders.status")._get_producer() is app.producer
    assert started == [app.producer]
