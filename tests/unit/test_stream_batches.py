"""The stream handler over a batch: the shard's order after a failure, the time left,
and the export's ticket reads (one per ticket and batch, never staler than one per event)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chalice.app import DynamoDBEvent

from chalicelib.adapters.dynamo import event_to_item
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.lifecycle import apply_action
from chalicelib.domain.surveys import SurveyState, survey_id
from chalicelib.domain.ticket import Ticket, open_ticket
from chalicelib.handlers.stream import RESERVE_SECONDS, handle_records
from chalicelib.handlers.time_left import seconds_left
from chalicelib.service import surveys
from chalicelib.service.notifications import RESERVE_SECONDS as ONE_SEND_SECONDS
from chalicelib.service.notifications import NotificationPorts
from chalicelib.service.reactions import ReactionPorts, for_one_batch, react, react_to_survey
from chalicelib.service.surveys import SurveyPorts
from chalicelib.service.tickets import TicketReads
from tests.fakes import (
    FixedClock,
    InMemoryNotificationStore,
    InMemoryReactionLedger,
    InMemorySurveyStore,
    InMemoryTicketRepository,
    RecordingNotifier,
    RecordingWorkflow,
    SequentialIds,
    card_request,
)
from tests.fakes_sms import RecordingBus

PROJECT_DIR = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
CUSTOMER = Caller(Role.CUSTOMER, "c-1")
AGENT = Caller(Role.AGENT, "a-1")


class CountingTickets(InMemoryTicketRepository):
    """The fake repository, counting its reads (each a GetItem deployed)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, ticket_id: str) -> Ticket | None:
        self.reads += 1
        return super().get(ticket_id)


def _open(
    repository: InMemoryTicketRepository, ticket_id: str, contact: dict[str, str] | None = None
) -> Ticket:
    ticket, created = open_ticket(
        card_request(contact),
        CUSTOMER,
        ticket_id=ticket_id,
        reference=f"SD-{ticket_id}",
        event_id=f"E-{ticket_id}",
        now=NOW,
    )
    repository.create(ticket, [created])
    return ticket


def _note(ticket_id: str, number: int) -> Event:
    """An internal note: no message, no SLA fact, no count needing the ticket."""
    data = {"body": "checked", "internal": True, "channel": "web"}
    at = NOW + timedelta(minutes=number)
    return Event(f"N-{ticket_id}-{number}", ticket_id, EventType.COMMENT_ADDED, at, AGENT, data)


def _record(event: Event, sequence: int) -> dict[str, Any]:
    return {
        "eventName": "INSERT",
        "dynamodb": {"NewImage": event_to_item(event).serialize(), "SequenceNumber": str(sequence)},
    }


def _broken(sequence: int) -> dict[str, Any]:
    """An event item the handler cannot decode: its reaction raises."""
    return {
        "eventName": "INSERT",
        "dynamodb": {"NewImage": {"item_type": {"S": "event"}}, "SequenceNumber": str(sequence)},
    }


def _ports(repository: InMemoryTicketRepository, bus: RecordingBus) -> ReactionPorts:
    return ReactionPorts(ledger=InMemoryReactionLedger(), tickets=repository, bus=bus)


def _exported(bus: RecordingBus) -> list[str]:
    return [entry.detail["event_id"] for entry in bus.entries]


