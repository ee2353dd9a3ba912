"""Order state: a Faust table of every order, fed by every OrderStatus on ``orders.status``.

The table is keyed by merchant and orderId (``mid/orderId``) when several merchants are served,
by the plain orderId otherwise (``consumers/order_keys.py``). The table lives in memory
(``store="memory://"``); its changelog topic in Kafka is the durable copy, read back by whichever
worker is assigned the partition. A table change goes to the changelog partition of the record
that made it (Faust's ``Table.partition_for_key`` for the command agent's event; named by the fold of
a batch of statuses, streams/runtime/faust_table.py), and every record that writes the table comes
from ``orders.status`` or ``orders.commands``, both keyed by the orderId (a command off its
orderId's partition is produced again to it first: commands.py): so an order's entry, of
whichever merchant, sits in its orderId's partition, whatever its table key.
``GET /orders/{orderId}`` shows them (streams/runtime/order_view.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from pydantic import ValidationError

from consumers.order_keys import order_key, status_mid
from consumers.order_machine import fold_json, opens_no_order
from core.merchants import load_merchants, mid_key
from core.settings import Settings
from schemas.order_state import OrderState
from schemas.status import OrderStatus
from streams.runtime.agent_lag import fold_ends
from streams.runtime.faust_batches import event_batches
from streams.runtime.faust_table import delete_outside_event, order_table, send_outside_event
from streams.runtime.folds import Folds
from streams.runtime.metrics import Metrics

__all__ = [
    "ORDER_TABLE",
    "Expired",
    "OrderBook",
    "UnreadableOrder",
    "add_order_state",
    "order_changelog",
    "raw_topic",
    "served_mids",
]

log = logging.getLogger(__name__)


def raw_topic(app: faust.App, name: str) -> Any:
    """A Faust topic of raw bytes (flexbridge decodes with its own pydantic models)."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


@dataclass(frozen=True, slots=True)
class Expired:
    """A final order past the retention, as a pass read it: its table key, orderId, stored JSON and
    partition (its orderId's, where its changelog records are)."""

    key: Any
    order_id: str
    raw: bytes
    partition: int


class UnreadableOrder(ValueError):
    """A stored order entry this release cannot read as an OrderState: corrupt, or written by another
    release (a status it does not know). Its message names the fields and errors, never a value."""

    def __init__(self, key: str, raw: bytes, error: ValidationError) -> None:
        found = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['type']}" for e in error.errors()[:3]
        )
        super().__init__(f"order {key}: stored entry unreadable ({found})")
        self.raw = raw


