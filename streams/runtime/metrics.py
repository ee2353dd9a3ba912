"""Prometheus metrics of one worker (its own registry: no process-wide globals)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import get_args

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from consumers.flex.merchant import FlexObservers
from core.merchants import SINGLE_MERCHANT_NAME
from schemas.dlq import DlqReason
from streams.runtime.supervise import FAILURE_KINDS
from streams.runtime.undecodable import Held

__all__ = ["NO_MERCHANT", "TOKEN_RESULTS", "WEBHOOK_OUTCOMES", "Metrics"]


WEBHOOK_OUTCOMES = ("accepted", "duplicate", "rejected", "malformed", "unavailable")
# a token fetch's result: ok, or the reason of the FlexError it raised (consumers/flex/errors.py)
TOKEN_RESULTS = ("ok", "flex-auth", "retries-exhausted", "flex-bad-response", "flex-request")
# The merchant label of a record whose merchant is not known (it cannot be decoded, or its mid is no
# merchant's); parentheses keep it apart from every merchant name ([a-z0-9-]).
NO_MERCHANT = "(unknown)"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)  # seconds of a Flex call
# a decision's tail in steps of 5 ms up to 25 ms (the benchmark's targets) and of 25 to 50 ms up to
# 250 ms, and a backlog after an outage up to 5 minutes rather than only +Inf
_DECISION_BUCKETS = (0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25)
_END_TO_END_BUCKETS = (*_DECISION_BUCKETS, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)  # seconds a wake-up was late


class Metrics:
    """The worker's metrics; every name is ``flexbridge_<name>`` (counters are exposed with ``_total``).

    Events, dead letters, Flex calls, batch files and webhooks carry a ``merchant`` label (its name,
    DESIGN.md §2.9); ``merchants`` are the names whose alerting series are exported at 0 from the start.
    """

    def __init__(self, merchants: Iterable[str] = (SINGLE_MERCHANT_NAME,)) -> None:
        self.registry = CollectorRegistry()
        self._add_flow_metrics()
        self._add_batch_metrics()
        self._add_state_metrics()
        # Exported at 0 from the start: increase() cannot see a series' first appearance, so an
        # alert on the first dead letter, 503 or refused token after a restart needs the series before it.
        for reason in get_args(DlqReason):
            self.dlq.labels(reason, NO_MERCHANT)
        for merchant in merchants:
            self.add_merchant(merchant)

    def _add_flow_metrics(self) -> None:
        """Events and their end to end, dead letters, Flex calls and tokens, webhooks, loop lag."""
        counter = self._counter
        self.events_in = counter("events_in", "Records read, by topic", "topic", "merchant")
        self.events_out = counter(
            "events_out", "Records finished, by topic and outcome", "topic", "outcome", "merchant"
        )
        self.dlq = counter("dlq", "Records dead-lettered, by reason", "reason", "merchant")
        self.flex_calls = counter(
            "flex_calls", "Flex API calls, by endpoint and status", "endpoint", "status", "merchant"
        )
        self.flex_latency = self._histogram("flex_call_seconds", "Flex API call latency", "endpoint")
        self.end_to_end = self._histogram(
            "end_to_end_seconds",
            "From an input record's Kafka timestamp until its real-time result was on Kafka, by flow",
            "flow",
            buckets=_END_TO_END_BUCKETS,
        )
        self.event_loop_lag = self._histogram(
            "event_loop_lag_seconds", "How late the worker's event loop ran a timer due", buckets=_LAG_BUCKETS
        )
        self.flex_retries = counter(
            "flex_retries", "Flex API retries, by endpoint and cause", "endpoint", "cause", "merchant"
        )
        tokens = "Flex bearer-token fetches, by result (ok or the error's reason)"
        self.flex_token_fetches = counter("flex_token_fetches", tokens, "result", "merchant")
        verified = "Webhook deliveries verified, by result (ok or the reject reason)"
        self.webhook_verifications = counter("webhook_verifications", verified, "result", "merchant")
        self.webhook_deliveries = counter(
            "webhook_deliveries", "Webhook deliveries answered, by outcome", "outcome", "merchant"
        )
        self.webhook_seconds = self._histogram(
            "webhook_seconds",
            "From a webhook delivery's route until its answer was ready (body read, verified, published)",
        )

    def _add_batch_metrics(self) -> None:
        """SFTP batch files and their results."""
        counter = self._counter
        self.batch_files = counter("batch_files", "SFTP batch files uploaded, by kind", "kind", "merchant")
        self.batch_records = counter(
            "batch_records", "Records in uploaded SFTP batch files, by kind", "kind", "merchant"
        )
        self.batch_results = counter("batch_results", "Batch response rows, by status", "status", "merchant")
        self.batch_missing_results = counter(
            "batch_missing_results", "Uploaded records with no batch result in time", "merchant"
        )
        refused = "Batch response files refused: moved to error/, or left in place (an unsafe name)"
        self.batch_bad_responses = counter("batch_bad_responses", refused, "merchant")
        self.batch_upload_failures = counter(
            "batch_upload_failures",
            "Failed attempts of a batch file upload (each tried again), by merchant and reason",
            "merchant",
            "reason",
        )
        self.batch_oldest_unuploaded = self._gauge(
            "batch_oldest_unuploaded_seconds",
            "Age of this worker's oldest batch file not uploaded yet (open or uploading; 0: none)",
        )
        self.batch_partitions_waiting = self._gauge(
            "batch_partitions_waiting",
            "Partitions assigned to the batch consumer whose preparation has not succeeded yet",
        )
        unknown = "Response rows matching no record of the uploaded file (sequence number or orderId)"
        self.batch_unknown_rows = counter("batch_unknown_rows", unknown, "merchant")
        self.batch_already_filed_records = counter(
            "batch_already_filed_records",
            "Records the batch path took that an earlier file holds (a previous owner's upload, a replay)",
            "merchant",
        )
        self.batch_poll_failures = counter(
            "batch_poll_failures", "Failed result polls (SFTP or Kafka)", "merchant"
        )

    def _add_state_metrics(self) -> None:
        """Order state, commands, reconciliation, partitions and readiness."""
        counter, gauge = self._counter, self._gauge
        applied = "OrderStatus records applied to the order state, by verdict"
        self.order_statuses = counter("order_statuses", applied, "verdict")
        self.late_statuses = counter(
            "late_statuses",
            "Statuses older than the order's latest: webhooks delayed past it (not published to "
            "orders.status), Flex's late answers to /evaluate (published with detail.late)",
            "source",
            "merchant",
        )
        self.commands = counter("commands", "Order commands answered, by type and status", "type", "status")
        self.order_table_entries = gauge(
            "order_table_entries", "Orders in this worker's order table, in memory (standby copies included)"
        )
        self.ledger_entries = gauge(
            "ledger_entries", "Finished-event keys in this worker's ledger, in memory (its partitions' only)"
        )
        forgotten = "Final orders dropped from the order table after the retention"
        self.orders_forgotten = counter("orders_forgotten", forgotten)
        self.orders_open = gauge(
            "orders_open", "Non-final orders owned, by state and age since last news", "state", "age"
        )
        lookups = "Flex order lookups by reconciliation, by result"
        self.reconcile_lookups = counter("reconcile_lookups", lookups, "result")
        restarts = "Order table recoveries started again after no progress (faust_recovery.py)"
        self.table_recovery_restarts = counter("table_recovery_restarts", restarts)
        failures = "Faust agents, supervised loops and watched tasks that raised what nothing handles"
        self.task_failures = counter("task_failures", failures, "kind")
        for kind in FAILURE_KINDS:
            self.task_failures.labels(kind)  # at 0 from the start: increase() cannot see a series appear
        undecodable = "Record batches that cannot be decoded"
        self.undecodable_batches = counter("undecodable_batches", undecodable, "topic", "partition")
        self.partitions_held = gauge("partitions_held", "Input partitions paused at an undecodable batch")
        self.in_flight = gauge("in_flight", "Records being processed")
        self.ready = gauge("ready", "1 when joined and clients are ready")
        routing = "1, labelled by a digest of the merchants' names, mids and routings (routing_digest)"
        self.routing_info = gauge("routing_info", routing, "digest")
        lag = "Records the {} consumer has not committed yet, by assigned input partition"
        self.consumer_lag = gauge("consumer_lag", lag.format("real-time"), "topic", "partition")
        self.batch_consumer_lag = gauge("batch_consumer_lag", lag.format("batch"), "topic", "partition")
        waited = "Seconds the batch consumer's oldest record not committed yet has waited, by partition"
        self.batch_consumer_lag_seconds = gauge("batch_consumer_lag_seconds", waited, "topic", "partition")
        agents = "Records a Faust agent (commands, order-state) has not committed yet, by partition held"
        self.agent_consumer_lag = gauge("agent_consumer_lag", agents, "agent", "topic", "partition")

    def add_merchant(self, merchant: str) -> None:
        """Export ``merchant``'s alerting series at 0 (increase() cannot see a series appear)."""
        for reason in get_args(DlqReason):
            self.dlq.labels(reason, merchant)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_deliveries.labels(outcome, merchant)
        for result in TOKEN_RESULTS:
            self.flex_token_fetches.labels(result, merchant)
        self.batch_poll_failures.labels(merchant)
        self.batch_unknown_rows.labels(merchant)
        self.batch_already_filed_records.labels(merchant)

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(f"flexbridge_{name}", documentation, labels, registry=self.registry)

    def _histogram(
        self, name: str, documentation: str, *labels: str, buckets: tuple[float, ...] = _BUCKETS
    ) -> Histogram:
        return Histogram(f"flexbridge_{name}", documentation, labels, registry=self.registry, buckets=buckets)

    def _gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(f"flexbridge_{name}", documentation, labels, registry=self.registry)

    def task_failed(self, kind: str) -> None:
        self.task_failures.labels(kind).inc()

    def undecodable_batch(self, held: Held) -> None:
        self.undecodable_batches.labels(held.topic, str(held.partition)).inc()

    def event_in(self, topic: str, merchant: str = NO_MERCHANT, count: int = 1) -> None:
        self.events_in.labels(topic, merchant).inc(count)

    def event_out(self, topic: str, outcome: str, merchant: str = NO_MERCHANT, count: int = 1) -> None:
        self.events_out.labels(topic, outcome, merchant).inc(count)

    def dead_letter(self, reason: str, merchant: str = NO_MERCHANT) -> None:
        self.dlq.labels(reason, merchant).inc()

    def flex_call(
        self, endpoint: str, status: int | str, seconds: float, merchant: str = SINGLE_MERCHANT_NAME
    ) -> None:
        self.flex_calls.labels(endpoint, str(status), merchant).inc()
        self.flex_latency.labels(endpoint).observe(seconds)

    def finished(self, flow: str, timestamp_ms: int, decided: float) -> None:
        """A real-time record's result was on Kafka at ``decided`` (epoch seconds); its own Kafka
        timestamp was ``timestamp_ms`` (a producer's clock may run ahead of this host's: never below 0)."""
        if timestamp_ms >= 0:
            self.end_to_end.labels(flow).observe(max(0.0, decided - timestamp_ms / 1000))

    def flex_retry(self, endpoint: str, cause: int | str, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.flex_retries.labels(endpoint, str(cause), merchant).inc()

    def flex_observers(self, merchant: str) -> FlexObservers:
        """What hears a merchant's Flex calls (``FlexClient(observers_for=metrics.flex_observers)``)."""
        return FlexObservers(
            on_call=lambda endpoint, status, seconds: self.flex_call(endpoint, status, seconds, merchant),
            on_retry=lambda endpoint, cause: self.flex_retry(endpoint, cause, merchant),
            on_token=lambda result: self.flex_token_fetch(result, merchant),
        )

    def flex_token_fetch(self, result: str, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.flex_token_fetches.labels(result, merchant).inc()

    def webhook_verification(self, result: str, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.webhook_verifications.labels(result, merchant).inc()

    def webhook_delivery(self, outcome: str, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.webhook_deliveries.labels(outcome, merchant).inc()

    def batch_uploaded(self, kind: str, records: int, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.batch_files.labels(kind, merchant).inc()
        self.batch_records.labels(kind, merchant).inc(records)

    def batch_upload_failed(self, merchant: str, reason: str) -> None:
        self.batch_upload_failures.labels(merchant, reason).inc()

    def batch_result(self, status: str, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.batch_results.labels(status, merchant).inc()

    def batch_missing(self, records: int, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.batch_missing_results.labels(merchant).inc(records)

    def batch_bad_response(self, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.batch_bad_responses.labels(merchant).inc()

    def batch_unknown_row(self, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.batch_unknown_rows.labels(merchant).inc()

    def batch_already_filed(self, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.batch_already_filed_records.labels(merchant).inc()

    def batch_poll_failed(self, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.batch_poll_failures.labels(merchant).inc()

    def order_status(self, verdict: str) -> None:
        self.order_statuses.labels(verdict).inc()

    def late_status(self, source: str, merchant: str = SINGLE_MERCHANT_NAME) -> None:
        self.late_statuses.labels(source, merchant).inc()

    def command(self, kind: str, status: str) -> None:
        self.commands.labels(kind, status).inc()

    def set_open(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Replace the open-order gauges: ``(state, age bucket) → count`` of the orders owned now."""
        for (state, age), value in counts.items():
            self.orders_open.labels(state, age).set(value)

    def reconcile_lookup(self, result: str) -> None:
        self.reconcile_lookups.labels(result).inc()

    def set_lag(self, gauge: Gauge, values: Mapping[TopicPartition, float]) -> None:
        """Replace a lag gauge's series (``consumer_lag``, ``batch_consumer_lag``, ``..._seconds``):
        only partitions this worker owns now are reported."""
        gauge.clear()
        for tp, value in values.items():
            gauge.labels(tp.topic, str(tp.partition)).set(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
