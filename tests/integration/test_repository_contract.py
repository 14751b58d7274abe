"""One contract, two implementations: the in-memory fake and PynamoDB on moto."""

from __future__ import annotations

from datetime import timedelta

import pytest
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.adapters.models import TicketItem
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import Ticket
from chalicelib.service.ports import (
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    ListQuery,
    ReferenceTakenError,
    StartKey,
    TicketRepository,
    UnknownPositionError,
    VersionConflictError,
)
from tests.fakes import InMemoryTicketRepository
from tests.integration.repository_support import NOW, event_on, new_ticket

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")


def _store(repository: TicketRepository, ticket_and_event: tuple[Ticket, Event]) -> None:
    ticket, event = ticket_and_event
    repository.create(ticket, [event])


@pytest.fixture(params=["in-memory", "dynamodb"])
def repository(request, aws) -> TicketRepository:
    if request.param == "in-memory":
        return InMemoryTicketRepository()
    return bootstrap.container().ticket_ports().repository


def test_created_ticket_reads_back_identically(repository: TicketRepository):
    ticket, event = new_ticket(1)
    repository.create(ticket, [event])
    assert repository.get(ticket.id) == ticket
    assert repository.events(ticket.id) == [event]


def test_unknown_ticket_is_none(repository: TicketRepository):
    assert repository.get("T-00000000000000000000000404") is None
    assert repository.events("T-00000000000000000000000404") == []


def test_a_reference_is_never_shared_and_nothing_is_half_written(repository: TicketRepository):
    first, first_event = new_ticket(1, "SD-SAME0000")
    second, second_event = new_ticket(2, "SD-SAME0000")
    repository.create(first, [first_event])
    with pytest.raises(ReferenceTakenError):
        repository.create(second, [second_event])
    assert repository.get(second.id) is None
    assert repository.events(second.id) == []


def test_commit_raises_version_and_writes_events_together(repository: TicketRepository):
    ticket, event = new_ticket(1)
    repository.create(ticket, [event])
    changed = replace(ticket, status="assigned", assignee="agent-1", version=2)
    repository.commit(ticket.id, 1, changed, [event_on(ticket, 100, "ticket.assigned")])
    assert repository.get(ticket.id) == changed
    with pytest.raises(VersionConflictError):
        repository.commit(
            ticket.id, 1, replace(changed, status="cancelled", version=2), [event_on(ticket, 101)]
        )
    assert repository.get(ticket.id) == changed
    assert [e.id for e in repository.events(ticket.id)] == [event.id, event_on(ticket, 100).id]


def test_timeline_only_commit_checks_but_keeps_the_version(repository: TicketRepository):
    ticket, event = new_ticket(1)
    repository.create(ticket, [event])
    repository.commit(ticket.id, 1, None, [event_on(ticket, 100)])
    assert repository.get(ticket.id) == ticket
    with pytest.raises(VersionConflictError):
        repository.commit(ticket.id, 7, None, [event_on(ticket, 101)])
    assert len(repository.events(ticket.id)) == 2


def test_idempotency_record_is_kept_with_the_write_and_expires(repository: TicketRepository):
    ticket, event = new_ticket(1)
    record = IdempotencyRecord(
        "customer:cust-1:POST /v1/tickets",
        "key-1",
        "f1",
        201,
        "{}",
        {"ETag": '"1"'},
        (NOW + timedelta(hours=24)).replace(microsecond=0),
    )
    repository.create(ticket, [event], record)
    assert repository.idempotency_record(record.scope, "key-1", NOW) == record
    assert repository.idempotency_record(record.scope, "key-2", NOW) is None
    assert repository.idempotency_record(record.scope, "key-1", NOW + timedelta(hours=25)) is None
    other, other_event = new_ticket(2)
    with pytest.raises(IdempotencyKeyTakenError):
        repository.create(other, [other_event], record)
    assert repository.get(other.id) is None


