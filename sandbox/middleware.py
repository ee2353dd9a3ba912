"""What wraps every /v1 call: the journal, fault injection and the bearer-token check (in that order)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .faults import FaultConfig
from .journal import JournalEntry
from .state import STATE, SandboxState
from .wire import begin_exchange, envelope, error_item, json_response, parse_body

__all__ = ["ANONYMOUS_PATHS", "sandbox_middleware"]

ANONYMOUS_PATHS = frozenset({"/v1/oauth2/token", "/v1/tokenize"})


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


@web.middleware
async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Journal every /v1 call, then apply faults and authentication before the endpoint."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    state = request.app[STATE]
    exchange = begin_exchange()
    body = parse_body(await request.read())
    entry = state.journal.open(request.method, request.path, _query(request), body, _idempotency_key(body))
    try:
        response = await _with_faults(request, handler, state, entry)
    except web.HTTPException as exc:
        entry.status = exc.status
        raise
    except Exception:
        entry.status = 500
        raise
    finally:
        entry.replayed = exchange.replayed
        state.journal.close(entry)
    return response


async def _with_faults(
    request: web.Request, handler: Handler, state: SandboxState, entry: JournalEntry
) -> web.StreamResponse:
    injector = state.faults
    if not injector.applies(request.path):
        return await _answer(request, handler, state, entry)
    config = injector.config
    await state.pause(config.latency_ms / 1000)
    kind = injector.draw()
    entry.fault = kind
    if kind == "drop":
        return _drop(request)
    if kind == "error":
        return _error_response(injector.error_status(), config, entry)
    if kind == "timeout":
        await state.pause(config.timeout_seconds)
    response = await _answer(request, handler, state, entry)
    if kind != "after-effect":
        return response
    if injector.after_effect_drops():
        entry.fault = "after-effect-drop"
        entry.status = None
        return _drop(request)
    entry.fault = "after-effect-error"
    return _error_response(503, config, entry)


async def _answer(
    request: web.Request, handler: Handler, state: SandboxState, entry: JournalEntry
) -> web.StreamResponse:
    refusal = _unauthorized(request, state)
    response = refusal if refusal is not None else await handler(request)
    entry.status = response.status
    return response


def _unauthorized(request: web.Request, state: SandboxState) -> web.Response | None:
    """None when the call may proceed, else the 401 ASP.NET's JwtBearer handler would give."""
    if request.path in ANONYMOUS_PATHS:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    is_bearer = scheme.lower() == "bearer" and bool(token)
    if is_bearer and state.tokens.is_valid(token):
        return None
    challenge = "Bearer"
    if is_bearer and state.tokens.is_known(token):
        challenge = 'Bearer error="invalid_token", error_description="The token expired"'
    elif is_bearer:
        challenge = 'Bearer error="invalid_token"'
    body = envelope(success=False, status_code="401", errors=[error_item("Unauthorized", "401")])
    return json_response(body, status=401, headers={"WWW-Authenticate": challenge})


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