class OrderBook:
    """The ``orders`` table: order key → OrderState JSON. :meth:`put` writes inside the command
    agent's event; :meth:`on_statuses` and :meth:`forget` write outside one, naming each changelog
    partition (streams/runtime/faust_table.py).

    ``mids``: the served merchants' mids; with more than one, entries are keyed by merchant."""

    def __init__(self, table: Any, metrics: Metrics, mids: Sequence[str] = ()) -> None:
        self.table = table  # the Faust table of :func:`order_table` (a dict in unit tests)
        self.metrics = metrics
        self.mids = tuple(mids)
        self._mid_set = frozenset(self.mids)
        self._spellings = {mid_key(mid): mid for mid in self.mids}
        self.by_merchant = len(self.mids) > 1
        self.in_use: set[str] = set()  # orderIds a command is acting on: not forgotten meanwhile
        self.folds = Folds()  # how far the agent has folded orders.status (a command may wait for it)
        # where a fold writes: the Faust table's store (the changelog is sent once a batch), or a dict
        self._memory = getattr(table, "data", table)

    def _read(self, key: str) -> OrderState | None:
        raw = self.table.get(key)
        if raw is None:
            return None
        try:
            return OrderState.model_validate_json(raw)
        except ValidationError as exc:
            raise UnreadableOrder(key, raw, exc) from None

    def spelt(self, mid: str | None) -> str | None:
        """A served merchant's mid as configured, whatever the case of ``mid`` (``core.merchants``
        ``mid_key``): the one spelling of its ``mid/orderId`` keys. Any other mid as given."""
        return mid if mid is None else self._spellings.get(mid_key(mid), mid)

    def get(self, order_id: str, mid: str | None = None) -> OrderState | None:
        """Merchant ``mid``'s order ``order_id`` (None: the order that names no merchant). An entry
        written under the plain orderId before the table was keyed by merchant still counts."""
        mid = self.spelt(mid)
        state = self._read(order_key(order_id, mid, by_merchant=self.by_merchant))
        if state is None and self.by_merchant and mid is not None:
            legacy = self._read(order_id)
            return legacy if legacy is not None and legacy.mid == mid else None
        return state

    def orders_of(self, order_id: str) -> list[OrderState]:
        """Every order of this orderId: each served merchant's (one lookup per merchant, no scan);
        when no merchant has one, the entry that names no merchant (or one not served), e.g. an
        order cancelled by a command before flexbridge saw its status."""
        if not self.by_merchant:
            state = self._read(order_id)
            return [] if state is None else [state]
        found = [s for mid in self.mids if (s := self.get(order_id, mid)) is not None]
        plain = None if found else self._read(order_id)
        return found if plain is None or plain.mid in self._mid_set else [plain]

    def _only_owner(self, order_id: str) -> str | None:
        """The mid of the one served merchant with an order ``order_id`` (None: none, or several):
        a status that names no merchant (a webhook on the plain path) is that order's."""
        owners = [s.mid for s in self.orders_of(order_id) if s.mid in self._mid_set]
        return owners[0] if len(owners) == 1 else None

    def order_id_of(self, key: str) -> str:
        """The orderId of a table key (``mid/orderId`` for a served merchant's order, else plain)."""
        if self.by_merchant:
            mid, sep, order_id = key.partition("/")
            if sep and mid in self._mid_set:
                return order_id
        return key

    def _stored(self, order_id: str, mid: str | None) -> bytes | None:
        """The stored JSON of the order :meth:`get` reads."""
        mid = self.spelt(mid)
        raw: bytes | None = self.table.get(order_key(order_id, mid, by_merchant=self.by_merchant))
        if raw is None and self.by_merchant and mid is not None:
            state = self.get(order_id, mid)  # an entry under the plain orderId, if it is this merchant's
            return None if state is None else state.model_dump_json(by_alias=True).encode()
        return raw

    def put(self, state: OrderState, mid: str | None = None) -> asyncio.Future[Any] | None:
        """Store ``state`` as merchant ``mid``'s order (None: under the plain orderId); the future of
        its changelog record, resolved once Kafka has it (None when the table is a plain dict)."""
        mid = self.spelt(mid)
        key = order_key(state.order_id, mid, by_merchant=self.by_merchant)
        self.table[key] = state.model_dump_json(by_alias=True).encode()
        sent: asyncio.Future[Any] | None = getattr(self.table, "last_changelog", None)
        return sent

    def forget(self, expired: Iterable[Expired]) -> int:
        """Drop the ``expired`` orders still stored as read (no news since) and not :attr:`in_use`,
        from memory and, by a tombstone in their changelog partition (the orderId's, where every
        change of the order went), from the table's durable copy; the number dropped. Called from a
        timer, outside any agent's event (``faust_table.delete_outside_event``)."""
        dropped = 0
        for order in expired:
            if order.order_id in self.in_use or self.table.get(order.key) != order.raw:
                continue
            delete_outside_event(self.table, order.key, order.partition)
            dropped += 1
        if dropped:
            log.info("forgot %d final orders without news for the retention", dropped)
        return dropped

    def on_statuses(self, records: Iterable[tuple[bytes | None, bytes | None, int]]) -> None:
        """Apply ``orders.status`` records (key, value, partition) in turn, each on the state the ones
        before it left; then send each order they changed to its changelog partition once, with its
        last value (streams/runtime/faust_table.py). A record that is not an OrderStatus is skipped."""
        changed: dict[str, int] = {}
        for key, value, partition in records:
            written = self._fold(key, value)
            if written is not None:
                changed[written] = partition
        if self._memory is not self.table:
            for table_key, partition in changed.items():
                send_outside_event(self.table, table_key, partition)

    def _fold(self, key: bytes | None, value: bytes | None) -> str | None:
        """Fold one record into the table's memory; the table key it wrote, if any."""
        try:
            status = OrderStatus.model_validate_json(value or b"")
        except ValidationError as exc:
            log.warning("orders.status record skipped: not an OrderStatus (%d errors)", exc.error_count())
            self.metrics.order_status("invalid")
            return None
        if key is not None and key != status.order_id.encode():
            # the table is partitioned by orderId: a record keyed otherwise cannot be placed
            log.warning("orders.status record skipped: key differs from its orderId")
            self.metrics.order_status("misrouted")
            return None
        try:
            mid = self.spelt(status_mid(status))  # two merchants' orders of one orderId are two orders
            if mid is None and self.by_merchant:
                mid = self._only_owner(status.order_id)  # reads the orderId's entries
            stored = self._stored(status.order_id, mid)
            if stored is None and opens_no_order(status):  # a refused command makes no order
                self.metrics.order_status("answer")
                return None
            # folded on the stored JSON (consumers/order_machine.py fold_json): no model built per status
            written, verdict, note = fold_json(stored, status)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # corrupt, or another release's
            log.error(
                "order %s: stored entry unreadable (%s); status not applied",
                status.order_id,
                type(exc).__name__,
            )
            self.metrics.order_status("unreadable")
            return None
        if verdict == "illegal":
            log.warning("order %s: %s", status.order_id, note)
        self.metrics.order_status(verdict)
        if written is None:
            return None
        table_key = order_key(status.order_id, mid, by_merchant=self.by_merchant)
        self._memory[table_key] = written
        return table_key


ORDER_TABLE = "orders"  # the Faust table's name, and so part of its changelog topic's


def order_changelog(app_id: str) -> str:
    """The order table's changelog topic of the Faust app ``app_id`` (Faust names it so)."""
    return f"{app_id}-{ORDER_TABLE}-changelog"


def served_mids(settings: Settings) -> tuple[str, ...]:
    """The mids of the merchants file's merchants (none without a file: one merchant, plain keys)."""
    if settings.merchants_file is None:
        return ()
    return tuple(m.mid for m in load_merchants(settings) if m.mid is not None)


def add_order_state(
    app: faust.App, status_topic: str, partitions: int, metrics: Metrics, mids: Sequence[str] = ()
) -> OrderBook:
    """The table (``partitions`` like every topic; keyed by merchant when ``mids`` has several),
    and the agent that keeps it from ``status_topic``."""
    book = OrderBook(order_table(app, ORDER_TABLE, partitions), metrics, mids)
    book.folds.ends = fold_ends(app, status_topic)

    @app.agent(raw_topic(app, status_topic), name="flexbridge-order-state")
    async def track(stream: Any) -> None:
        async for events in event_batches(stream):  # a batch a turn (streams/runtime/faust_batches.py)
            book.on_statuses((event.key, event.value, event.message.partition) for event in events)
            for event in events:
                book.folds.folded(event.message.partition, event.message.offset)

    return book
