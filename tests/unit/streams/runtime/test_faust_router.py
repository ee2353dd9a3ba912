"""Faust's router views answer 404 for a name that is no table, and look a table up as before
(streams/runtime/faust_router.py)."""

from __future__ import annotations

import faust
import pytest
from faust.web.exceptions import NotFound

from streams.runtime import faust_router


@pytest.fixture
def app() -> faust.App:
    faust_router.install()
    return faust.App("faust-router-test", broker="kafka://127.0.0.1:1", autodiscover=False)


def test_a_name_that_is_no_table_is_not_found(app: faust.App) -> None:
    with pytest.raises(NotFound) as missing:
        app.router.table_metadata("nope")
    assert missing.value.code == 404
    assert "no table named 'nope'" in str(missing.value.detail)


def test_a_key_of_a_name_that_is_no_table_is_not_found(app: faust.App) -> None:
    with pytest.raises(NotFound):  # not the KeyError Faust answers 503 "service unavailable"
        app.router.key_store("nope", "ORD-1")


def test_a_table_is_looked_up_as_before(app: faust.App) -> None:
    table = app.Table("orders", partitions=4)
    assert app.router._get_table("orders") is table
