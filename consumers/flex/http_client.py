"""The one long-lived ``httpx.AsyncClient`` of the Flex client, and the transport under it.

:func:`build_http_client` sets the base URL, the default headers and the per-attempt timeout, over
flexbridge's sharded pools (pool.py). :class:`SecretQueryTransport` adds the secrets Flex wants in
the query string (the tokenization key, a request extension named :data:`SECRET_QUERY`) just before
sending, below httpx's logging layer, so its ``HTTP Request:`` log line never shows them. The
request engine (engine.py) sends straight to this transport (:func:`transport_of`).
"""

from __future__ import annotations

import httpx

from consumers.flex.pool import ShardedTransport
from core.settings import FlexSettings

__all__ = ["SECRET_QUERY", "SecretQueryTransport", "build_http_client", "transport_of"]

SECRET_QUERY = "flexbridge.secret_query"  # the name of a request extension  # noqa: S105
_USER_AGENT = "flexbridge/0.1"


class SecretQueryTransport(httpx.AsyncBaseTransport):
    """Adds ``request.extensions["flexbridge.secret_query"]`` to the URL just before sending."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        secret = request.extensions.get(SECRET_QUERY)
        if secret:
            request = httpx.Request(
                request.method,
                request.url.copy_merge_params(secret),
                headers=request.headers,
                stream=request.stream,
                extensions=request.extensions,
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def build_http_client(
    settings: FlexSettings, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """The one long-lived ``AsyncClient``: base URL, pool limits and per-attempt timeout from settings.

    ``transport`` replaces the network (tests). With an explicit transport httpx ignores proxy
    environment variables; flexbridge always passes one (to keep the tokenization key out of logs).
    """
    inner = transport if transport is not None else ShardedTransport(settings.max_connections)
    return httpx.AsyncClient(
        base_url=settings.base_url,
        transport=SecretQueryTransport(inner),
        timeout=settings.timeout_seconds,
        headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
        follow_redirects=False,
    )


def transport_of(client: httpx.AsyncClient) -> httpx.AsyncBaseTransport:
    """The transport ``client`` sends through (``build_http_client``'s; httpx 0.28's ``_transport``)."""
    transport: httpx.AsyncBaseTransport = client._transport
    return transport
