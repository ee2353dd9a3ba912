"""ShardedTransport over real HTTP: small pools used in turn, together as many connections as asked."""

from __future__ import annotations

import asyncio

import httpx
from aiohttp import web

from consumers.flex.network import AsyncioBackend
from consumers.flex.pool import ShardedTransport
from streams.local.procs import free_port


async def test_requests_spread_over_pools_of_at_most_shard_size_connections() -> None:
    peers: set[int] = set()
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        if len(peers) == 8:
            arrived.set()
        await release.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", held)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    transport = ShardedTransport(8, shard_size=4)
    try:
        assert len(transport.shards) == 2
        assert transport.shards[0]._pool._ssl_context is transport.shards[1]._pool._ssl_context  # built once
        assert all(isinstance(shard._pool._network_backend, AsyncioBackend) for shard in transport.shards)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}") as http:
            calls = [asyncio.create_task(http.get("/")) for _ in range(8)]
            await asyncio.wait_for(arrived.wait(), 10)  # 8 requests in flight on 8 connections at once
            assert [len(shard._pool.connections) for shard in transport.shards] == [4, 4]
            release.set()
            assert [r.status_code for r in await asyncio.gather(*calls)] == [200] * 8
    finally:
        await runner.cleanup()
