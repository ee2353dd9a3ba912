"""A transport that spreads Flex calls over several small httpx connection pools.

httpcore 1.0's connection pool does work proportional to its size on every request start and
finish (``_assign_requests_to_connections``). With one pool of a few hundred connections that
bookkeeping dominated the worker's CPU: 145 transmits/s at 256 in flight against a 50 ms API.
Pools of at most ``shard_size`` connections, used in turn, keep it small. Each request still
asks every idle connection of its pool whether it has expired (with httpcore's default backend, a
socket poll each): shards of 4 instead of 16 took the transmit benchmark from 258 to 402
approvals/s on the same machine.

Each pool reaches the network through :class:`~consumers.flex.network.AsyncioBackend` (plain
asyncio) rather than httpcore's default on anyio, and takes asyncio's own locks
(:mod:`consumers.flex.asyncio_sync`).
"""

from __future__ import annotations

import itertools
import math
import ssl

import httpcore
import httpx

from consumers.flex import asyncio_sync
from consumers.flex.network import AsyncioBackend

__all__ = ["ShardedTransport"]


class ShardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_connections: int, shard_size: int = 4) -> None:
        asyncio_sync.install()
        count = max(1, math.ceil(max_connections / shard_size))
        per_shard = math.ceil(max_connections / count)
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        tls = httpx.create_ssl_context()  # one for all: each loads the CA bundle (~30 ms)
        backend = AsyncioBackend()
        self.shards = [_shard(tls, limits, backend) for _ in range(count)]
        self._turn = itertools.cycle(self.shards)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.aclose()


def _shard(
    tls: ssl.SSLContext, limits: httpx.Limits, backend: httpcore.AsyncNetworkBackend
) -> httpx.AsyncHTTPTransport:
    """httpx's transport (its request and error mapping) over a pool with ``backend``: the pool it
    builds itself, the same settings, with the network backend httpx 0.28 does not let one pass."""
    transport = httpx.AsyncHTTPTransport(verify=tls, limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=tls,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend,
    )
    return transport
