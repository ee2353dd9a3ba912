"""What wraps every /v1 call: the journal, fault injection, the bearer-token check and, with a
merchants file, the check that a body's ``mid`` is the token's merchant's (in that order)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .faults import FaultConfig
from .journal import JournalEntry
from .merchants import Merchant
from .state import STATE, SandboxState
from .wire import begin_exchange, envelope, error_item, error_map, json_response, parse_body

__all__ = ["ANONYMOUS_PATHS", "TOKEN_PATH", "sandbox_middleware"]

TOKEN_PATH = "/v1/oauth2/token"  # a URL path  # noqa: S105
ANONYMOUS_PATHS = frozenset({TOKEN_PATH, "/v1/tokenize"})


def _query(request: web.Request) -> dict[str, str | list[str]]:
    query: dict[str, str | list[str]] = {}
    for name in request.query:
        values = request.query.getall(name)
        query[name] = values[0] if len(values) == 1 else list(values)
    return query


def _idempotency_key(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for name, value in body.items():
        if str(name).lower() == "idempotencykey" and isinstance(value, str):
            return value
    return None


@dataclass(slots=True)
class _Call:
    """One /v1 call on its way through the middleware."""

    state: SandboxState
    entry: JournalEntry
    body: Any
    caller: Merchant | None  # whose token (or, for the token call, whose app key) it carries


@web.middleware
async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Journal every /v1 call, then apply faults, authentication and the merchant check.

    The entry's ``duration_ms`` is the call's service time: from here (headers parsed, body not yet
    read) until its answer is ready to be written."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    arrived = time.perf_counter()
    state = request.app[STATE]
    exchange = begin_exchange()
    body = parse_body(await request.read())
    entry = state.journal.open(request.method, request.path, _query(request), body, _idempotency_key(body))
    call = _Call(state, entry, body, _caller(request, state, body))
    if request.path not in ANONYMOUS_PATHS:
        exchange.mid = entry.mid = state.tokens.mid_of(_bearer(request) or "")
        call.caller = state.merchants.by_mid(exchange.mid)
    try:
        response = await _with_faults(request, handler, call)
    except web.HTTPException as exc:
        entry.status = exc.status
        raise
    except Exception:
        entry.status = 500
        raise
    finally:
        entry.replayed = exchange.replayed
        entry.duration_ms = round((time.perf_counter() - arrived) * 1000, 3)
        state.journal.close(entry)
    return response


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _caller(request: web.Request, state: SandboxState, body: Any) -> Merchant | None:
    """For the token call, the merchant whose app key it sends (fault targeting needs one)."""
    if request.path != TOKEN_PATH or not isinstance(body, dict):
        return None
    keys = [value for name, value in body.items() if str(name).lower() == "appkey"]
    return state.merchants.by_app_key(keys[0]) if keys else None


async def _with_faults(request: web.Request, handler: Handler, call: _Call) -> web.StreamResponse:
    injector, entry = call.state.faults, call.entry
    if not injector.applies(request.path, call.caller):
        return await _answer(request, handler, call)
    config = injector.config
    await call.state.pause(config.latency_ms / 1000)
    kind = injector.draw()
    entry.fault = kind
    if kind == "drop":
        return _drop(request)
    if kind == "error":
        return _error_response(injector.error_status(), config, entry)
    if kind == "timeout":
        await call.state.pause(config.timeout_seconds)
    response = await _answer(request, handler, call)
    if kind != "after-effect":
        return response
    if injector.after_effect_drops():
        entry.fault = "after-effect-drop"
        entry.status = None
        return _drop(request)
    entry.fault = "after-effect-error"
    return _error_response(503, config, entry)


async def _answer(request: web.Request, handler: Handler, call: _Call) -> web.StreamResponse:
    refusal = _unauthorized(request, call.state)
    if refusal is None:
        refusal = _foreign_mid(call)
    response = refusal if refusal is not None else await handler(request)
    call.entry.status = response.status
    return response


def _unauthorized(request: web.Request, state: SandboxState) -> web.Response | None:
    """None when the call may proceed, else the 401 ASP.NET's JwtBearer handler would give."""
    if request.path in ANONYMOUS_PATHS:
        return None
    token = _bearer(request)
    if token is not None and state.tokens.is_valid(token):
        return None
    challenge = "Bearer"
    if token is not None and state.tokens.is_known(token):
        challenge = 'Bearer error="invalid_token", error_description="The token expired"'
    elif token is not None:
        challenge = 'Bearer error="invalid_token"'
    body = envelope(success=False, status_code="401", errors=[error_item("Unauthorized", "401")])
    return json_response(body, status=401, headers={"WWW-Authenticate": challenge})


def _foreign_mid(call: _Call) -> web.Response | None:
    """With a merchants file, a body ``mid`` other than the token's merchant's is refused (403)."""
    if not call.state.merchants.strict or call.entry.mid is None or not isinstance(call.body, dict):
        return None
    mids = [value for name, value in call.body.items() if str(name).lower() == "mid"]
    if not mids or not isinstance(mids[0], str) or mids[0].lower() == call.entry.mid.lower():
        return None
    return error_map(403, {"mid": ["The mid does not belong to the merchant of the bearer token."]})


def _error_response(status: int, config: FaultConfig, entry: JournalEntry) -> web.Response:
    entry.status = status
    headers = {"Retry-After": str(config.retry_after_seconds)} if status == 429 else None
    body = envelope(
        success=False,
        status_code=str(status),
        errors=[error_item("Injected fault (sandbox)", str(status))],
    )
    return json_response(body, status=status, headers=headers)


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer; aiohttp then fails to write and ignores it."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    request.protocol.force_close()
    return web.Response(status=499)
