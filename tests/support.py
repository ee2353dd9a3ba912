"""Test helpers: free ports, processes of the real stack, condition waits, Kafka produce/read."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import confluent_kafka
import httpx
import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord

from streams.kafka.clients import read_topic
from streams.local.procs import Child
from streams.local.stack import DEV_KEY, DEV_SECRET, LocalStack, RunningWorker

T = TypeVar("T")

DEV_APP_KEY, DEV_APP_SECRET = DEV_KEY, DEV_SECRET  # the sandbox's development credentials

# Kafka settings of the tests' workers, for the embedded broker: it sees data arriving during a
# fetch's wait only when it looks again, after half the wait that remains (10 ms, as the local
# stack sets, instead of 500), and it answers a new member's JoinGroup after half the session
# timeout (measured: 5 s at the default 10 s, 3 s at 6 s). A worker joins two groups as it starts
# (the pipeline's, then Faust's); 6 s is the chaos run's session timeout.
QUICK_KAFKA = {
    "FLEXBRIDGE_KAFKA__FETCH_MAX_WAIT_MS": "10",
    "FLEXBRIDGE_KAFKA__SESSION_TIMEOUT_MS": "6000",
}


async def wait_for(
    check: Callable[[], Awaitable[T | None]], timeout: float, what: str, every: float = 0.1
) -> T:
    """Poll ``check`` until it returns something truthy; fail the test naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def flexbridge(*args: str, module: str = "streams.cli") -> list[str]:
    """The command line of a flexbridge verb, run by ``module`` (the CLI, or a test's wrapper of it)."""
    return [sys.executable, "-m", module, *args]


def child(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
    """A child process of the stack with its own log file in ``log_dir`` (kept for post-mortems)."""
    return Child(name, args, env, log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log")


class Sandbox:
    def __init__(self, log_dir: Path, *extra: str) -> None:
        self.process = child("sandbox", flexbridge("sandbox", "--port", "0", *extra), {}, log_dir)
        match = self.process.wait_line(r"listening on (http://\S+/v1/)", 30)
        self.process.wait_line(r"^ready$", 30)
        self.url: str = match.group(1)
        self.root = self.url.removesuffix("v1/")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.root + path.lstrip("/"), json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        self.call("POST", "/_sandbox/reset")

    def journal(self, path: str | None = None) -> list[dict[str, Any]]:
        query = f"?path={path}" if path else ""
        requests: list[dict[str, Any]] = self.call("GET", f"/_sandbox/requests{query}")["requests"]
        return requests

    def orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = self.call("GET", "/_sandbox/orders")["orders"]
        return orders


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def in_transactions(bootstrap: str, topic: str, items: list[tuple[str, Any]], size: int) -> None:
    """Publish (key, value) pairs as a librdkafka transactional producer does (Kafka Streams, Flink
    and exactly-once outbox relays write so): committed transactions of ``size`` records each."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "transactional.id": unique("tx")})
    producer.init_transactions(30)
    for start in range(0, len(items), size):
        producer.begin_transaction()
        for key, value in items[start : start + size]:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            producer.produce(topic, key=key.encode(), value=raw)
        producer.commit_transaction(30)


async def produce(
    bootstrap: str, topic: str, items: list[tuple[str | None, Any]], headers: Any = None
) -> None:
    """Publish (key, value) pairs; dict values are JSON-encoded, bytes sent as they are."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for key, value in items:
            raw = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
            futures.append(await producer.send(topic, raw, key.encode() if key else None, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


read_all = read_topic  # every record currently in a topic (see streams/kafka/clients.py)


def values(records: list[ConsumerRecord[bytes, bytes]]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records if r.value is not None]


async def run_flexbridge(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run one ``flexbridge`` command to completion with the stack's environment: (code, out, err)."""
    import os
    import subprocess

    def run() -> subprocess.CompletedProcess[str]:
        full = {**os.environ, **env, "COLUMNS": "200"}
        return subprocess.run(flexbridge(*args), env=full, capture_output=True, text=True, timeout=timeout)

    done = await asyncio.to_thread(run)
    return done.returncode, done.stdout, done.stderr


async def restart_cleanly(stack: LocalStack, worker: RunningWorker, name: str, **env: str) -> RunningWorker:
    """A rolling deploy's step: SIGTERM, a clean exit (code 0), the replacement on the same port
    (with ``env`` over the stack's), ready."""
    code = await asyncio.to_thread(worker.child.stop)
    assert code == 0, f"{worker.child.name} exited {code}:\n{worker.child.output()[-3000:]}"
    return await stack.start_worker(name, 90, worker.port, **env)
