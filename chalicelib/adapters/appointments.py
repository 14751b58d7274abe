"""Branches, seat counters, the per-customer guard and reminders on the single table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.connection import Connection

from chalicelib.adapters.dynamo import (
    event_items,
    new_ticket_refusals,
    ticket_to_item,
    write_new_ticket,
    write_ticket_change,
)
from chalicelib.adapters.models import (
    BranchItem,
    OpenAppointmentsItem,
    ReminderItem,
    SeatItem,
)
from chalicelib.adapters.transactions import Refusal, Refused, Transaction
from chalicelib.domain.appointments import MAX_OPEN_APPOINTMENTS
from chalicelib.domain.errors import SlotFullError, TooManyAppointmentsError
from chalicelib.domain.events import Event
from chalicelib.domain.ticket import Ticket
from chalicelib.service.ports import (
    AppointmentStore,
    IdempotencyRecord,
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


def _take_seat(writes: Transaction, seat: Seat) -> None:
    writes.update(
        "seat",
        _seat_item(seat),
        actions=[
            SeatItem.taken.add(1),
            SeatItem.capacity.set(seat.capacity),
            SeatItem.item_type.set(SeatItem),
        ],
        condition=SeatItem.taken.does_not_exist() | (SeatItem.taken < seat.capacity),
    )


def _release_seat(writes: Transaction, seat: Seat) -> None:
    writes.update(
        "released", _seat_item(seat), [SeatItem.taken.add(-1)], condition=SeatItem.taken > 0
    )


def _move_guard(writes: Transaction, customer_id: str, change: int) -> None:
    if change > 0:
        limit = OpenAppointmentsItem.open_count < MAX_OPEN_APPOINTMENTS
        condition = OpenAppointmentsItem.open_count.does_not_exist() | limit
    else:
        condition = OpenAppointmentsItem.open_count > 0
    writes.update(
        "guard" if change > 0 else "guard-down",
        _guard_item(customer_id),
        actions=[
            OpenAppointmentsItem.open_count.add(change),
            OpenAppointmentsItem.item_type.set(OpenAppointmentsItem),
        ],
        condition=condition,
    )


_SEAT_REFUSALS = {
    "seat": lambda: SlotFullError(_FULL),
    "guard": lambda: TooManyAppointmentsError(_TOO_MANY),
}


class DynamoAppointmentStore(AppointmentStore):
    def __init__(self, connection: Connection, retention: timedelta) -> None:
        self._connection = connection
        self._retention = retention  # a cancelled or merged appointment's expiry

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
        new_ticket = new_ticket_refusals(ticket)
        refusals = {"reference": new_ticket["reference"], **_SEAT_REFUSALS, **new_ticket}
        with Transaction(self._connection, refusals) as writes:
            write_new_ticket(writes, ticket, events, idempotency, self._retention)
            _take_seat(writes, seat)
            _move_guard(writes, ticket.customer_id, +1)
            writes.save("reminder", _reminder_item(reminder))

    def commit(
        self,
        ticket_id: str,
        expected_version: int,
        changed: Ticket,
        events: list[Event],
        moves: SeatMoves,
    ) -> None:
        refusals: dict[str, Refusal] = {
            "ticket": lambda: VersionConflictError(ticket_id),
            **_SEAT_REFUSALS,
        }
        refusals.update(
            {
                f"also{number}:ticket": _moved(write.ticket_id)
                for number, write in enumerate(moves.also)
            }
        )
        with Transaction(self._connection, refusals) as writes:
            item = ticket_to_item(changed, on_disk=expected_version, retention=self._retention)
            writes.save("ticket", item)
            _write_moves(writes, moves)
            writes.events(event_items(events, None))
            for number, write in enumerate(moves.also):
                write_ticket_change(writes, f"also{number}:", write, None, self._retention)

    def reminders_due(self, slot_until: datetime, limit: int) -> list[Reminder]:
        items = ReminderItem.query(
            REMINDER_PARTITION, ReminderItem.sk <= f"{slot_key(slot_until)}#~", limit=limit
        )
        return [Reminder(item.ticket_id, item.slot_start) for item in items]

    def remind(self, reminder: Reminder, event: Event) -> bool:
        try:
            with Transaction(self._connection) as writes:
                writes.delete("reminder", _reminder_item(reminder), ReminderItem.pk.exists())
                writes.events(event_items([event], None))
        except Refused:
            return False  # another run reminded first, or the slot moved meanwhile
        return True

    def forget(self, reminder: Reminder) -> None:
        _reminder_item(reminder).delete()


def _moved(ticket_id: str) -> Refusal:
    return lambda: VersionConflictError(ticket_id)


def _write_moves(writes: Transaction, moves: SeatMoves) -> None:
    if moves.release is not None:
        _release_seat(writes, moves.release)
    if moves.take is not None:
        _take_seat(writes, moves.take)
    if moves.open_change:
        _move_guard(writes, moves.customer_id, moves.open_change)
    if moves.forget is not None:
        writes.delete("forgotten", _reminder_item(moves.forget))
    if moves.remember is not None:
        writes.save("reminder", _reminder_item(moves.remember))