def test_lists_are_newest_first_by_status_and_paginate(repository: TicketRepository):
    for number in range(1, 6):
        ticket, event = new_ticket(
            number,
            status="new" if number % 2 else "assigned",
            assignee=None if number % 2 else "agent-9",
        )
        repository.create(ticket, [event])
    _store(repository, new_ticket(9, customer="cust-2"))

    everything = repository.query_tickets(ListQuery("customer", "cust-1", limit=10))
    assert [t.id[-1] for t in everything.items] == ["5", "4", "3", "2", "1"]
    assert everything.next_key is None

    first = repository.query_tickets(ListQuery("customer", "cust-1", limit=2))
    second = repository.query_tickets(
        ListQuery("customer", "cust-1", limit=2, start_key=first.next_key)
    )
    third = repository.query_tickets(
        ListQuery("customer", "cust-1", limit=2, start_key=second.next_key)
    )
    pages = [[t.id[-1] for t in page.items] for page in (first, second, third)]
    assert pages == [["5", "4"], ["3", "2"], ["1"]]
    assert third.next_key is None

    new = repository.query_tickets(ListQuery("customer", "cust-1", status="new"))
    assert [t.id[-1] for t in new.items] == ["5", "3", "1"]
    by_agent = repository.query_tickets(ListQuery("assignee", "agent-9"))
    assert [t.id[-1] for t in by_agent.items] == ["4", "2"]
    queue = repository.query_tickets(ListQuery("queue", "complaints", status="assigned"))
    assert [t.id[-1] for t in queue.items] == ["4", "2"]


def test_reference_lookup(repository: TicketRepository):
    ticket, event = new_ticket(1, "SD-7K4Q9M2P")
    repository.create(ticket, [event])
    assert repository.by_reference("SD-7K4Q9M2P") == ticket
    assert repository.by_reference("SD-00000000") is None


def test_claimable_is_urgent_first_then_oldest_and_unassigned_only(
    repository: TicketRepository,
):
    specs = [
        (1, "normal", None),
        (2, "urgent", None),
        (3, "urgent", "agent-1"),
        (4, "high", None),
        (5, "urgent", None),
    ]
    for number, priority, assignee in specs:
        _store(
            repository,
            new_ticket(
                number,
                priority=priority,
                assignee=assignee,
                status="assigned" if assignee else "new",
            ),
        )
    ids = [t.id[-1] for t in repository.claimable("complaints", 10)]
    assert ids == ["2", "5", "4", "1"]
    assert len(repository.claimable("complaints", 2)) == 2
    assert repository.claimable("cards", 10) == []


def test_claimable_reads_past_index_entries_kept_from_before_claim_took_new_only(aws):
    # Escalated `assigned` tickets were indexed as claimable; a stored entry stays until its
    # ticket's next write. Ahead in the index (they are high priority), they hide nothing.
    repository = bootstrap.container().repository
    for number in range(1, 4):
        ticket, event = new_ticket(number, status="assigned", priority="urgent")
        repository.create(ticket, [event])
        item = TicketItem.get(f"TICKET#{ticket.id}", "#TICKET")
        item.update(
            actions=[
                TicketItem.claim_queue.set(ticket.queue),
                TicketItem.claim_sk.set(f"0#{number}#{ticket.id}"),
            ]
        )
    waiting, event = new_ticket(9, priority="normal")
    repository.create(waiting, [event])
    assert [t.id for t in repository.claimable(waiting.queue, 2)] == [waiting.id]


def test_event_pages_are_oldest_first(repository: TicketRepository):
    ticket, event = new_ticket(1)
    repository.create(ticket, [event])
    for number in range(100, 104):
        repository.commit(ticket.id, 1, None, [event_on(ticket, number)])
    first = repository.event_page(ticket.id, 3, None)
    second = repository.event_page(ticket.id, 3, first.next_key)
    assert [e.id[-3:] for e in first.items] == ["001", "100", "101"]
    assert [e.id[-3:] for e in second.items] == ["102", "103"]
    assert second.next_key is None


