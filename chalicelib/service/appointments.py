"""Appointment use cases: branches, slots, booking, seat moves on actions, reminders.

A seat is a conditional counter per branch slot: booking, rescheduling and
cancelling move it in the same transaction as the ticket and its events, so
capacity is never exceeded and an appointment never holds two seats or none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from msgspec.structs import replace

from chalicelib.domain.appointments import (
    APPOINTMENT,
    Branch,
    Slot,
    appointment_of,
    branch_from,
    event_data,
    holds_seat,
    offered_slot,
    slot_of,
    slots_on,
)
from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    SlotNotOfferedError,
    ValidationError,
)
from chalicelib.domain.events import (
    AppointmentBooked,
    AppointmentReminded,
    AppointmentRescheduled,
    Event,
    EventType,
)
from chalicelib.domain.fields import shared_fields
from chalicelib.domain.identity import SYSTEM, Caller
from chalicelib.domain.statuses import Action, Status
from chalicelib.domain.ticket import Ticket, TicketRequest, isoformat
from chalicelib.service.ports import (
    AppointmentStore,
    IdempotencyRecord,
    Reminder,
    Seat,
    SeatMoves,
    TicketWrite,
)
from chalicelib.service.tickets import (
    Opening,
    OpensTicket,
    TicketAccess,
    open_with_new_ids,
    opens_ticket,
)

DEFAULT_REMINDER_LEAD = timedelta(hours=2)
REMINDER_BATCH = 100
_MAX_BRANCH_ID = 64


class AppointmentPorts(TicketAccess, frozen=True):
    store: AppointmentStore
    calendar: Callable[[], BusinessCalendar]  # the bank's; loaded on first use
    reminder_lead: timedelta = DEFAULT_REMINDER_LEAD

    def calendar_of(self, branch: Branch) -> BusinessCalendar:
        return branch.calendar(self.calendar())


class AppointmentRequest(msgspec.Struct, frozen=True):
    """A validated POST /v1/appointments body."""

    branch_id: str
    slot_start: datetime
    category: str
    subject: str
    description: str = ""
    contact: dict[str, str] | None = None
    channel: str = "mobile"
    customer_id: str | None = None


def list_branches(ports: AppointmentPorts) -> list[Branch]:
    """Every branch, by id."""
    return sorted((branch_from(record) for record in ports.store.branches()), key=lambda b: b.id)


def find_branch(ports: AppointmentPorts, branch_id: str) -> Branch:
    """The branch, or NotFoundError."""
    record = ports.store.branch(branch_id) if 0 < len(branch_id) <= _MAX_BRANCH_ID else None
    if record is None:
        raise NotFoundError(f"No branch {branch_id[:_MAX_BRANCH_ID]}")
    return branch_from(record)


def list_slots(ports: AppointmentPorts, branch: Branch, day: date) -> list[dict[str, Any]]:
    """The day's bookable slots with capacity and seats available (full ones show 0)."""
    slots = slots_on(ports.calendar_of(branch), day, ports.clock())
    if not slots:
        return []
    taken = ports.store.seats_taken(branch.id, day.isoformat())
    return [
        {
            "start": slot.key,
            "end": isoformat(slot.end),
            "capacity": branch.counters,
            "available": max(branch.counters - taken.get(slot.start, 0), 0),
        }
        for slot in slots
    ]


def _booking(
    ports: AppointmentPorts, caller: Caller, request: AppointmentRequest, now: datetime
) -> Opening:
    """Book a slot: ticket, reference, events, seat, guard and reminder in one write."""
    branch = find_branch(ports, request.branch_id)
    ticket, created = open_with_new_ids(_ticket_request(request), caller, ports.ids, now)
    calendar = ports.calendar_of(branch)
    slot = offered_slot(calendar, request.slot_start, now)
    ticket = replace(ticket, appointment=appointment_of(branch, slot))
    booked = Event.of(
        ports.ids.event_id(), ticket.id, now, caller, AppointmentBooked(**event_data(branch, slot))
    )
    seat = _seat(branch, calendar, slot)

    def create(opened: Ticket, record: IdempotencyRecord | None) -> None:
        reminder = Reminder(opened.id, slot.start)
        ports.store.book(opened, [created, booked], seat, reminder, record)

    return ticket, create


def _in_demand() -> ConflictError:
    return ConflictError("The slot is in demand right now; retry")


book: OpensTicket[AppointmentPorts, AppointmentRequest] = opens_ticket(
    _booking, AppointmentPorts.ticket_ports, busy=_in_demand
)


