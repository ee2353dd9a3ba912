"""A bearer token for the worker's internal endpoints (``FLEXBRIDGE_WEB__ADMIN_TOKEN``).

Every path of the web port needs ``Authorization: Bearer <token>`` except the probes ``/health``
and ``/ready``: orchestrators (Kubernetes, compose health checks, load balancers) call them with no
credentials, and they tell only whether the worker is up and joined, never an order. The webhook
routes stay open too while they share the web port: Flex signs each delivery instead.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import SecretStr

__all__ = ["PROBES", "require_token"]

PROBES = frozenset({"/health", "/ready"})


def require_token(
    app: web.Application, token: SecretStr, open_paths: Collection[str], open_prefixes: tuple[str, ...] = ()
) -> None:
    """Answer 401 to a request of ``app`` without the token (compared in constant time), except
    to ``open_paths`` and the paths under ``open_prefixes``."""
    expected = f"Bearer {token.get_secret_value()}".encode()
    unguarded = frozenset(open_paths)

    @web.middleware
    async def admin_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in unguarded or (open_prefixes and request.path.startswith(open_prefixes)):
            return await handler(request)
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response(
                {"error": "missing or wrong bearer token (FLEXBRIDGE_WEB__ADMIN_TOKEN)"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="flexbridge"'},
            )
        return await handler(request)

    app.middlewares.append(admin_token)
