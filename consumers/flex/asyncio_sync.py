"""httpcore's locks and cancellation shields on plain asyncio, for flexbridge's Flex client.

On every request httpcore takes three locks (the connection's request lock, then its HTTP/1.1 state
lock twice) and enters three scopes shielded from cancellation, all anyio's on asyncio:
- an uncontended anyio lock still yields to the event loop once, so that other tasks may run. A
  request through flexbridge's transport took 5 rounds of the event loop instead of 2, and on a
  busy loop each round waits behind every callback ready to run;
- anyio's shield protects only from anyio's own cancel scopes. A native asyncio cancellation
  (``task.cancel()``, ``asyncio.timeout``: what flexbridge uses) goes through it anyway, so it did
  nothing here but cost a scope (and an async-library lookup) each time.

:func:`install` puts asyncio's own lock and a shield that does nothing in their place, in the
modules of httpcore's HTTP/1.1 path. It is process-wide: only for processes that run asyncio
alone (the worker, the CLI). httpx and httpcore are pinned; if httpcore renames what is replaced,
:func:`install` raises rather than leave anyio's in place unnoticed.
"""

from __future__ import annotations

import asyncio
from types import ModuleType, TracebackType

from httpcore._async import connection, connection_pool, http11

__all__ = ["Lock", "NoShield", "install"]


class Lock:
    """httpcore's ``AsyncLock`` interface on ``asyncio.Lock``: no yield when uncontended."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Lock:
        await self._lock.acquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()


class NoShield:
    """httpcore's ``AsyncShieldCancellation`` interface: asyncio's cancellation passes as it did."""

    __slots__ = ()

    def __enter__(self) -> NoShield:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


_REPLACED: tuple[tuple[ModuleType, str, type], ...] = (
    (connection, "AsyncLock", Lock),
    (http11, "AsyncLock", Lock),
    (http11, "AsyncShieldCancellation", NoShield),
    (connection_pool, "AsyncShieldCancellation", NoShield),
)


def install() -> None:
    """Replace httpcore's anyio locks and shields on its HTTP/1.1 path (idempotent)."""
    for module, name, replacement in _REPLACED:
        if not hasattr(module, name):
            raise RuntimeError(f"httpcore changed: {module.__name__}.{name} is gone (see {__name__})")
        setattr(module, name, replacement)
