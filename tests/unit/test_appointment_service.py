"""Booking, seat moves and reminders through the service, on the in-memory fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.errors import (
    ConflictError,
    NotFoundError,
    SlotFullError,
    SlotNotOfferedError,
    TooManyAppointmentsError,
    ValidationError,
)
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.notifications import template_for
from chalicelib.domain.ticket import Ticket, ticket_view
from chalicelib.service import appointments
from chalicelib.service.appointments import AppointmentPorts, AppointmentRequest
from chalicelib.service.ports import TicketWrite
from chalicelib.service.tickets import StoredResponse, TicketPorts, act
from tests.fakes import (
    FixedClock,
    InMemoryAppointmentStore,
    InMemoryTicketRepository,
    SequentialIds,
)

NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)  # Friday 10:30 in Shanghai
MONDAY_TEN = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
BRANCH = {
    "id": "BR-BJ-GMW",
    "name": "Beijing Guomao Branch",
    "name_zh": "北京国贸支行",
    "timezone": "Asia/Shanghai",
    "address": "1 Jianguomenwai Avenue",
    "counters": 2,
    "hours": {"mon-fri": ["09:00", "17:00"]},
}
ALICE = Caller(Role.CUSTOMER, "alice")


class World:
    def __init__(self) -> None:
        self.repository = InMemoryTicketRepository()
        self.store = InMemoryAppointmentStore(self.repository, [BRANCH])
        self.clock = FixedClock(NOW)
        self.ports = AppointmentPorts(
            store=self.store,
            tickets=self.repository,
            ids=SequentialIds(),
            clock=self.clock,
            calendar=BusinessCalendar,
        )
        self.ticket_ports = TicketPorts(
            repository=self.repository,
            ids=self.ports.ids,
            clock=self.clock,
            appointment_commit=self.commit,
        )

    def commit(
        self,
        before: Ticket,
        changed: Ticket,
        events: list,
        now: datetime,
        *,
        also: tuple[TicketWrite, ...] = (),
    ) -> Ticket:
        return appointments.commit_action(self.ports, before, changed, events, now, also=also)

    def book(self, caller: Caller = ALICE, start: datetime = MONDAY_TEN, **extra) -> Ticket:
        request = AppointmentRequest(
            branch_id=extra.pop("branch_id", "BR-BJ-GMW"),
            slot_start=start,
            category="account",
            subject="Open an account",
            **extra,
        )
        response = appointments.book(self.ports, caller, request, _render)
        return self.repository.tickets[json.loads(response.body)["id"]]

    def reschedule(self, ticket: Ticket, start: datetime) -> Ticket:
        params = {"slot_start": start.isoformat()}
        return act(self.ticket_ports, ALICE, ticket.id, "reschedule", params)

    def taken(self, start: datetime) -> int:
        return self.store.seats_taken("BR-BJ-GMW", "2026-11-30").get(start, 0)


def _render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, json.dumps(ticket_view(ticket)))


@pytest.fixture
def world() -> World:
    return World()


def test_booking_writes_ticket_events_seat_guard_and_reminder_at_once(world):
    ticket = world.book()
    assert world.repository.writes == 1
    assert ticket.kind == "appointment" and ticket.channel == "mobile" and ticket.queue == "branch"
    assert ticket.appointment == {
        "branch_id": "BR-BJ-GMW",
        "slot_start": "2026-11-30T02:00:00+00:00",
        "slot_end": "2026-11-30T02:30:00+00:00",
    }
    created, booked = world.repository.events(ticket.id)
    assert template_for(created) is None  # booking is told once, by appointment.booked
    assert booked.type == "appointment.booked"
    assert booked.data["slot_time"] == "2026-11-30 10:00"
    assert booked.data["branch_name"] == {"zh-CN": "北京国贸支行", "en-US": "Beijing Guomao Branch"}
    assert world.taken(MONDAY_TEN) == 1
    assert world.store.open_counts == {"alice": 1}
    assert len(world.store.reminders) == 1


def test_a_full_slot_writes_nothing(world):
    world.book(Caller(Role.CUSTOMER, "a"))
    world.book(Caller(Role.CUSTOMER, "b"))
    with pytest.raises(SlotFullError):
        world.book(Caller(Role.CUSTOMER, "c"))
    assert world.taken(MONDAY_TEN) == 2
    assert "c" not in world.store.open_counts
    assert len(world.repository.tickets) == 2


def test_a_fourth_open_appointment_is_refused(world):
    for half_hours in range(3):
        world.book(start=MONDAY_TEN + timedelta(minutes=30 * half_hours))
    with pytest.raises(TooManyAppointmentsError):
        world.book(start=MONDAY_TEN + timedelta(hours=2))
    assert world.taken(MONDAY_TEN + timedelta(hours=2)) == 0


def test_unknown_branch_closed_day_and_staff_rules(world):
    with pytest.raises(NotFoundError):
        world.book(branch_id="BR-NOWHERE")
    with pytest.raises(SlotNotOfferedError, match="closed"):
        world.book(start=MONDAY_TEN - timedelta(days=1))
    with pytest.raises(ValidationError):
        world.book(Caller(Role.AGENT, "agent-1"))
    on_behalf = world.book(Caller(Role.AGENT, "agent-1"), customer_id="bob")
    assert on_behalf.customer_id == "bob"
    assert world.store.open_counts == {"bob": 1}


def test_reschedule_moves_the_seat_and_the_reminder(world):
    ticket = world.book()
    later = MONDAY_TEN + timedelta(hours=1)
    moved = act(
        world.ticket_ports, ALICE, ticket.id, "reschedule", {"slot_start": later.isoformat()}
    )
    assert (moved.appointment or {}).get("slot_start") == "2026-11-30T03:00:00+00:00"
    assert (world.taken(MONDAY_TEN), world.taken(later)) == (0, 1)
    assert [r.slot_start for r in world.store.reminders.values()] == [later]
    event = world.repository.events(ticket.id)[-1]
    assert event.type == "appointment.rescheduled"
    assert event.data["slot_time"] == "2026-11-30 11:00"
    assert world.store.open_counts == {"alice": 1}


def test_reschedule_to_a_full_or_unoffered_slot_changes_nothing(world):
    ticket = world.book()
    later = MONDAY_TEN + timedelta(hours=1)
    world.book(Caller(Role.CUSTOMER, "b"), later)
    world.book(Caller(Role.CUSTOMER, "c"), later)
    for target, error in (
        (later, SlotFullError),
        (later + timedelta(minutes=5), SlotNotOfferedError),
    ):
        with pytest.raises(error):
            act(
                world.ticket_ports,
                ALICE,
                ticket.id,
                "reschedule",
                {"slot_start": target.isoformat()},
            )
    assert world.repository.get(ticket.id) == ticket
    assert (world.taken(MONDAY_TEN), world.taken(later)) == (1, 2)


def test_cancel_frees_the_seat_and_the_customers_count(world):
    ticket = world.book()
    act(world.ticket_ports, ALICE, ticket.id, "cancel", {})
    assert world.taken(MONDAY_TEN) == 0
    assert world.store.open_counts == {"alice": 0}
    assert world.store.reminders == {}


def test_merging_a_repeated_booking_frees_its_seat_with_the_targets_entry(world):
    kept = world.book()
    repeated = world.book(start=MONDAY_TEN + timedelta(hours=1))
    agent = Caller(Role.AGENT, "agent-1")

    merged = act(world.ticket_ports, agent, repeated.id, "merge", {"into": kept.id})

    assert merged.status == "closed" and merged.merged_into == kept.id
    assert world.taken(MONDAY_TEN + timedelta(hours=1)) == 0  # the seat is free again
    assert world.taken(MONDAY_TEN) == 1
    assert world.store.open_counts == {"alice": 1}
    assert [r.ticket_id for r in world.store.reminders.values()] == [kept.id]
    target_events = world.repository.event_log[kept.id]
    assert target_events[-1].type == "ticket.merged"
    assert world.repository.tickets[kept.id].version == kept.version  # its clocks stay


def test_an_appointment_merge_into_a_moved_target_changes_nothing(world):
    kept = world.book()
    repeated = world.book(start=MONDAY_TEN + timedelta(hours=1))
    moved = replace(world.repository.tickets[kept.id], version=kept.version + 1)
    commit = world.ticket_ports.appointment_commit
    assert commit is not None

    def racing(before, changed, events, now, *, also=()):
        world.repository.tickets[kept.id] = moved  # the target changes after it was read
        return commit(before, changed, events, now, also=also)

    ports = replace(world.ticket_ports, appointment_commit=racing)
    with pytest.raises(ConflictError):
        act(ports, Caller(Role.AGENT, "agent-1"), repeated.id, "merge", {"into": kept.id})
    assert world.repository.tickets[repeated.id].status == "new"
    assert world.taken(MONDAY_TEN + timedelta(hours=1)) == 1  # nothing half-written
    assert world.store.open_counts == {"alice": 2}


def _resolve(world: World, ticket: Ticket) -> Ticket:
    supervisor = Caller(Role.SUPERVISOR, "sup-1")
    for action, params in (("assign", {}), ("start", {}), ("resolve", {"resolution": "Served"})):
        resolved = act(world.ticket_ports, supervisor, ticket.id, action, params)
    return resolved


def test_resolving_before_the_slot_gives_the_seat_back_and_a_reopen_takes_it_again(world):
    # Spec review 2, Medium 5: an appointment settled before its slot (by phone, say)
    # kept its counter seat, so nobody else could book it.
    ticket = _resolve(world, world.book())
    assert world.taken(MONDAY_TEN) == 0
    assert world.store.open_counts == {"alice": 0}
    act(world.ticket_ports, ALICE, ticket.id, "reopen", {})
    assert world.taken(MONDAY_TEN) == 1
    assert world.store.open_counts == {"alice": 1}


def test_a_reopen_into_a_slot_filled_meanwhile_is_refused_and_changes_nothing(world):
    ticket = _resolve(world, world.book())
    world.book(Caller(Role.CUSTOMER, "b"))
    world.book(Caller(Role.CUSTOMER, "c"))
    with pytest.raises(SlotFullError):
        act(world.ticket_ports, ALICE, ticket.id, "reopen", {})
    assert world.repository.get(ticket.id).status == "resolved"
    assert world.taken(MONDAY_TEN) == 2


def test_resolving_after_the_slot_started_keeps_the_seat(world):
    ticket = world.book()
    world.clock.now = MONDAY_TEN + timedelta(minutes=10)  # the customer is at the counter
    _resolve(world, ticket)
    assert world.taken(MONDAY_TEN) == 1  # the visit happened; a passed seat never moves


def test_appointments_whose_slots_have_passed_no_longer_count(world):
    # Spec review 2, Medium 5: three past appointments nobody resolved kept the customer
    # from ever booking again.
    for half_hours in range(3):
        world.book(start=MONDAY_TEN + timedelta(minutes=30 * half_hours))
    world.clock.now = MONDAY_TEN + timedelta(minutes=5)  # the first slot has started
    world.book(start=MONDAY_TEN + timedelta(hours=3))
    with pytest.raises(TooManyAppointmentsError):  # three are still ahead
        world.book(start=MONDAY_TEN + timedelta(hours=4))
    world.clock.now = NOW + timedelta(days=7)  # the Friday after: every slot has passed
    for half_hours in range(3):
        world.book(start=MONDAY_TEN + timedelta(days=7, minutes=30 * half_hours))
    assert world.store.open_counts == {"alice": 3}  # passed ones dropped by the bookings


def test_the_reminder_goes_once_within_the_lead_time(world):
    ticket = world.book()
    assert appointments.send_reminders(world.ports) == 0  # 2 h lead: not yet
    world.clock.now = MONDAY_TEN - timedelta(hours=2)
    assert appointments.send_reminders(world.ports) == 1
    assert appointments.send_reminders(world.ports) == 0
    reminded = world.repository.events(ticket.id)[-1]
    assert reminded.type == "appointment.reminded" and reminded.actor.role is Role.SYSTEM
    assert reminded.data["branch_name"]["en-US"] == "Beijing Guomao Branch"


def test_a_cancelled_appointment_is_not_reminded(world):
    ticket = world.book()
    world.book(Caller(Role.CUSTOMER, "bob"))
    # Cancelled behind the store's back: the schedule still checks the ticket itself.
    world.repository.tickets[ticket.id] = replace(ticket, status="cancelled")
    world.clock.now = MONDAY_TEN - timedelta(minutes=30)
    assert appointments.send_reminders(world.ports) == 1  # bob's only
    assert world.store.reminders == {}
