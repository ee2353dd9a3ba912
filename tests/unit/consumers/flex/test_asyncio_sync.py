"""consumers/flex/asyncio_sync.py: httpcore's locks and shields on plain asyncio, over real sockets."""

from __future__ import annotations

import asyncio

import httpcore
import httpx
import pytest
from aiohttp import web

from consumers.flex import asyncio_sync
from consumers.flex.network import AsyncioBackend
from consumers.flex.pool import ShardedTransport
from tests.unit.consumers.flex.local_http import echo, request, serve


async def _rounds_per_request(pool: httpcore.AsyncConnectionPool, url: str, calls: int) -> float:
    """Rounds of the event loop per request, one request after another (the server runs in the
    same loop, so its rounds count too)."""
    await request(pool, url)  # connected
    loop = asyncio.get_running_loop()
    rounds = 0
    run_once = loop._run_once  # type: ignore[attr-defined]

    def counted() -> None:
        nonlocal rounds
        rounds += 1
        run_once()

    loop._run_once = counted  # type: ignore[attr-defined]
    try:
        for _ in range(calls):
            assert (await request(pool, url)).status == 200
    finally:
        del loop._run_once  # type: ignore[attr-defined]
    return rounds / calls


async def test_httpcore_locks_do_not_yield_to_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """anyio's uncontended lock yields once per acquisition, three times a request."""
    asyncio_sync.install()
    async with serve(echo) as port:
        url = f"http://127.0.0.1:{port}/"
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            ours = await _rounds_per_request(pool, url, 50)
        for module, name, _ in asyncio_sync._REPLACED:  # httpcore's own, on anyio
            monkeypatch.setattr(module, name, getattr(httpcore._synchronization, name))
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            anyio_locks = await _rounds_per_request(pool, url, 50)
    assert ours <= anyio_locks - 2.5, (ours, anyio_locks)


async def test_a_cancelled_request_leaves_its_pool_usable() -> None:
    """Without anyio's shields, a request cancelled while it waits for its answer still gives its
    connection up (closed: the answer would be out of step), and the next requests are served."""
    waiting, release = asyncio.Event(), asyncio.Event()

    async def slow_once(request: web.Request) -> web.Response:
        if request.query.get("slow"):
            waiting.set()
            await release.wait()
        return await echo(request)

    async with serve(slow_once) as port:
        transport = ShardedTransport(1, shard_size=1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", transport=transport) as http:
            call = asyncio.create_task(http.post("/", params={"slow": "1"}, content=b"x"))
            await asyncio.wait_for(waiting.wait(), 5)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            release.set()
            pool = transport.shards[0]._pool
            assert pool.connections == []  # its connection closed and removed
            answers = await asyncio.gather(*(http.post("/", content=b"x") for _ in range(10)))
            assert [a.status_code for a in answers] == [200] * 10  # queued for its one connection
            assert len(pool.connections) == 1


def test_install_refuses_an_httpcore_without_the_names_it_replaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(httpcore._async.http11, "AsyncShieldCancellation")
    with pytest.raises(RuntimeError, match=r"http11\.AsyncShieldCancellation is gone"):
        asyncio_sync.install()
