"""Prometheus metrics of one worker (its own registry: no process-wide globals)."""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import TopicPartition
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
        self.webhook_verifications = Counter(
            "flexbridge_webhook_verifications",
            "Webhook deliveries verified, by result (ok or the reject reason)",
            ["result"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "flexbridge_webhook_deliveries",
            "Webhook deliveries answered, by outcome",
            ["outcome"],
            registry=r,
        )
        self.batch_files = Counter(
            "flexbridge_batch_files", "SFTP batch files uploaded, by kind", ["kind"], registry=r
        )
        self.batch_records = Counter(
            "flexbridge_batch_records", "Records in uploaded SFTP batch files, by kind", ["kind"], registry=r
        )
        self.batch_results = Counter(
            "flexbridge_batch_results", "Batch response rows, by status", ["status"], registry=r
        )
        self.batch_missing_results = Counter(
            "flexbridge_batch_missing_results", "Uploaded records with no batch result in time", registry=r
        )
        self.batch_bad_responses = Counter(
            "flexbridge_batch_bad_responses", "Batch response files moved to error/", registry=r
        )
        self.order_statuses = Counter(
            "flexbridge_order_statuses",
            "OrderStatus records applied to the order state, by verdict",
            ["verdict"],
            registry=r,
        )
        self.commands = Counter(
            "flexbridge_commands",
            "Order commands answered, by type and status",
            ["type", "status"],
            registry=r,
        )
        self.in_flight = Gauge("flexbridge_in_flight", "Records being processed", registry=r)
        self.ready = Gauge("flexbridge_ready", "1 when joined and clients are ready", registry=r)
        self.consumer_lag = Gauge(
            "flexbridge_consumer_lag",
            "Records not yet committed, by assigned input partition",
            ["topic", "partition"],
            registry=r,
        )

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

    def webhook_verification(self, result: str) -> None:
        self.webhook_verifications.labels(result).inc()

    def webhook_delivery(self, outcome: str) -> None:
        self.webhook_deliveries.labels(outcome).inc()

    def batch_uploaded(self, kind: str, records: int) -> None:
        self.batch_files.labels(kind).inc()
        self.batch_records.labels(kind).inc(records)

    def order_status(self, verdict: str) -> None:
        self.order_statuses.labels(verdict).inc()

    def command(self, kind: str, status: str) -> None:
        self.commands.labels(kind, status).inc()

    def set_lag(self, lag: Mapping[TopicPartition, int]) -> None:
        """Replace the lag gauges: only partitions this worker owns now are reported."""
        self.consumer_lag.clear()
        for tp, value in lag.items():
            self.consumer_lag.labels(tp.topic, str(tp.partition)).set(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
