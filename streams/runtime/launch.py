"""How ``flexbridge worker`` starts: the broker probes, then the bridge runtime's group joins while
Faust is still being imported.

``/ready`` waits for the real-time consumer's group join, and a join takes seconds: a new group's
first JoinGroup is answered after the broker's initial delay (Kafka's
``group.initial.rebalance.delay.ms``, 3 s by default; the embedded broker waits half a session
timeout), a rejoin after the group's rebalance. Importing Faust and its web stack takes a few
tenths of a second of CPU more, and building and starting its app a little more. So the runtime
begins first, on the event loop the Faust worker then runs, and Faust is imported on a thread
meanwhile; Faust's start finds the runtime already joining (worker.py ``RuntimeService``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import socket
import sys

from core.config import ConfigError
from core.errors import FlexbridgeError
from core.merchants import load_merchants
from core.settings import Settings
from streams.kafka.clients import client_options
from streams.kafka.preflight import probe_idempotence, probe_order_topics, wait_for_broker
from streams.runtime.logs import install
from streams.runtime.services import BridgeRuntime

__all__ = ["launch_worker", "local_preflight", "quiet_libraries"]

log = logging.getLogger(__name__)

_FAUST_SIDE = "streams.runtime.worker"  # the Faust app, its views and agents: imported on a thread


def launch_worker(settings: Settings, loglevel: str = "info") -> int:
    """Probe the broker, begin the runtime, import Faust meanwhile, then run the Faust worker on
    the same event loop. A broker that does not answer or refuses the idempotent producer, or order
    topics of another partition count than the order table's, stop the worker here with a
    :class:`ConfigError` naming the setting."""
    # Until Faust sets up logging (it replaces the root's handlers), the runtime's lines go out in
    # the configured format too.
    local_preflight(settings)
    logging.basicConfig(level=loglevel.upper(), stream=sys.stderr)
    logging.captureWarnings(True)  # a library's warning as a log record (py.warnings), in the format too
    install(settings.log.format)
    quiet_libraries()
    if settings.web.admin_token is None and settings.web.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "FLEXBRIDGE_WEB__ADMIN_TOKEN is not set: anyone who reaches %s:%d reads its order views and "
            "metrics (docs/operations.md, production checklist)",
            settings.web.host,
            settings.web.port,
        )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # the Faust worker takes the current loop
    # A SIGTERM or SIGINT before Faust's own handlers (a deploy stopping a worker that is still
    # starting) stops the worker cleanly instead of killing it: noted here, acted on below or, once
    # Faust handles signals, by the Faust worker (worker.py ``_Worker``).
    early_stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, early_stop.set)
    runtime = BridgeRuntime(settings)
    log.info("waiting for Kafka at %s …", settings.kafka.bootstrap_servers)
    if not loop.run_until_complete(_begin_unless(settings, runtime, early_stop)):
        loop.run_until_complete(runtime.stop())
        log.info("stopped by a signal before the worker had started")
        return 0
    from streams.runtime.worker import run_worker  # imported by _begin's thread

    return run_worker(settings, runtime, loglevel=loglevel, early_stop=early_stop)


def local_preflight(settings: Settings) -> None:
    """What the worker needs before anything starts, each failure a ConfigError naming its setting
    (found later, it ended inside Faust's start-up with a traceback): its merchants (the merchants
    file, or the single merchant's Flex credentials), its listening ports free, and the SFTP files
    (known_hosts, each routed merchant's key) readable."""
    ports = [("FLEXBRIDGE_WEB__", settings.web.host, settings.web.port)]
    if settings.webhook.port is not None:
        ports.append(("FLEXBRIDGE_WEBHOOK__", settings.webhook.host, settings.webhook.port))
    for section, host, port in ports:
        _probe_listen(section, host, port)
    routed = [m for m in load_merchants(settings) if m.sftp_routes]
    if routed:
        from consumers.sftp.accounts import SftpAccounts  # asyncssh: only when something goes by SFTP

        try:
            SftpAccounts(settings.sftp).check(routed)
        except FlexbridgeError as exc:
            raise ConfigError(str(exc)) from None


def _probe_listen(section: str, host: str, port: int) -> None:
    """Bind ``host``:``port`` as the server will; a failure names ``section``'s HOST when the
    name does not resolve, its PORT otherwise (taken, or not allowed)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind it
        try:
            probe.bind((host, port))
        except socket.gaierror as exc:
            raise ConfigError(f"{section}HOST: cannot resolve {host} ({exc.strerror})") from None
        except OSError as exc:
            raise ConfigError(f"{section}PORT: cannot listen on {host}:{port} ({exc.strerror})") from None


async def _begin_unless(settings: Settings, runtime: BridgeRuntime, stop: asyncio.Event) -> bool:
    """:func:`_begin`, unless ``stop`` is set first: whether it completed (its errors are raised)."""
    begin = asyncio.ensure_future(_begin(settings, runtime))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([begin, stopped], return_when=asyncio.FIRST_COMPLETED)
    for task in (begin, stopped):
        task.cancel()
    await asyncio.wait([begin, stopped])
    if stop.is_set():
        return False
    begin.result()
    return True


async def _begin(settings: Settings, runtime: BridgeRuntime) -> None:
    k = settings.kafka
    try:
        await wait_for_broker(k.bootstrap_servers, k.startup_timeout_seconds, **client_options(k))
    except TimeoutError as exc:
        raise ConfigError(f"{exc} (check FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS)") from None
    await probe_idempotence(k)
    await probe_order_topics(k, settings.topics)
    runtime.begin()
    await asyncio.to_thread(importlib.import_module, _FAUST_SIDE)


def quiet_libraries() -> None:
    """httpx logs a line per request and httpcore builds a debug record per step: both cost CPU."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(max(logging.INFO, logging.getLogger().level))