def _failed(result: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


# --- the shard's order after a failure -------------------------------------------------------


def test_a_failed_record_stops_the_batch_and_every_later_record_is_reported():
    repository, bus = InMemoryTicketRepository(), RecordingBus()
    _open(repository, "T-1")
    first, later, last = (_note("T-1", n) for n in (1, 2, 3))
    batch = [_record(first, 1), _broken(2), _record(later, 3), _record(last, 4)]

    result = handle_records(batch, ports=_ports(repository, bus))

    assert _failed(result) == ["2", "3", "4"]  # Lambda resumes the shard from "2"
    assert _exported(bus) == [first.id]  # nothing after the failure ran ahead of it


def test_a_failed_record_holds_back_its_own_ticket_only():
    # One ticket's failure must not park other customers' notices with it: their records
    # go on (the retry from the failed record reacts to them again, idempotently).
    repository, bus = InMemoryTicketRepository(), RecordingBus(failures=1)
    for ticket_id in ("T-1", "T-2"):
        _open(repository, ticket_id)
    t1_first, t2_first, t1_later, t2_later = (
        _note("T-1", 1),
        _note("T-2", 1),
        _note("T-1", 2),
        _note("T-2", 2),
    )
    batch = [_record(t1_first, 1), _record(t2_first, 2), _record(t1_later, 3), _record(t2_later, 4)]
    ports = _ports(repository, bus)

    result = handle_records(batch, ports=ports)

    assert _failed(result) == ["1", "3"]  # T-1's failed record and its later one
    assert _exported(bus) == [t2_first.id, t2_later.id]  # T-1's later never ran ahead
    # Lambda's retry resumes from "1": T-1 in order, T-2 not exported twice.
    assert _failed(handle_records(batch[0:], ports=ports)) == []
    assert _exported(bus) == [t2_first.id, t2_later.id, t1_first.id, t1_later.id]


def test_the_retry_from_the_failed_record_sends_the_rest_in_order_and_once():
    repository, bus = InMemoryTicketRepository(), RecordingBus(failures=1)
    _open(repository, "T-1")
    notes = [_note("T-1", n) for n in (1, 2, 3)]
    batch = [_record(note, n) for n, note in enumerate(notes, start=1)]
    ports = _ports(repository, bus)

    assert _failed(handle_records(batch, ports=ports)) == ["1", "2", "3"]  # the bus refused
    assert _failed(handle_records(batch, ports=ports)) == []  # Lambda's retry from "1"
    assert _exported(bus) == [note.id for note in notes]


def test_a_batch_without_failures_reports_none():
    repository, bus = InMemoryTicketRepository(), RecordingBus()
    _open(repository, "T-1")
    batch = [_record(_note("T-1", n), n) for n in (1, 2)]
    assert handle_records(batch, ports=_ports(repository, bus)) == {"batchItemFailures": []}
    assert len(bus.entries) == 2


# --- the time left ---------------------------------------------------------------------------


class Countdown:
    """An invocation's remaining seconds: each record's reactions take `per_record`."""

    def __init__(self, start: float, per_record: float) -> None:
        self.left = start
        self.per_record = per_record

    def __call__(self) -> float:
        left = self.left
        self.left -= self.per_record
        return left


def test_too_little_time_left_stops_the_batch_and_reports_the_rest():
    repository, bus = InMemoryTicketRepository(), RecordingBus()
    _open(repository, "T-1")
    notes = [_note("T-1", n) for n in range(1, 6)]
    batch = [_record(note, n) for n, note in enumerate(notes, start=1)]
    # 60 s, 40 s, 20 s, then under the reserve: two more records would risk the timeout.
    time_left = Countdown(60.0, per_record=20.0)

    result = handle_records(batch, time_left, ports=_ports(repository, bus))

    assert _exported(bus) == [note.id for note in notes[:3]]
    assert _failed(result) == ["4", "5"]


def test_without_a_context_there_is_no_limit():
    repository, bus = InMemoryTicketRepository(), RecordingBus()
    _open(repository, "T-1")
    batch = [_record(_note("T-1", n), n) for n in (1, 2, 3)]
    assert seconds_left(DynamoDBEvent({"Records": batch}, None)) is None
    assert handle_records(batch, None, ports=_ports(repository, bus)) == {"batchItemFailures": []}


class _CountdownContext:
    """A Lambda context whose remaining time the test sets (no real clock)."""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def test_the_time_left_is_the_lambda_contexts():
    context: Any = _CountdownContext(30_000)  # Chalice types the context as a dict
    event = DynamoDBEvent({"Records": []}, context)
    time_left = seconds_left(event)
    assert time_left is not None
    assert time_left() == 30.0
    context.millis = 9_500
    assert time_left() == 9.5  # read from the context each time, not once


def test_the_reserve_fits_one_send_and_leaves_most_of_the_stream_functions_timeout():
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    timeouts = [
        stage["lambda_functions"]["on_table_change"]["lambda_timeout"]
        for stage in config["stages"].values()
        if "on_table_change" in stage.get("lambda_functions", {})
    ]
    assert timeouts, "the stream function's timeout is set per deployed stage"
    assert RESERVE_SECONDS >= 2 * ONE_SEND_SECONDS  # a message and the other reactions
    for timeout in timeouts:
        assert timeout / 4 >= RESERVE_SECONDS, timeout


# --- the export's ticket reads ---------------------------------------------------------------


def test_the_export_reads_each_ticket_once_per_batch():
    repository, bus = CountingTickets(), RecordingBus()
    for ticket_id in ("T-1", "T-2"):
        _open(repository, ticket_id)
    notes = [_note(ticket_id, n) for ticket_id in ("T-1", "T-2", "T-1") for n in range(1, 6)]
    batch = [_record(note, n) for n, note in enumerate(notes, start=1)]
    repository.reads = 0

    assert _failed(handle_records(batch, ports=_ports(repository, bus))) == []

    assert len(bus.entries) == 10  # 15 records, 10 events (T-1's five delivered twice)
    assert repository.reads == 2  # was 10: one per exported event
    assert {entry.detail["reference"] for entry in bus.entries} == {"SD-T-1", "SD-T-2"}


def test_a_ticket_changed_by_the_second_event_of_a_batch_is_exported_as_read_per_event():
    """Both events committed before the batch was read: the first read already holds the
    second change, so one read serves both, with what a read per event would have given."""
    exports = []
    for memo in (False, True):
        repository, bus = InMemoryTicketRepository(), RecordingBus()
        ticket = _open(repository, "T-1")
        note = _note("T-1", 1)
        moved, events = apply_action(
            ticket, "assign", {}, AGENT, now=NOW, new_event_id=lambda: "E-assign"
        )
        repository.commit(ticket.id, ticket.version, moved, events)
        ports = for_one_batch(_ports(repository, bus)) if memo else _ports(repository, bus)
        for event in (note, *events):
            react(event, ports)
        exports.append([entry.detail for entry in bus.entries])
    assert exports[0] == exports[1]
    assert [detail["status"] for detail in exports[1]] == ["assigned", "assigned"]


class SurveyWorld:
    def __init__(self) -> None:
        self.repository = CountingTickets()
        self.store, self.ids = InMemorySurveyStore(self.repository), SequentialIds()
        self.surveys = SurveyPorts(
            tickets=self.repository,
            surveys=self.store,
            workflow=RecordingWorkflow(),
            notifications=InMemoryNotificationStore(),
            ids=self.ids,
            clock=FixedClock(),
            delay=timedelta(hours=2),
            window=timedelta(hours=72),
        )
        self.bus = RecordingBus()

    def resolved(self) -> tuple[Ticket, Event]:
        ticket = _open(self.repository, "T-1", {"phone": "+8613800138000", "locale": "en-US"})
        resolution = None
        for action, params in (("assign", {}), ("start", {}), ("resolve", {"resolution": "ok"})):
            changed, events = apply_action(
                ticket, action, params, AGENT, now=NOW, new_event_id=self.ids.event_id
            )
            self.repository.commit(ticket.id, ticket.version, changed, events)
            ticket, resolution = changed, events[-1]
        assert resolution is not None
        return ticket, resolution


def test_a_ticket_closed_by_a_reaction_of_the_batch_is_read_again():
    """A survey's expiry (a record of the same batch) closes the ticket: a later event of
    that ticket in the batch exports `closed`, as a read per event would, not the status
    read before."""
    world = SurveyWorld()
    ticket, resolution = world.resolved()
    surveys.start_survey(resolution, world.surveys)
    ports = for_one_batch(
        ReactionPorts(
            ledger=InMemoryReactionLedger(),
            tickets=world.repository,
            bus=world.bus,
            surveys=world.surveys,
        )
    )
    react(_note(ticket.id, 1), ports)  # exported while resolved
    expired = world.store.move(survey_id(ticket.id, 1), SurveyState.EXPIRED)
    react_to_survey(expired, ports)  # the expiry closes the ticket
    react(_note(ticket.id, 2), ports)

    assert [entry.detail["status"] for entry in world.bus.entries] == ["resolved", "closed"]


def test_ticket_reads_hold_a_ticket_until_forgotten():
    repository = CountingTickets()
    _open(repository, "T-1")
    reads = TicketReads(repository)
    assert reads.get("T-1") is reads.get("T-1")
    assert reads.get("T-404") is None and reads.get("T-404") is None
    assert repository.reads == 2
    reads.forget("T-1")
    reads.get("T-1")
    assert repository.reads == 3
    kept = reads.fresh("T-1")  # read now, whatever was read before, and kept
    assert repository.reads == 4 and reads.get("T-1") is kept and repository.reads == 4


class ReactingDesk:
    """Every reaction that reads the ticket: report counters (the complaint report's too),
    notifications and the export, on one counting repository."""

    def __init__(self) -> None:
        self.repository, self.bus = CountingTickets(), RecordingBus()
        self.notifier, self.ledger = RecordingNotifier(), InMemoryReactionLedger()
        self.ids = SequentialIds()
        notifications = NotificationPorts(
            tickets=self.repository,
            store=InMemoryNotificationStore(self.repository),
            notifier=self.notifier,
            ids=self.ids,
            clock=FixedClock(NOW),
            public_base_url="https://sd.bankxyz.cn.co",
            sleep=lambda _: None,
        )
        self.ports = ReactionPorts(
            ledger=self.ledger, tickets=self.repository, bus=self.bus, notifications=notifications
        )

    def life(self, ticket_id: str) -> list[Event]:
        """Opened, assigned, started, a staff reply, resolved: what one life writes."""
        ticket = _open(self.repository, ticket_id, {"phone": "+8613800138000"})
        events = list(self.repository.events(ticket_id))
        for action, params in (("assign", {}), ("start", {}), ("resolve", {"resolution": "ok"})):
            changed, written = apply_action(
                ticket, action, params, AGENT, now=NOW, new_event_id=self.ids.event_id
            )
            self.repository.commit(ticket.id, ticket.version, changed, written)
            ticket, events = changed, [*events, *written]
        reply = {"body": "Your card is on its way", "internal": False, "channel": "web"}
        at = NOW + timedelta(minutes=1)
        events.insert(
            -1, Event(f"R-{ticket_id}", ticket_id, EventType.COMMENT_ADDED, at, AGENT, reply)
        )
        return events


def test_counters_and_export_use_the_batchs_read_and_each_notice_reads_after_its_claim():
    desk = ReactingDesk()
    lives = [desk.life(ticket_id) for ticket_id in ("T-1", "T-2")]
    batch = [_record(event, n) for n, event in enumerate([*lives[0], *lives[1]], start=1)]
    desk.repository.reads = 0

    assert _failed(handle_records(batch, ports=desk.ports)) == []

    assert len(desk.bus.entries) == len(batch)
    assert len(desk.notifier.sent) == 6  # created, the reply, resolved: per ticket
    # Was 14, 7 per ticket: notices 3, counters 3, export 1. Now only each notice's read,
    # after its claim (an erasure before the claim is seen), which the others then use.
    assert desk.repository.reads == 6


def test_the_counters_of_a_batch_are_those_a_read_per_event_gives():
    counted = []
    for memo in (False, True):
        desk = ReactingDesk()
        ports = for_one_batch(desk.ports) if memo else desk.ports
        for event in desk.life("T-1"):
            react(event, ports)
        counted.append((desk.ledger.counters, desk.ledger.applied, len(desk.notifier.sent)))
    assert counted[0] == counted[1]
    assert counted[1][0]  # the resolution's counters, read from the ticket


@pytest.mark.parametrize("tickets", [None, InMemoryTicketRepository()])
def test_a_batch_without_tickets_has_no_reads_to_keep(tickets):
    ports = for_one_batch(ReactionPorts(ledger=InMemoryReactionLedger(), tickets=tickets))
    assert (ports.ticket_reads is None) == (tickets is None)
