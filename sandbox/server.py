"""Build, start and stop the sandbox; ``main`` is ``flexbridge sandbox`` / ``python -m sandbox``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web
from pydantic import ValidationError

from . import api_actions, api_auth, api_evaluate, api_orders
from .cli import config_from_args
from .config import DEV_APP_KEY, DEV_APP_SECRET, DEV_SUBSCRIBER_KEY, SandboxConfig
from .inspection import routes as inspection_routes
from .merchants import MerchantsFileError
from .middleware import sandbox_middleware
from .sftp_service import SFTP, SftpService, install_sftp
from .sftp_service import routes as sftp_routes
from .state import STATE, SandboxState
from .webhook_sender import SENDER, WebhookSender

__all__ = ["RunningSandbox", "build_app", "main", "start_sandbox"]

_GC_YOUNG_THRESHOLD = 10_000  # Python's default is 700


def build_app(config: SandboxConfig) -> web.Application:
    """The aiohttp application: Flex endpoints under /v1/ and the /_sandbox/ inspection API."""
    app = web.Application(middlewares=[sandbox_middleware], client_max_size=16 * 1024 * 1024)
    app[STATE] = SandboxState(config)
    sender = app[SENDER] = WebhookSender(config, app[STATE].merchants)
    app[STATE].orders.subscribe(sender.on_order)

    async def close_sender(_: web.Application) -> None:
        await sender.close()

    app.on_cleanup.append(close_sender)
    router = app.router
    router.add_post("/v1/oauth2/token", api_auth.token)
    router.add_post("/v1/tokenize", api_auth.tokenize)
    router.add_post("/v1/transmit", api_evaluate.transmit)
    router.add_post("/v1/evaluate", api_evaluate.evaluate)
    router.add_post("/v1/outcome", api_evaluate.outcome)
    router.add_get("/v1/orders", api_orders.list_orders)
    router.add_get("/v1/orders/{id}", api_orders.get_order)
    router.add_post("/v1/capture", api_actions.capture)
    router.add_post("/v1/orders/{id}/refund", api_actions.refund)
    router.add_post("/v1/orders/{id}/cancel", api_actions.cancel)
    router.add_post("/v1/orders/{externalOrderId}/external-cancel", api_actions.external_cancel)
    router.add_routes(inspection_routes)
    router.add_routes(sftp_routes)
    install_sftp(app)
    return app


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    """A started sandbox. ``url`` is the Flex base URL (``http://127.0.0.1:PORT/v1/``)."""

    config: SandboxConfig
    host: str
    port: int
    state: SandboxState
    _runner: web.AppRunner

    @property
    def base_url(self) -> str:
        """Scheme, host and port, without a path (the inspection API lives at ``/_sandbox/``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/"

    @property
    def sftp(self) -> SftpService | None:
        """The SFTP server and its batch processing (None unless ``sftp_port`` was given)."""
        return self._runner.app[SFTP].service if self._runner.app is not None else None

    async def close(self) -> None:
        """Stop listening; cuts injected hangs short and waits briefly for in-flight calls."""
        if self.state.closing.is_set():
            return
        self.state.closing.set()
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningSandbox:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def start_sandbox(config: SandboxConfig) -> RunningSandbox:
    """Start the sandbox HTTP API on ``config.host``/``config.port`` (0 = a free port)."""
    app = build_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    host, port = runner.addresses[0][:2]
    return RunningSandbox(config, str(host), int(port), app[STATE], runner)


def _credential_lines(config: SandboxConfig) -> list[str]:
    def shown(value: str, dev: str, secret: bool) -> str:
        if value == dev:
            return f"{value}  (development value)"
        return "(given)" if secret else value

    return [
        f"  app key:        {shown(config.app_key, DEV_APP_KEY, False)}",
        f"  app secret:     {shown(config.app_secret.get_secret_value(), DEV_APP_SECRET, True)}",
        f"  subscriber key: {shown(config.subscriber_key.get_secret_value(), DEV_SUBSCRIBER_KEY, True)}",
        f"  mid:            {config.mid}",
    ]


def _merchant_lines(config: SandboxConfig) -> list[str]:
    lines = []
    for merchant in config.effective_merchants():
        sftp = f"sftp user {merchant.sftp_username}" if merchant.sftp_username else "no sftp"
        webhooks = f"webhooks to {merchant.webhook_url}" if merchant.webhook_url else "no webhooks"
        lines.append(f"  {merchant.name}: mid {merchant.mid}, app key {merchant.app_key}, {sftp}, {webhooks}")
    return lines


def _announce(sandbox: RunningSandbox) -> None:
    config = sandbox.config
    lines = ["flexbridge sandbox: Flex API emulator"]
    if config.merchants:
        lines += [f"merchants ({len(config.merchants)}):", *_merchant_lines(config)]
    else:
        lines += ["credentials:", *_credential_lines(config)]
    sftp = sandbox.sftp
    if sftp is not None:
        server = sftp.server
        users = ", ".join(sftp.server.users)
        lines.append(f"sftp listening on {server.host}:{server.port} (users: {users})")
        lines.append(f"  sftp client key: {server.client_key}  known_hosts: {server.known_hosts}")
    if config.webhook_url is not None and not config.merchants:
        lines.append(f"webhooks to {config.webhook_url}")
    lines += [f"sandbox listening on {sandbox.url}", "ready"]
    for line in lines:
        print(line, flush=True)


def _settle_gc() -> None:
    """Once the sandbox process has started: collect, then move every object left (modules, aiohttp,
    pydantic, asyncssh) out of the collector's reach for good (``gc.freeze``), and collect the young
    generation less often. Otherwise full collections over that heap held the sandbox's event loop
    for up to 1.6 s, and every call waiting behind one."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, middle, old)


async def _serve(config: SandboxConfig) -> None:
    sandbox = await start_sandbox(config)
    _settle_gc()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        _announce(sandbox)
        await stop.wait()
    finally:
        await sandbox.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until SIGINT/SIGTERM. Exit codes: 0 clean stop, 1 start failure, 2 bad settings."""
    try:
        config = config_from_args(argv)
    except ValidationError as exc:  # each field and what is wrong, never its value (a key, a secret)
        errors = exc.errors(include_url=False, include_input=False)
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(settings)'}: {e['msg']}" for e in errors)
        print(f"flexbridge sandbox: invalid settings: {problems}", file=sys.stderr)
        return 2
    except MerchantsFileError as exc:
        print(f"flexbridge sandbox: invalid settings: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config))
    except (OSError, ValueError) as exc:
        print(f"flexbridge sandbox: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
