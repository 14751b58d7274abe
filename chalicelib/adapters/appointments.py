"""Branches, seat counters, the per-customer guard and reminders on the single table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo import (
    _failed_check,
    _idempotency_condition,
    _idempotency_item,
    _raise_common,
    event_to_item,
    ticket_to_item,
)
from chalicelib.adapters.models import (
    BranchItem,
    EventItem,
    OpenAppointmentsItem,
    ReferenceItem,
    ReminderItem,
    SeatItem,
    TicketItem,
)
from chalicelib.domain.appointments import MAX_OPEN_APPOINTMENTS
from chalicelib.domain.errors import SlotFullError, TooManyAppointmentsError
from chalicelib.domain.events import Event
from chalicelib.domain.ticket import Ticket
from chalicelib.service.ports import (
    AppointmentStore,
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    ReferenceTakenError,
    Reminder,
    Seat,
    SeatMoves,
    VersionConflictError,
)

BRANCH_PARTITION = "BRANCH"
REMINDER_PARTITION = "REMINDER"
OPEN_APPOINTMENTS_SK = "APPOINTMENTS"
_FULL = "The slot is full: every counter is booked"
_TOO_MANY = f"A customer holds at most {MAX_OPEN_APPOINTMENTS} open appointments"


def slot_key(start: datetime) -> str:
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _seat_item(seat: Seat) -> SeatItem:
    return SeatItem(pk=f"SLOT#{seat.branch_id}#{seat.day}", sk=slot_key(seat.start))


def _guard_item(customer_id: str) -> OpenAppointmentsItem:
    return OpenAppointmentsItem(pk=f"CUSTOMER#{customer_id}", sk=OPEN_APPOINTMENTS_SK)


def _reminder_item(reminder: Reminder) -> ReminderItem:
    return ReminderItem(
        pk=REMINDER_PARTITION,
        sk=f"{slot_key(reminder.slot_start)}#{reminder.ticket_id}",
        ticket_id=reminder.ticket_id,
        slot_start=reminder.slot_start,
    )


def _branch_record(item: BranchItem) -> dict[str, Any]:
    return {
        "id": item.sk,
        "name": item.name,
        "name_zh": item.name_zh,
        "timezone": item.timezone,
        "address": item.address,
        "counters": int(item.counters),
        "hours": json.loads(item.hours),
    }


# PynamoDB sends a transaction's items grouped by operation, in this order.
_OPERATION_ORDER = ("check", "delete", "put", "update")


class _Transaction:
    """Writes items and remembers where each named one lands, to tell what failed."""

    def __init__(self, transaction: TransactWrite) -> None:
        self.transaction = transaction
        self.operations: list[tuple[str, str]] = []  # (operation, name)

    def put(self, item: Any, condition: Any = None, name: str = "") -> None:
        self.transaction.save(item, condition=condition)
        self.operations.append(("put", name))

    def position(self, name: str) -> int | None:
        ordered = sorted(self.operations, key=lambda op: _OPERATION_ORDER.index(op[0]))
        names = [op_name for _, op_name in ordered]
        return names.index(name) if name in names else None

    def take_seat(self, seat: Seat) -> None:
        self.transaction.update(
            _seat_item(seat),
            actions=[
                SeatItem.taken.add(1),
                SeatItem.capacity.set(seat.capacity),
                SeatItem.item_type.set(SeatItem),
            ],
            condition=SeatItem.taken.does_not_exist() | (SeatItem.taken < seat.capacity),
        )
        self.operations.append(("update", "seat"))

    def release_seat(self, seat: Seat) -> None:
        self.transaction.update(
            _seat_item(seat), actions=[SeatItem.taken.add(-1)], condition=SeatItem.taken > 0
        )
        self.operations.append(("update", "released"))

    def move_guard(self, customer_id: str, change: int) -> None:
        if change > 0:
            limit = OpenAppointmentsItem.open_count < MAX_OPEN_APPOINTMENTS
            condition = OpenAppointmentsItem.open_count.does_not_exist() | limit
        else:
            condition = OpenAppointmentsItem.open_count > 0
        self.transaction.update(
            _guard_item(customer_id),
            actions=[
                OpenAppointmentsItem.open_count.add(change),
                OpenAppointmentsItem.item_type.set(OpenAppointmentsItem),
            ],
            condition=condition,
        )
        self.operations.append(("update", "guard" if change > 0 else "guard-down"))

    def remember(self, reminder: Reminder) -> None:
        self.put(_reminder_item(reminder))

    def forget(self, reminder: Reminder) -> None:
        self.transaction.delete(_reminder_item(reminder))
        self.operations.append(("delete", ""))

    def events(self, events: list[Event]) -> None:
        for event in events:
            self.put(event_to_item(event), EventItem.pk.does_not_exist())

    def failed(self, error: TransactWriteError, name: str) -> bool:
        position = self.position(name)
        return position is not None and _failed_check(error, position)


def _raise_seat_errors(error: TransactWriteError, writes: _Transaction) -> None:
    if writes.failed(error, "seat"):
        raise SlotFullError(_FULL) from error
    if writes.failed(error, "guard"):
        raise TooManyAppointmentsError(_TOO_MANY) from error


class DynamoAppointmentStore(AppointmentStore):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def branches(self) -> list[dict[str, Any]]:
        return [_branch_record(item) for item in BranchItem.query(BRANCH_PARTITION)]

    def branch(self, branch_id: str) -> dict[str, Any] | None:
        try:
            return _branch_record(BranchItem.get(BRANCH_PARTITION, branch_id))
        except BranchItem.DoesNotExist:
            return None

    def seats_taken(self, branch_id: str, day: str) -> dict[datetime, int]:
        items = SeatItem.query(f"SLOT#{branch_id}#{day}", consistent_read=True)
        return {
            datetime.strptime(item.sk, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC): int(item.taken)
            for item in items
        }

    def book(
        self,
        ticket: Ticket,
        events: list[Event],
        seat: Seat,
        reminder: Reminder,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        reference = ReferenceItem(
            pk=f"REFERENCE#{ticket.reference}", sk="REFERENCE", ticket_id=ticket.id
        )
        try:
            with TransactWrite(connection=self._connection) as transaction:
                writes = _Transaction(transaction)
                writes.put(ticket_to_item(ticket, on_disk=None), TicketItem.pk.does_not_exist())
                writes.put(reference, ReferenceItem.pk.does_not_exist(), name="reference")
                writes.take_seat(seat)
                writes.move_guard(ticket.customer_id, +1)
                writes.remember(reminder)
                writes.events(events)
                if idempotency is not None:
                    writes.put(
                        _idempotency_item(idempotency),
                        _idempotency_condition(idempotency),
                        name="idempotency",
                    )
        except TransactWriteError as error:
            if writes.failed(error, "reference"):
                raise ReferenceTakenError(ticket.reference) from error
            _raise_seat_errors(error, writes)
            if writes.failed(error, "idempotency"):
                raise IdempotencyKeyTakenError() from error
            _raise_common(error, idempotency_index=None)
            raise

    def commit(
        self,
        ticket_id: str,
        expected_version: int,
        changed: Ticket,
        events: list[Event],
        moves: SeatMoves,
    ) -> None:
        try:
            with TransactWrite(connection=self._connection) as transaction:
                writes = _Transaction(transaction)
                writes.put(ticket_to_item(changed, on_disk=expected_version), name="ticket")
                _write_moves(writes, moves)
                writes.events(events)
        except TransactWriteError as error:
            if writes.failed(error, "ticket"):
                raise VersionConflictError(ticket_id) from error
            _raise_seat_errors(error, writes)
            _raise_common(error, idempotency_index=None)
            raise

    def reminders_due(self, slot_until: datetime, limit: int) -> list[Reminder]:
        items = ReminderItem.query(
            REMINDER_PARTITION, ReminderItem.sk <= f"{slot_key(slot_until)}#~", limit=limit
        )
        return [Reminder(item.ticket_id, item.slot_start) for item in items]

    def remind(self, reminder: Reminder, event: Event) -> bool:
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.delete(_reminder_item(reminder), condition=ReminderItem.pk.exists())
                transaction.save(event_to_item(event), condition=EventItem.pk.does_not_exist())
        except TransactWriteError as error:
            if _failed_check(error, index=0):
                return False  # another run reminded first, or the slot moved meanwhile
            raise
        return True

    def forget(self, reminder: Reminder) -> None:
        _reminder_item(reminder).delete()


def _write_moves(writes: _Transaction, moves: SeatMoves) -> None:
    if moves.release is not None:
        writes.release_seat(moves.release)
    if moves.take is not None:
        writes.take_seat(moves.take)
    if moves.open_change:
        writes.move_guard(moves.customer_id, moves.open_change)
    if moves.forget is not None:
        writes.forget(moves.forget)
    if moves.remember is not None:
        writes.remember(moves.remember)
