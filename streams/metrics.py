"""Prometheus metrics of one worker (its own registry: no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_in = Counter("flexbridge_events_in", "Records read, by topic", ["topic"], registry=r)
        self.events_out = Counter(
            "flexbridge_events_out",
            "Records finished, by topic and outcome",
            ["topic", "outcome"],
            registry=r,
        )
        self.dlq = Counter("flexbridge_dlq", "Records dead-lettered, by reason", ["reason"], registry=r)
        self.flex_calls = Counter(
            "flexbridge_flex_calls",
            "Flex API calls, by endpoint and status",
            ["endpoint", "status"],
            registry=r,
        )
        self.flex_latency = Histogram(
            "flexbridge_flex_call_seconds",
            "Flex API call latency",
            ["endpoint"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.flex_retries = Counter(
            "flexbridge_flex_retries",
            "Flex API retries, by endpoint and cause",
            ["endpoint", "cause"],
            registry=r,
        )
        self.in_flight = Gauge("flexbridge_in_flight", "Records being processed", registry=r)
        self.ready = Gauge("flexbridge_ready", "1 when joined and clients are ready", registry=r)

    def event_in(self, topic: str) -> None:
        self.events_in.labels(topic).inc()

    def event_out(self, topic: str, outcome: str) -> None:
        self.events_out.labels(topic, outcome).inc()

    def dead_letter(self, reason: str) -> None:
        self.dlq.labels(reason).inc()

    def flex_call(self, endpoint: str, status: int | str, seconds: float) -> None:
        self.flex_calls.labels(endpoint, str(status)).inc()
        self.flex_latency.labels(endpoint).observe(seconds)

    def flex_retry(self, endpoint: str, cause: int | str) -> None:
        self.flex_retries.labels(endpoint, str(cause)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
