"""The running SFTP side of the sandbox: server, inbound scanner, delayed outcomes, inspection routes.

``GET /_sandbox/batches`` lists the batch files processed (SFTP user and its merchant's name, file
name, kind, records, accepted, rejected, file-level error, response file) and
``GET|POST|DELETE /_sandbox/sftp/faults`` shows, sets or clears ``{"dropAfterBytes": N, "times": K}``
(cut the next K connections once they wrote N bytes) or ``{"dropAfterRename": SUFFIX, "times": K}``
(cut them right after renaming a file to a name ending with SUFFIX, before the answer), and
``{"denyRename": SUFFIX}`` / ``{"denyList": FOLDER}`` (refuse, permission denied, every rename to
a name ending with SUFFIX / every listing of a folder whose path ends with FOLDER, until cleared).
``GET|POST /_sandbox/sftp/responses`` shows or sets ``{"withhold": K}``: the next K batch files are
processed (orders created) but get no response file, as if Flex lost its answer.
Both take ``"merchants": [...]`` as ``POST /_sandbox/faults`` does: names or MIDs of the merchants
whose accounts they hit (empty: every account); an entry that is no merchant's is a 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .config import SandboxConfig
from .orders import FlexStatus
from .sftp_batches import process_file, ready_files
from .sftp_server import MerchantAim, SftpFaults, SftpServer, SftpUser, start_sftp
from .state import STATE, SandboxState
from .wire import json_response

__all__ = ["SFTP", "SftpService", "SftpSlot", "install_sftp", "routes"]

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


class SftpService:
    def __init__(self, config: SandboxConfig, state: SandboxState, server: SftpServer) -> None:
        self.config = config
        self.state = state
        self.server = server
        self.log: list[dict[str, Any]] = []
        self.withhold = 0  # the next N files (of withhold_aim's merchants) get no response file
        self.withhold_aim = MerchantAim()
        self.withheld: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._scanner = asyncio.create_task(self._scan(), name="sandbox-sftp-scan")

    async def _scan(self) -> None:
        while True:
            for user in self.server.users.values():
                for path in ready_files(user.inbound):
                    await self._process(user, path)
            await asyncio.sleep(self.config.sftp_scan_interval_seconds)

    async def _process(self, user: SftpUser, path: Any) -> None:
        settle: list[tuple[str, str | None]] = []
        merchant = self.state.merchants.by_name(user.merchant)
        if merchant is None:  # every user is made from a merchant of the same configuration
            raise RuntimeError(f"SFTP user {user.name} has no merchant")
        respond = self.withhold <= 0 or not self.withhold_aim.hits(user.merchant)
        try:
            entry = await process_file(self.state, path, settle, merchant, respond=respond)
        except OSError as exc:  # e.g. replaced by a re-upload while we read it: next scan retries
            log.warning("batch file %s not processed yet: %s", path.name, exc)
            return
        if entry["response"] is None:
            self.withhold -= 1
            self.withheld.append(path.name)
        self.log.append({"user": user.name, "merchant": user.merchant, **entry})
        if settle:
            task = asyncio.create_task(self._settle(settle))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _settle(self, orders: list[tuple[str, str | None]]) -> None:
        """After the compressed retry window, move still-SUBMITTED orders to APPROVED or EXPIRED."""
        await self.state.pause(self.config.sftp_settle_seconds)
        approve = set(self.config.approve_last4)
        book = self.state.orders
        for key, last4 in orders:
            order = book.get(key)
            if order is None or order.status != "SUBMITTED":
                continue
            final: FlexStatus = "APPROVED" if last4 in approve else "EXPIRED"
            book.put(
                order.record(
                    "batch-outcome",
                    final,
                    detail="card on the approve-list" if final == "APPROVED" else "retry window ended",
                )
            )

    def reset(self) -> None:
        self.log.clear()
        self.withhold = 0
        self.withhold_aim = MerchantAim()
        self.withheld.clear()
        for task in list(self._tasks):
            task.cancel()
        self.server.clear()

    async def close(self) -> None:
        for task in [self._scanner, *self._tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.close()


@dataclass(slots=True)
class SftpSlot:
    """Where the aiohttp app finds the SFTP service once it is started (None without --sftp-port)."""

    service: SftpService | None = None


SFTP: web.AppKey[SftpSlot] = web.AppKey("sandbox_sftp", SftpSlot)


def install_sftp(app: web.Application) -> None:
    """Give ``app`` its SFTP slot, and with ``sftp_port`` set, start/stop the server with the app."""
    slot = app[SFTP] = SftpSlot()
    state = app[STATE]
    if state.config.sftp_port is None:
        return

    async def start(_: web.Application) -> None:
        server = await start_sftp(state.config)
        slot.service = SftpService(state.config, state, server)
        state.on_reset.append(slot.service.reset)

    async def stop(_: web.Application) -> None:
        if slot.service is not None:
            await slot.service.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


def _service(request: web.Request) -> SftpService:
    service = request.app[SFTP].service
    if service is None:
        raise web.HTTPNotFound(
            text='{"error": "the SFTP server is not running (start with --sftp-port)"}',
            content_type="application/json",
        )
    return service


@routes.get("/_sandbox/batches")
async def batches(request: web.Request) -> web.Response:
    return json_response({"batches": _service(request).log})


@routes.get("/_sandbox/sftp/faults")
async def get_sftp_faults(request: web.Request) -> web.Response:
    return json_response(_service(request).server.faults.wire())


def _aim(state: SandboxState, body: dict[str, Any]) -> MerchantAim:
    """The body's ``merchants`` (names or MIDs, as for ``POST /_sandbox/faults``); ValueError if bad."""
    given = body.get("merchants", [])
    if not isinstance(given, list) or not all(isinstance(entry, str) for entry in given):
        raise ValueError("merchants must be a list of merchant names or MIDs")
    unknown = state.merchants.unknown(given)
    if unknown:
        raise ValueError(f"merchants: no merchant has the name or MID {', '.join(unknown)}")
    names = frozenset(m.name for m in state.merchants.all if m.answers_to(given))
    return MerchantAim(tuple(given), names)


