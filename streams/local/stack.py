"""The embedded stack as child processes (broker, sandbox, workers), for the demo, the benchmarks
and the fault runs: one place that knows how to start each part and wait until it answers."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from types import TracebackType

import httpx

from streams.local.broker import EmbeddedBroker
from streams.local.procs import Child, free_port

__all__ = ["DEV_KEY", "DEV_MID", "DEV_SECRET", "LocalStack", "RunningWorker", "metric_total"]

DEV_MID = "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31"
DEV_KEY, DEV_SECRET = "flexbridge-dev-key", "flexbridge-dev-secret"
CLI = [sys.executable, "-m", "streams.cli"]


async def metric_total(worker_url: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` on a worker's ``/metrics`` whose labels include ``labels``."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(worker_url + "/metrics")).text
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.split("{", 1)[0].split(" ", 1)[0] == name and all(w in line for w in wanted)
    )


class RunningWorker:
    def __init__(self, child: Child, port: int) -> None:
        self.child = child
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


class LocalStack:
    """``async with LocalStack(workdir) as stack``: a broker at once; sandbox and workers on demand."""

    def __init__(self, workdir: Path, group: str = "flexbridge-demo") -> None:
        self.workdir = workdir
        self.group = group
        self.broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log")
        self.sandbox: Child | None = None
        self.base_url = ""
        self.children: list[Child] = []
        self.env: dict[str, str] = {}

    async def __aenter__(self) -> LocalStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self.broker.start()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for child in reversed(self.children):
            await asyncio.to_thread(child.stop)
        self.broker.stop()

    def crash_lines(self) -> list[str]:
        """Its children's ``Child.crash_lines``: read once the stack is closed, they cover every stop too."""
        return [line for c in self.children for line in c.crash_lines()]

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def sandbox_root(self) -> str:
        """The sandbox's root URL (inspection API under ``_sandbox/``)."""
        return self.base_url.removesuffix("v1/")

    async def start_sandbox(self, *args: str) -> str:
        """Start ``flexbridge sandbox`` on a free port; returns its ``/v1/`` base URL."""
        child = self._spawn("sandbox", ["sandbox", "--port", "0", *args], {})
        found = await asyncio.to_thread(child.wait_line, r"listening on (http://\S+/v1/)", 30)
        await asyncio.to_thread(child.wait_line, r"^ready$", 30)
        self.sandbox, self.base_url = child, found.group(1)
        return self.base_url

    @property
    def state_dir(self) -> Path:
        """The full sandbox's state: its SFTP users' folders (``sftp/<user>/``), host key, known_hosts."""
        return self.workdir / "sandbox-state"

    async def start_full_sandbox(
        self, webhook_port: int, settle_seconds: float = 1.0, *extra: str, merchants: Path | None = None
    ) -> None:
        """The sandbox with its SFTP server and webhook sender; the workers get the matching settings
        (SFTP host key pinned, client key, subscriber key) and short batch timings. ``extra``: more
        ``flexbridge sandbox`` flags. ``merchants``: a merchants file, served by the sandbox
        (``--merchants``, each merchant's webhooks to ``…/webhooks/flex/{name}``) and read by the
        workers (``FLEXBRIDGE_MERCHANTS_FILE``) for their credentials, keys and SFTP accounts."""
        state = self.state_dir
        # The stack's broker started empty: an earlier run's batch files (one stopped half-way
        # leaves some) mean nothing to it, and their answers would land on its orders of the same ids.
        await asyncio.to_thread(shutil.rmtree, state / "sftp", True)
        url = f"http://127.0.0.1:{webhook_port}/webhooks/flex"
        args = ["--sftp-port", "0", "--state-dir", str(state), "--sftp-settle", str(settle_seconds)]
        if merchants is not None:
            args += ["--merchants", str(merchants)]
        await self.start_sandbox(*args, "--webhook-url", url, *extra)
        assert self.sandbox is not None  # start_sandbox sets it  # noqa: S101
        sftp = await asyncio.to_thread(self.sandbox.wait_line, r"sftp listening on 127\.0\.0\.1:(\d+)", 5)
        self.env.update(
            {
                "FLEXBRIDGE_SFTP__HOST": "127.0.0.1",
                "FLEXBRIDGE_SFTP__PORT": sftp.group(1),
                "FLEXBRIDGE_SFTP__KNOWN_HOSTS": str(state / "known_hosts"),
                "FLEXBRIDGE_BATCH__MAX_AGE_SECONDS": "1",
                "FLEXBRIDGE_BATCH__POLL_INTERVAL_SECONDS": "0.5",
                "FLEXBRIDGE_BATCH__MIN_AGE_SECONDS": "0.2",
            }
        )
        if merchants is not None:
            self.env["FLEXBRIDGE_MERCHANTS_FILE"] = str(merchants)
            return
        key = await asyncio.to_thread(self.sandbox.wait_line, r"subscriber key:\s+(\S+)", 5)
        self.env["FLEXBRIDGE_SFTP__KEY_PATH"] = str(state / "client_key")
        self.env["FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY"] = key.group(1)

    def worker_env(self, web_port: int) -> dict[str, str]:
        return {
            "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "false",
            "FLEXBRIDGE_KAFKA__GROUP_ID": self.group,
            "FLEXBRIDGE_KAFKA__FETCH_MAX_WAIT_MS": "10",  # see KafkaSettings.fetch_max_wait_ms
            # The embedded broker answers the first JoinGroup of a new group half a session timeout
            # later (waiting for more members): 3 s here, as Kafka's group.initial.rebalance.delay.ms
            "FLEXBRIDGE_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "FLEXBRIDGE_KAFKA__LEAVE_GROUP_ON_CLOSE": "false",  # see streams/kafka/membership.py
            "FLEXBRIDGE_FLEX__BASE_URL": self.base_url,
            "FLEXBRIDGE_FLEX__APP_KEY": os.environ.get("FLEXBRIDGE_FLEX__APP_KEY", DEV_KEY),
            "FLEXBRIDGE_FLEX__APP_SECRET": os.environ.get("FLEXBRIDGE_FLEX__APP_SECRET", DEV_SECRET),
            "FLEXBRIDGE_FLEX__MID": DEV_MID,
            "FLEXBRIDGE_WEB__PORT": str(web_port),
            "FLEXBRIDGE_WEB__HOST": "127.0.0.1",  # this machine only: no admin token is set
            **self.env,
        }

    def spawn_worker(self, name: str = "worker", port: int | None = None, **env: str) -> RunningWorker:
        """Start a worker without waiting for it (see :meth:`start_worker`)."""
        port = port or free_port()
        child = self._spawn(name, ["worker"], {**self.worker_env(port), **env})
        return RunningWorker(child, port)

    async def start_worker(
        self, name: str = "worker", timeout: float = 60, port: int | None = None, **env: str
    ) -> RunningWorker:
        """Start a worker and wait until ``/ready`` answers 200."""
        worker = self.spawn_worker(name, port, **env)
        await asyncio.to_thread(worker.child.wait_ready, worker.url + "/ready", timeout)
        return worker

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        log = self.workdir / f"{name}-{len(self.children)}.log"
        child = Child(name, [*CLI, *args], env, log)
        self.children.append(child)
        return child
