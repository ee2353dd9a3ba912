"""Faust's router views answer 404 for a name that is no table.

``GET /router/{name}/`` (which worker holds each partition of a table) looks the table up with
``Router._get_table``: ``app.tables[name]``. For a name that is no table the ``KeyError`` left
Faust's view, so aiohttp answered 500 and logged the traceback at error level, an error line
anyone with the admin token could cause by mistyping. ``GET /router/{name}/{key}/`` turned the same
``KeyError`` into 503 "service unavailable", as if the worker were not ready.

:func:`_get_table` raises Faust's own ``NotFound`` instead, which its views answer 404 with the
reason. A known table is looked up as before, so the order view's forwarding
(``Router.route_req``, streams/runtime/order_view.py) is unchanged. Installed by
:func:`streams.runtime.faust_fixes.apply`.
"""

from __future__ import annotations

from faust.app.router import Router
from faust.types import CollectionT
from faust.web.exceptions import NotFound

__all__ = ["install"]


def _get_table(self: Router, name: str) -> CollectionT:
    try:
        return self.app.tables[name]
    except KeyError:
        raise NotFound(f"no table named {name!r}") from None


def install() -> None:
    Router._get_table = _get_table  # type: ignore[method-assign]