def _faults(body: dict[str, Any]) -> SftpFaults:
    """The drop fault of a ``POST /_sandbox/sftp/faults`` body; ValueError if it is not one."""
    after, renamed, times = body.get("dropAfterBytes"), body.get("dropAfterRename"), body.get("times", 1)
    deny_rename, deny_list = body.get("denyRename"), body.get("denyList")
    for key, value in (("dropAfterRename", renamed), ("denyRename", deny_rename), ("denyList", deny_list)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be the end of a file name or path")
    denied = deny_rename is not None or deny_list is not None
    bytes_given = after is not None or (renamed is None and not denied)  # one fault is needed
    if bytes_given and (not isinstance(after, int) or isinstance(after, bool) or after < 0):
        raise ValueError("dropAfterBytes must be a non-negative integer")
    if not isinstance(times, int) or isinstance(times, bool) or times < 0:
        raise ValueError("times must be a non-negative integer")
    return SftpFaults(
        drop_after_bytes=after,
        drop_after_rename=renamed,
        deny_rename=deny_rename,
        deny_list=deny_list,
        times=times,
    )


@routes.post("/_sandbox/sftp/faults")
async def set_sftp_faults(request: web.Request) -> web.Response:
    service = _service(request)
    try:
        body = orjson.loads(await request.read() or b"{}")
        faults = _faults(body)
        faults.aim = _aim(service.state, body)
    except (orjson.JSONDecodeError, AttributeError, ValueError) as exc:
        return json_response({"error": str(exc)}, status=400)
    service.server.faults = faults
    return json_response(service.server.faults.wire())


@routes.delete("/_sandbox/sftp/faults")
async def clear_sftp_faults(request: web.Request) -> web.Response:
    service = _service(request)
    service.server.faults = SftpFaults()
    return json_response(service.server.faults.wire())


def _responses(service: SftpService) -> web.Response:
    merchants = list(service.withhold_aim.given)
    return json_response({"withhold": service.withhold, "withheld": service.withheld, "merchants": merchants})


@routes.get("/_sandbox/sftp/responses")
async def get_responses(request: web.Request) -> web.Response:
    return _responses(_service(request))


@routes.post("/_sandbox/sftp/responses")
async def set_responses(request: web.Request) -> web.Response:
    service = _service(request)
    try:
        body = orjson.loads(await request.read() or b"{}")
        withhold = body.get("withhold")
        if not isinstance(withhold, int) or isinstance(withhold, bool) or withhold < 0:
            raise ValueError("withhold must be a non-negative integer")
        aim = _aim(service.state, body)
    except (orjson.JSONDecodeError, AttributeError, ValueError) as exc:
        return json_response({"error": str(exc)}, status=400)
    service.withhold, service.withhold_aim = withhold, aim
    return _responses(service)
