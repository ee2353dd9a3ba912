"""Fixtures of the real embedded stack: one broker and one sandbox per test session."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from streams.kafka.preflight import wait_for_broker
from streams.local.broker import EmbeddedBroker
from streams.local.procs import free_port
from streams.local.stack import DEV_MID
from tests.support import DEV_APP_KEY, DEV_APP_SECRET, QUICK_KAFKA, Sandbox, child, flexbridge, unique

# Property tests (tests/fuzz/) are deterministic and keep no example database: the same
# examples on every run and in CI. HYPOTHESIS_PROFILE=explore searches further, randomly.
# No per-example deadline: a test asserts no time (a loaded machine failed one); pytest's
# timeout still stops a hang.
hypothesis_settings.register_profile(
    "flexbridge",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "explore", parent=hypothesis_settings.get_profile("flexbridge"), derandomize=False, max_examples=2000
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "flexbridge"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``pytest -n N`` with no ``--dist`` of its own: a module of integration tests stays on one
    process (tests/scheduling.py)."""
    if config.getvalue("dist") != "load":
        return None
    from tests.scheduling import ModuleScheduling  # pytest-xdist is there: it calls this hook

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def broker(log_dir: Path) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(free_port(), log_path=log_dir / "broker.log")
    b.spawn()
    asyncio.run(wait_for_broker(b.bootstrap, 30))
    yield b
    b.stop()


@pytest.fixture(scope="session")
def sandbox(log_dir: Path) -> Iterator[Sandbox]:
    s = Sandbox(log_dir)
    yield s
    s.process.stop()


@pytest.fixture
def fresh_sandbox(sandbox: Sandbox) -> Sandbox:
    sandbox.reset()
    return sandbox


class Stack:
    """Names and environment for one test's worker(s): own topics and group on the shared broker."""

    def __init__(self, broker: EmbeddedBroker, sandbox: Sandbox, log_dir: Path) -> None:
        tag = unique("t")
        self.bootstrap = broker.bootstrap
        self.sandbox = sandbox
        self.log_dir = log_dir
        self.topics = {
            name: f"{tag}.{name}"
            for name in (
                *("approved", "declined", "commands", "status", "webhooks", "dlq", "ledger", "audit"),
                "batches",
            )
        }
        self.env: dict[str, str] = {
            "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
            "FLEXBRIDGE_KAFKA__GROUP_ID": tag,
            "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "false",
            "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS": "4",
            "FLEXBRIDGE_FLEX__BASE_URL": sandbox.url,
            "FLEXBRIDGE_FLEX__APP_KEY": DEV_APP_KEY,
            "FLEXBRIDGE_FLEX__APP_SECRET": DEV_APP_SECRET,
            "FLEXBRIDGE_FLEX__MID": DEV_MID,
            "FLEXBRIDGE_FLEX__DEADLINE_SECONDS": "30",
            "FLEXBRIDGE_FLEX__BACKOFF_MAX_SECONDS": "1",
            "FLEXBRIDGE_ROUTING__MIT": "api",
            **QUICK_KAFKA,
        }
        self.env.update({f"FLEXBRIDGE_TOPICS__{k.upper()}": v for k, v in self.topics.items()})
        self.workers: list[Worker] = []

    def worker(self, *, module: str = "streams.cli", **env: Any) -> Worker:
        """A worker started as ``python -m module worker`` (a test's wrapper of the CLI)."""
        w = Worker(self, {k: str(v) for k, v in env.items()}, module)
        self.workers.append(w)
        return w

    def close(self) -> None:
        """Stop the workers still running, each of which must exit 0 on SIGTERM (one the test killed
        or stopped is the test's to check); an agent or a task that crashed inside any fails the test."""
        stopped = [(w.process, w.process.stop()) for w in self.workers if w.process.proc.poll() is None]
        unclean = [f"{p.log_path.name}: exit code {code} on SIGTERM" for p, code in stopped if code != 0]
        crashed = [line for w in self.workers for line in w.process.crash_lines()]
        assert not (unclean or crashed), "\n".join(
            ["a worker did not stop cleanly, or an agent or a task crashed inside one:", *unclean, *crashed]
        )


class Worker:
    def __init__(self, stack: Stack, env: dict[str, str], module: str) -> None:
        self.port = free_port()
        full = {**stack.env, "FLEXBRIDGE_WEB__PORT": str(self.port), **env}
        args = flexbridge("worker", "--loglevel", "info", module=module)
        self.process = child("worker", args, full, stack.log_dir)
        self.url = f"http://127.0.0.1:{self.port}"


@contextmanager
def sftp_stack(broker: EmbeddedBroker, log_dir: Path, state: Path, *sandbox_args: str) -> Iterator[Stack]:
    """A stack on a sandbox of its own with its SFTP server (its keys in ``state``), the workers'
    SFTP settings pointing at it, and quick batches: files close after 1 s, polls every 0.3 s."""
    sandbox = Sandbox(log_dir, "--sftp-port", "0", "--state-dir", str(state), *sandbox_args)
    port = sandbox.process.wait_line(r"sftp listening on 127\.0\.0\.1:(\d+)", 10).group(1)
    stack = Stack(broker, sandbox, log_dir)
    stack.env.update(
        {
            "FLEXBRIDGE_SFTP__PORT": port,
            "FLEXBRIDGE_SFTP__KEY_PATH": str(state / "client_key"),
            "FLEXBRIDGE_SFTP__KNOWN_HOSTS": str(state / "known_hosts"),
            "FLEXBRIDGE_BATCH__MAX_AGE_SECONDS": "1",
            "FLEXBRIDGE_BATCH__POLL_INTERVAL_SECONDS": "0.3",
            "FLEXBRIDGE_BATCH__MIN_AGE_SECONDS": "0",
        }
    )
    try:
        yield stack
    finally:
        stack.close()
        sandbox.process.stop()


@pytest.fixture
def stack(broker: EmbeddedBroker, fresh_sandbox: Sandbox, log_dir: Path) -> Iterator[Stack]:
    s = Stack(broker, fresh_sandbox, log_dir)
    yield s
    s.close()


@pytest.fixture(scope="module")
def hooks(broker: EmbeddedBroker, sandbox: Sandbox, log_dir: Path) -> Iterator[tuple[Stack, Worker]]:
    """One worker for the module, receiving webhooks under a current and a previous key."""
    from tests.webhook_support import KEYS_ENV  # it imports this module

    stack = Stack(broker, sandbox, log_dir)
    worker = stack.worker(**KEYS_ENV)
    try:
        worker.process.wait_ready(worker.url + "/ready", 90)
        yield stack, worker
    finally:
        stack.close()
