"""``flexbridge worker``: the Faust app that hosts the bridge, its web endpoints and its lifecycle.

Faust runs the web server (``/health``, ``/ready``, ``/metrics``) and starts and stops the
:class:`BridgeRuntime` with the app. The throughput flows themselves run on aiokafka consumers
(see ``streams/runtime/pipeline.py``): Faust's per-event machinery tops out near 10k events/s here, and
per-key ordering with many keys in flight needs offset control Faust agents do not give.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

import faust
from faust.web import Request, Response, View
from mode import Service

from core.settings import KafkaSettings, Settings
from streams.kafka.clients import client_options
from streams.runtime import faust_fixes
from streams.runtime.agent_lag import sample_agent_lag
from streams.runtime.collector import settle_gc
from streams.runtime.commands import add_commands
from streams.runtime.datadir import faust_datadir
from streams.runtime.faust_recovery import RecoveryWatch
from streams.runtime.logs import install, log_consumer, log_tasks
from streams.runtime.order_view import add_order_view
from streams.runtime.orders import OrderBook, add_order_state, order_changelog, served_mids
from streams.runtime.reconcile import add_reconciler
from streams.runtime.services import BridgeRuntime
from streams.runtime.webhook_listener import serve_http

__all__ = [
    "RuntimeService",
    "app_id",
    "broker_credentials",
    "build_app",
    "count_agent_failures",
    "order_changelog_topic",
    "run_worker",
]

log = logging.getLogger(__name__)


class RuntimeService(Service):
    """Waits for the bridge runtime's start (begun before Faust, launch.py) as the Faust app starts;
    stops the runtime before the app goes down."""

    def __init__(self, runtime: BridgeRuntime, faust_app: faust.App, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self.faust_app = faust_app

    async def on_start(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self.dump)
        await self.runtime.start()

    def dump(self) -> None:
        """``kill -USR1``: where every task waits, and what Faust's consumer does with each partition."""
        log_tasks()
        log_consumer(self.faust_app)

    async def on_stop(self) -> None:
        await self.runtime.stop()


def app_id(group_id: str) -> str:
    """The Faust app's id of workers in Kafka group ``group_id``: its own group, and the prefix of its
    tables' changelogs."""
    return f"{group_id}-worker"


def order_changelog_topic(group_id: str) -> str:
    """The order table's changelog topic of workers in Kafka group ``group_id``."""
    return order_changelog(app_id(group_id))