def test_ticket_and_its_first_events_come_together(repository: TicketRepository):
    ticket, event = new_ticket(1)
    repository.create(ticket, [event])
    for number in range(100, 104):
        repository.commit(ticket.id, 1, None, [event_on(ticket, number)])
    found, first = repository.ticket_and_events(ticket.id, 3, None)
    assert found == ticket
    assert [e.id[-3:] for e in first.items] == ["001", "100", "101"]
    again, second = repository.ticket_and_events(ticket.id, 3, first.next_key)
    assert again == ticket
    assert [e.id[-3:] for e in second.items] == ["102", "103"]
    assert second.next_key is None
    missing, nothing = repository.ticket_and_events("T-00000000000000000000000404", 3, None)
    assert (missing, nothing.items, nothing.next_key) == (None, [], None)


def test_every_ticket_field_survives_a_round_trip(repository: TicketRepository):
    ticket, event = new_ticket(1)
    repository.create(ticket, [event])
    resolved = replace(
        ticket,
        status="resolved",
        assignee="agent-1",
        tier=2,
        queue="tier2",
        resolutions=2,
        resolved_at=NOW + timedelta(hours=1),
        version=2,
        sla=replace(
            ticket.sla,
            first_responded_at=NOW,
            breaches=("first_response",),
            paused=False,
            extended=True,
            unpaused=("resolution",),
        ),
    )
    repository.commit(ticket.id, 1, resolved, [])
    assert repository.get(ticket.id) == resolved


def test_an_expired_idempotency_record_gives_its_key_back(repository: TicketRepository):
    first, first_event = new_ticket(1)
    record = IdempotencyRecord(
        "customer:cust-1:POST /v1/tickets",
        "key-1",
        "f1",
        201,
        '{"id": 1}',
        {},
        (NOW + timedelta(hours=24)).replace(microsecond=0),
        written_at=NOW,
    )
    repository.create(first, [first_event], record)
    live, live_event = new_ticket(2)
    with pytest.raises(IdempotencyKeyTakenError):
        repository.create(live, [live_event], replace(record, written_at=NOW + timedelta(hours=23)))
    later = NOW + timedelta(hours=25)
    again = replace(
        record, body='{"id": 3}', expires_at=later + timedelta(hours=24), written_at=later
    )
    second, second_event = new_ticket(3)
    repository.create(second, [second_event], again)
    stored = repository.idempotency_record(record.scope, "key-1", later)
    assert stored is not None and stored.body == '{"id": 3}'


def test_a_page_position_serves_only_the_access_pattern_that_issued_it(aws):
    repository = bootstrap.container().repository
    tickets = [new_ticket(number) for number in (1, 2)]
    for ticket, event in tickets:
        repository.create(ticket, [event])
        repository.commit(ticket.id, 1, None, [event_on(ticket, 100 + int(ticket.id[-1]))])
    [(one, _), (two, _)] = tickets
    events = repository.event_page(one.id, 1, None).next_key
    listed = repository.query_tickets(ListQuery("customer", "cust-1", limit=1)).next_key
    assert events is not None and listed is not None
    assert "TICKET#" in events  # the adapter's own format, read by nobody else
    refused = [
        lambda: repository.event_page(two.id, 1, events),  # another ticket's timeline
        lambda: repository.event_page(one.id, 1, listed),  # a list position
        lambda: repository.query_tickets(
            ListQuery("customer", "cust-1", limit=1, start_key=events)
        ),
        lambda: repository.query_tickets(ListQuery("queue", "cards", limit=1, start_key=listed)),
        lambda: repository.event_page(one.id, 1, StartKey("not json")),
        lambda: repository.event_page(one.id, 1, StartKey('{"pk": "TICKET#x", "sk": 1}')),
    ]
    for read in refused:
        with pytest.raises(UnknownPositionError):
            read()
    assert [e.id[-3:] for e in repository.event_page(one.id, 5, events).items] == ["101"]
