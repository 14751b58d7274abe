"""Branches, seat counters, the per-customer guard and reminders on the single table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from pynamodb.connection import Connection
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

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
    get_item,
)
from chalicelib.adapters.transactions import Refusal, Refused, Transaction
from chalicelib.domain.appointments import MAX_OPEN_APPOINTMENTS, upcoming
from chalicelib.domain.errors import SlotFullError, TooManyAppointmentsError
from chalicelib.domain.events import Event
from chalicelib.domain.ticket import Ticket
from chalicelib.service.ports import (
    AppointmentStore,
    IdempotencyRecord,
    Reminder,
    Seat,
    SeatMoves,
    TransactionConflictError,
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


def _hold(ticket_id: str, start: datetime) -> str:
    return f"{slot_key(start)}#{ticket_id}"


def _holds(guard: OpenAppointmentsItem | None) -> dict[str, str]:
    """ticket id -> its hold, as stored."""
    return {hold.partition("#")[2]: hold for hold in (guard.holds if guard else None) or ()}


def _hold_start(hold: str) -> datetime:
    return datetime.strptime(hold.partition("#")[0], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


class GuardMove(msgspec.Struct, frozen=True):
    """The update of a customer's guard item, decided before the transaction."""

    item: OpenAppointmentsItem
    actions: list[Action]
    condition: Condition | None = None


def _guard_move(customer_id: str, ticket_id: str, moves: SeatMoves, at: datetime) -> GuardMove:
    """A released seat stops counting; a taken one counts, if fewer than 3 of the customer's
    other appointments are still ahead at `at` (read first, written only over that read)."""
    item = _guard_item(customer_id)
    bumped = OpenAppointmentsItem.item_type.set(OpenAppointmentsItem)
    if moves.take is None:
        assert moves.release is not None, "a guard move takes or releases a seat"
        # Over any version: giving a seat back never needs the count (but makes a booking
        # that counted before it count again, as its version moved).
        gone: list[Action] = [
            OpenAppointmentsItem.holds.delete({_hold(ticket_id, moves.release.start)}),
            OpenAppointmentsItem.changes.add(1),
            bumped,
        ]
        return GuardMove(item, gone)
    guard = get_item(OpenAppointmentsItem, item.pk, item.sk, consistent=True)
    holds = _holds(guard)
    starts = {held: _hold_start(hold) for held, hold in holds.items()}
    if upcoming(starts, at, besides=ticket_id) >= MAX_OPEN_APPOINTMENTS:
        raise TooManyAppointmentsError(_TOO_MANY)
    # Passed slots are dropped here: the item never grows past the upcoming ones.
    kept = {hold for held, hold in holds.items() if starts[held] > at and held != ticket_id}
    version = guard.changes if guard is not None else None
    unchanged = (
        OpenAppointmentsItem.changes.does_not_exist()
        if version is None
        else OpenAppointmentsItem.changes == version
    )
    actions: list[Action] = [
        OpenAppointmentsItem.holds.set(kept | {_hold(ticket_id, moves.take.start)}),
        OpenAppointmentsItem.changes.set(int(version or 0) + 1),
        bumped,
    ]
    return GuardMove(item, actions, unchanged)


def _move_guard(writes: Transaction, move: GuardMove) -> None:
    writes.update("guard", move.item, actions=move.actions, condition=move.condition)


# A guard written since it was read: count again (the retry reads it afresh).
_SEAT_REFUSALS: dict[str, Refusal] = {
    "seat": lambda: SlotFullError(_FULL),
    "guard": TransactionConflictError,
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
        guard = _guard_move(ticket.customer_id, ticket.id, SeatMoves(take=seat), ticket.created_at)
        with Transaction(self._connection, refusals) as writes:
            write_new_ticket(writes, ticket, events, idempotency, self._retention)
            _take_seat(writes, seat)
            _move_guard(writes, guard)
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
        guard = None
        if moves.take is not None or moves.release is not None:
            guard = _guard_move(changed.customer_id, ticket_id, moves, changed.updated_at)
        with Transaction(self._connection, refusals) as writes:
            item = ticket_to_item(changed, on_disk=expected_version, retention=self._retention)
            writes.save("ticket", item)
            _write_moves(writes, moves)
            if guard is not None:
                _move_guard(writes, guard)
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
    if moves.forget is not None:
        writes.delete("forgotten", _reminder_item(moves.forget))
    if moves.remember is not None:
        writes.save("reminder", _reminder_item(moves.remember))