def _ticket_request(request: AppointmentRequest) -> TicketRequest:
    """The ticket part of a booking: the fields it shares with a ticket request."""
    return TicketRequest(kind=APPOINTMENT, **shared_fields(request, TicketRequest))


def _seat(branch: Branch, calendar: BusinessCalendar, slot: Slot) -> Seat:
    day = calendar.local_day(slot.start).isoformat()
    return Seat(branch.id, day, slot.start, branch.counters)


def commit_action(
    ports: AppointmentPorts,
    before: Ticket,
    changed: Ticket,
    events: list[Event],
    now: datetime,
    *,
    also: tuple[TicketWrite, ...] = (),
) -> Ticket:
    """Write an action on an appointment with what it does to its seat, in one transaction
    (with `also`, the other tickets the action checks or changes: a merge's target).

    `reschedule` moves the seat; otherwise the seat follows `holds_seat`: an appointment
    leaving the open statuses before its slot (cancel, merge, resolve) gives it back, one
    reopened before its slot takes it again. After the slot has started, nothing moves.
    """
    moves = SeatMoves(also=also)
    if events and events[0].type == EventType.APPOINTMENT_RESCHEDULED:
        changed, events, moves = _rescheduled(ports, before, (changed, events, moves), now)
    elif before.appointment and holds_seat(before, now) != holds_seat(changed, now):
        branch = find_branch(ports, before.appointment["branch_id"])
        seat = _seat(branch, ports.calendar_of(branch), slot_of(before))
        if holds_seat(before, now):
            unserved = changed.status == Status.CANCELLED or changed.merged_into is not None
            forget = Reminder(before.id, seat.start) if unserved else None
            moves = replace(moves, release=seat, forget=forget)
        else:
            moves = replace(moves, take=seat)
    ports.store.commit(before.id, before.version, changed, events, moves)
    return changed


def _rescheduled(
    ports: AppointmentPorts,
    before: Ticket,
    change: tuple[Ticket, list[Event], SeatMoves],
    now: datetime,
) -> tuple[Ticket, list[Event], SeatMoves]:
    changed, events, moves = change
    branch = find_branch(ports, (before.appointment or {})["branch_id"])
    calendar = ports.calendar_of(branch)
    new = offered_slot(calendar, _slot_start((changed.appointment or {})["slot_start"]), now)
    old = slot_of(before)
    if new.start == old.start:
        raise SlotNotOfferedError("The appointment is already booked for this slot")
    changed = replace(changed, appointment=appointment_of(branch, new))
    told = AppointmentRescheduled(
        action=Action.RESCHEDULE, **event_data(branch, new), previous_slot_start=old.key
    )
    moved = [
        replace(event, data=told.to_data()) if event.type == told.TYPE else event
        for event in events
    ]
    moves = replace(
        moves,
        # A passed slot's seat stays where it was (history, never booked again).
        release=_seat(branch, calendar, old) if holds_seat(before, now) else None,
        take=_seat(branch, calendar, new),
        forget=Reminder(before.id, old.start),
        remember=Reminder(before.id, new.start),
    )
    return changed, moved, moves


def _slot_start(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValidationError([FieldError("slot_start", "must be an RFC 3339 time with offset")])
    return moment


def send_reminders(ports: AppointmentPorts) -> int:
    """Remind customers of slots starting within the lead time, once each (the schedule)."""
    now = ports.clock()
    sent = 0
    for reminder in ports.store.reminders_due(now + ports.reminder_lead, REMINDER_BATCH):
        event = _reminder_event(ports, reminder, now)
        if event is None:
            ports.store.forget(reminder)
        elif ports.store.remind(reminder, event):
            sent += 1
    return sent


def _reminder_event(ports: AppointmentPorts, reminder: Reminder, now: datetime) -> Event | None:
    """The reminded event, or None when the reminder no longer applies."""
    ticket = ports.tickets.get(reminder.ticket_id)
    if ticket is None or not ticket.is_open or not ticket.appointment:
        return None
    slot = slot_of(ticket)
    if slot.start != reminder.slot_start.astimezone(UTC) or slot.start <= now:
        return None
    record = ports.store.branch(ticket.appointment["branch_id"])
    if record is None:
        return None
    reminded = AppointmentReminded(**event_data(branch_from(record), slot))
    return Event.of(ports.ids.event_id(), ticket.id, now, SYSTEM, reminded)
