"""One contract, two implementations: the in-memory appointment store and DynamoDB on moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from msgspec.structs import replace
from pynamodb.connection import Connection

from chalicelib import bootstrap
from chalicelib.adapters.appointments import _guard_move, _move_guard
from chalicelib.adapters.transactions import Refusal, Transaction
from chalicelib.domain.errors import SlotFullError, TooManyAppointmentsError
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, TicketRequest, open_ticket
from chalicelib.service.ports import (
    AppointmentStore,
    Reminder,
    Seat,
    SeatMoves,
    TicketRepository,
    TicketWrite,
    TransactionConflictError,
    VersionConflictError,
)
from local.seed import BRANCHES_FILE, seed_branches
from tests.fakes import InMemoryAppointmentStore, InMemoryTicketRepository

NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
TEN = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
HALF_PAST = TEN + timedelta(minutes=30)


def _seat(start: datetime = TEN, capacity: int = 2) -> Seat:
    return Seat("BR-BJ-GMW", "2026-11-30", start, capacity)


def _ticket(number: int, customer: str = "cust-1") -> tuple[Ticket, list[Event]]:
    request = TicketRequest("mobile", "appointment", "account", "Open an account", "", None)
    ticket, created = open_ticket(
        request,
        Caller(Role.CUSTOMER, customer),
        ticket_id=f"T-{number:026d}",
        reference=f"SD-{number:08d}",
        event_id=f"E-{number:026d}",
        now=NOW,
    )
    slot = {"branch_id": "BR-BJ-GMW", "slot_start": TEN.isoformat(), "slot_end": ""}
    return replace(ticket, appointment=slot), [created]


@pytest.fixture(params=["in-memory", "dynamodb"])
def stores(request, aws) -> tuple[AppointmentStore, TicketRepository]:
    branches = json.loads(BRANCHES_FILE.read_text(encoding="utf-8"))
    if request.param == "in-memory":
        repository = InMemoryTicketRepository()
        return InMemoryAppointmentStore(repository, branches), repository
    seed_branches(boto3.client("dynamodb"), aws["table_name"])
    ports = bootstrap.container().appointment_ports()
    return ports.store, ports.tickets


def _book(store: AppointmentStore, number: int, customer: str = "cust-1", seat: Seat | None = None):
    ticket, events = _ticket(number, customer)
    seat = seat or _seat()
    store.book(ticket, events, seat, Reminder(ticket.id, seat.start))
    return ticket


def test_branches_read_back_with_their_hours(stores):
    store, _ = stores
    branches = {record["id"]: record for record in store.branches()}
    assert branches["BR-BJ-GMW"]["counters"] == 3
    assert branches["BR-SH-LJZ"]["hours"]["sat"] == ["09:00", "12:00"]
    assert store.branch("BR-UR-XJR")["name_zh"] == "乌鲁木齐新疆路支行"
    assert store.branch("BR-NOWHERE") is None


def test_seats_add_up_and_a_full_slot_refuses_without_writing(stores):
    store, tickets = stores
    _book(store, 1, "a")
    _book(store, 2, "b")
    ticket, events = _ticket(3, "c")
    with pytest.raises(SlotFullError):
        store.book(ticket, events, _seat(), Reminder(ticket.id, TEN))
    assert store.seats_taken("BR-BJ-GMW", "2026-11-30") == {TEN: 2}
    assert tickets.get(ticket.id) is None
    assert [r.ticket_id for r in store.reminders_due(TEN, 10)] == [
        "T-00000000000000000000000001",
        "T-00000000000000000000000002",
    ]


def test_a_customer_holds_at_most_three_open_appointments(stores):
    store, tickets = stores
    for number in range(3):
        _book(store, number + 1, seat=_seat(TEN + timedelta(hours=number)))
    ticket, events = _ticket(9)
    with pytest.raises(TooManyAppointmentsError):
        store.book(ticket, events, _seat(HALF_PAST), Reminder(ticket.id, HALF_PAST))
    assert HALF_PAST not in store.seats_taken("BR-BJ-GMW", "2026-11-30")
    assert tickets.get(ticket.id) is None


def test_moving_a_seat_is_one_write_or_none(stores):
    store, tickets = stores
    mover = _book(store, 1)
    _book(store, 2, "b", _seat(HALF_PAST, 1))
    moved = replace(mover, version=2)
    moved_type = EventType.APPOINTMENT_RESCHEDULED
    event = Event("E-00000000000000000000000099", mover.id, moved_type, NOW, SYSTEM)
    moves = SeatMoves(
        release=_seat(TEN),
        take=_seat(HALF_PAST, 1),
        forget=Reminder(mover.id, TEN),
        remember=Reminder(mover.id, HALF_PAST),
    )
    with pytest.raises(SlotFullError):
        store.commit(mover.id, 1, moved, [event], moves)
    assert store.seats_taken("BR-BJ-GMW", "2026-11-30") == {TEN: 1, HALF_PAST: 1}
    assert tickets.get(mover.id) == mover

    roomy = replace(moves, take=_seat(HALF_PAST, 2))
    store.commit(mover.id, 1, moved, [event], roomy)
    assert store.seats_taken("BR-BJ-GMW", "2026-11-30") == {TEN: 0, HALF_PAST: 2}
    assert [r.slot_start for r in store.reminders_due(HALF_PAST, 10)] == [HALF_PAST, HALF_PAST]
    with pytest.raises(VersionConflictError):
        store.commit(mover.id, 1, moved, [], SeatMoves())


def test_cancelling_frees_the_seat_and_the_guard(stores):
    store, _ = stores
    for number in range(3):
        _book(store, number + 1, seat=_seat(TEN + timedelta(hours=number)))
    first, _ = _ticket(1)
    cancelled = replace(first, status=Status.CANCELLED, version=2)
    moves = SeatMoves(release=_seat(TEN), forget=Reminder(first.id, TEN))
    store.commit(first.id, 1, cancelled, [], moves)
    assert store.seats_taken("BR-BJ-GMW", "2026-11-30")[TEN] == 0
    _book(store, 4, seat=_seat(HALF_PAST))  # the guard let one more in


def test_a_merge_frees_the_seat_and_writes_the_targets_entry_in_one_transaction(stores):
    store, tickets = stores
    kept = _book(store, 1)
    repeated = _book(store, 2, seat=_seat(HALF_PAST))
    merged_into = replace(repeated, status=Status.CLOSED, merged_into=kept.id, version=2)
    entry = Event(
        "E-00000000000000000000000099",
        kept.id,
        EventType.MERGED,
        NOW,
        SYSTEM,
        {"from": repeated.id},
    )
    target = TicketWrite(kept.id, kept.version, None, [entry])
    moves = SeatMoves(
        release=_seat(HALF_PAST),
        forget=Reminder(repeated.id, HALF_PAST),
        also=(target,),
    )

    stale = replace(moves, also=(replace(target, expected_version=kept.version + 1),))
    with pytest.raises(VersionConflictError):  # the target moved: nothing is written
        store.commit(repeated.id, 1, merged_into, [], stale)
    assert store.seats_taken("BR-BJ-GMW", "2026-11-30")[HALF_PAST] == 1

    store.commit(repeated.id, 1, merged_into, [], moves)

    assert store.seats_taken("BR-BJ-GMW", "2026-11-30")[HALF_PAST] == 0
    assert [event.id for event in tickets.events(kept.id)][-1] == entry.id
    current = tickets.get(kept.id)
    assert current is not None and current.version == kept.version


def test_a_reminder_is_written_once(stores):
    store, tickets = stores
    ticket = _book(store, 1)
    [reminder] = store.reminders_due(TEN, 10)
    assert store.reminders_due(TEN - timedelta(minutes=1), 10) == []
    event = Event(
        "E-00000000000000000000000042", ticket.id, EventType.APPOINTMENT_REMINDED, NOW, SYSTEM
    )
    assert store.remind(reminder, event) is True
    assert store.remind(reminder, replace(event, id="E-00000000000000000000000043")) is False
    assert [e.type for e in tickets.events(ticket.id)].count("appointment.reminded") == 1
    assert store.reminders_due(TEN, 10) == []


def test_only_appointments_still_ahead_count_toward_the_limit(stores):
    # Spec review 2, Medium 5: passed slots counted for ever.
    store, tickets = stores
    for number in range(3):
        _book(store, number + 1, seat=_seat(TEN + timedelta(hours=number)))
    started = TEN + timedelta(minutes=1)  # the first slot has started
    fourth, events = _ticket(4)
    fourth = replace(fourth, created_at=started)
    four = TEN + timedelta(hours=3)
    store.book(fourth, events, _seat(four), Reminder(fourth.id, four))
    fifth, events = _ticket(5)
    fifth = replace(fifth, created_at=started)
    with pytest.raises(TooManyAppointmentsError):
        store.book(fifth, events, _seat(four), Reminder(fifth.id, four))
    assert tickets.get(fifth.id) is None


def test_a_booking_counted_over_a_guard_written_since_is_refused_to_count_again(aws):
    # A booking reads the guard, then writes it only over the version it counted.
    seed_branches(boto3.client("dynamodb"), aws["table_name"])
    store = bootstrap.container().appointment_store
    _book(store, 1)
    second, _ = _ticket(2)
    counted = _guard_move("cust-1", second.id, SeatMoves(take=_seat(HALF_PAST)), NOW)
    _book(store, 3, seat=_seat(TEN + timedelta(hours=1)))  # the guard moves meanwhile
    connection = Connection(region=boto3.session.Session().region_name)
    refusals: dict[str, Refusal] = {"guard": TransactionConflictError}
    with pytest.raises(TransactionConflictError), Transaction(connection, refusals) as writes:
        _move_guard(writes, counted)


def test_a_guard_written_before_holds_were_kept_gives_a_seat_back(aws):
    # Guards of bookings made before this change hold only a count: a cancel still works.
    seed_branches(boto3.client("dynamodb"), aws["table_name"])
    store = bootstrap.container().appointment_store
    ticket = _book(store, 1)
    boto3.client("dynamodb").put_item(
        TableName=aws["table_name"],
        Item={
            "pk": {"S": "CUSTOMER#cust-1"},
            "sk": {"S": "APPOINTMENTS"},
            "item_type": {"S": "open-appointments"},
            "open_count": {"N": "1"},
        },
    )
    cancelled = replace(ticket, status=Status.CANCELLED, version=2)
    store.commit(ticket.id, 1, cancelled, [], SeatMoves(release=_seat()))
    assert store.seats_taken("BR-BJ-GMW", "2026-11-30") == {TEN: 0}