def broker_credentials(k: KafkaSettings) -> faust.auth.Credentials | None:
    """The TLS and SASL of every other Kafka client of the worker (``client_options``), in the form
    Faust takes them: its consumer and producer (order table, commands, reconciler) use these."""
    opts = client_options(k)
    protocol = opts.get("security_protocol", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(opts["ssl_context"])
    return faust.SASLCredentials(
        username=opts.get("sasl_plain_username"),
        password=opts.get("sasl_plain_password"),
        ssl_context=opts.get("ssl_context"),  # SASL_SSL
        mechanism=opts.get("sasl_mechanism"),
    )


def build_app(settings: Settings, runtime: BridgeRuntime, datadir: str) -> faust.App:
    faust_fixes.apply(settings.kafka)
    k = settings.kafka
    app = faust.App(
        app_id(k.group_id),
        broker=[f"kafka://{h}" for h in k.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(k),
        store="memory://",
        autodiscover=False,
        datadir=datadir,  # Faust keeps nothing we need there: state lives in Kafka
        web_bind=settings.web.host,  # the interface it listens on (Faust's default: all of them)
        web_host=settings.web.host,  # the default canonical URL's host
        web_port=settings.web.port,
        web_in_thread=False,
        producer_enable_idempotence=k.enable_idempotence,
        producer_compression_type=None if k.compression_type == "none" else k.compression_type,
        broker_session_timeout=k.session_timeout_ms / 1000,
        broker_heartbeat_interval=k.heartbeat_interval_ms / 1000,
        broker_rebalance_timeout=k.rebalance_timeout_ms / 1000,
        topic_replication_factor=k.replication_factor,
        topic_partitions=k.topic_partitions,
        canonical_url=settings.web.canonical_url,  # None: http://web_host:web_port
        table_standby_replicas=settings.orders.standby_replicas,
    )
    count_agent_failures(app, runtime.metrics.task_failed)  # before the agents are declared
    app.add_dependency(RuntimeService(runtime, app, loop=app.loop))
    app.add_dependency(RecoveryWatch(app, runtime.metrics.table_recovery_restarts.inc, loop=app.loop))
    runtime.held_elsewhere.append(faust_fixes.watch_undecodable(app, runtime.metrics.undecodable_batch))
    mids = served_mids(settings)  # several: the order table is keyed by merchant and orderId
    book = add_order_state(app, settings.topics.status, k.topic_partitions, runtime.metrics, mids)
    add_order_view(app, book)
    _add_views(app, runtime, book)
    serve_http(app, runtime, settings.web, settings.webhook)  # webhooks: own listener or web port
    add_commands(app, settings.topics, runtime, book, settings.orders.commands_in_flight)
    add_reconciler(app, settings, runtime, book)
    return app


def count_agent_failures(app: faust.App, count: Callable[[str], None]) -> None:
    """Count each exception a Faust agent raises (``count("agent")``; Faust logs it as the agent
    crashing and starts the agent again), with the supervised loops' and watched tasks' failures
    (streams/runtime/supervise.py ``count_failures``). Faust hands every such exception to the app's
    ``_on_agent_error``, which each agent takes as it is declared: wrapped here, Faust's own still runs."""
    on_error = app._on_agent_error

    async def on_agent_error(agent: Any, exc: BaseException) -> None:
        count("agent")
        await on_error(agent, exc)

    app._on_agent_error = on_agent_error  # type: ignore[method-assign]


def _add_views(app: faust.App, runtime: BridgeRuntime, book: OrderBook) -> None:
    topics = runtime.settings.topics
    agents = {topics.commands: "commands", topics.status: "order-state"}  # topic → agent

    def readiness() -> tuple[bool, dict[str, Any]]:
        """The runtime's checks and gauges, and the order table's size and the partitions of it kept
        as standby copies (the order state is Faust's)."""
        ready, checks = runtime.readiness()
        sample_agent_lag(app, agents, runtime.metrics.agent_consumer_lag)
        entries = checks["order_table_entries"] = len(book.table)
        changelog = book.table.changelog_topic.get_topic_name()
        standbys = [tp for tp in app.assignor.assigned_standbys() if tp.topic == changelog]
        checks["order_table_standby_partitions"] = len(standbys)
        runtime.metrics.order_table_entries.set(entries)
        return ready, checks

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "alive"})

    @app.page("/ready")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ready, checks = readiness()
            return self.json(checks, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            readiness()  # refresh the gauges
            return self.bytes(runtime.metrics.render(), content_type="text/plain; version=0.0.4")


def run_worker(
    settings: Settings,
    runtime: BridgeRuntime,
    loglevel: str = "info",
    early_stop: asyncio.Event | None = None,
) -> int:
    """Run the Faust worker on the current event loop; ``runtime`` may have begun already, and
    ``early_stop`` is set by a signal that came before Faust's own handlers (launch.py)."""
    with faust_datadir() as datadir:
        app = build_app(settings, runtime, datadir)
        worker = _Worker(app, loglevel=loglevel, log_format=settings.log.format, early_stop=early_stop)
        worker.execute_from_commandline()
    return 0


class _Worker(faust.Worker):
    """Installs flexbridge's log format (FLEXBRIDGE_LOG__FORMAT: json | text) on Faust's handlers,
    stops as Faust stops on a signal if one came before those handlers, and settles the garbage
    collector once started (:func:`settle_gc`)."""

    def __init__(
        self, app: faust.App, *, log_format: str, early_stop: asyncio.Event | None, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._log_format = log_format
        self._early_stop = early_stop

    async def on_first_start(self) -> None:
        await super().on_first_start()  # sets Faust's signal handlers
        if self._early_stop is not None and self._early_stop.is_set():
            signal.raise_signal(signal.SIGTERM)  # the stop that came before them, handled now

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        install(self._log_format, logger)

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        settle_gc()
