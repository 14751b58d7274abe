"""Writes spanning tickets (a review, a merge): one transaction, both implementations.

Also the review and merge use cases on PynamoDB + moto, end to end in-process.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.merge import MergeMismatchError
from chalicelib.domain.reviews import RecusalError, ReviewExistsError
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, TicketRequest, ticket_view
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse
from chalicelib.service.merge import find_possible_duplicates
from chalicelib.service.ports import (
    IdempotencyRecord,
    ReferenceTakenError,
    TicketRepository,
    TicketWrite,
    VersionConflictError,
)
from chalicelib.service.reviews import request_review
from chalicelib.service.tickets import Answer, act, create_ticket
from tests.fakes import InMemoryTicketRepository
from tests.integration.repository_support import NOW, event_on, new_ticket

OWNER = Caller(Role.CUSTOMER, "cust-1")
AGENT = Caller(Role.AGENT, "agent-1")
OTHER_AGENT = Caller(Role.AGENT, "agent-2")


@pytest.fixture(params=["in-memory", "dynamodb"])
def repository(request, aws) -> TicketRepository:
    if request.param == "in-memory":
        return InMemoryTicketRepository()
    return bootstrap.container().ticket_ports().repository


def test_a_changed_ticket_and_a_new_one_are_written_together(repository: TicketRepository):
    original, created = new_ticket(1)
    repository.create(original, [created])
    review, review_created = new_ticket(2, review_of=original.id, recused=("agent-1", "sup-1"))
    reviewed = replace(original, status=Status.RESOLVED, reviewed_by=review.id, version=2)
    noted = event_on(original, 3, "complaint.review_requested")

    repository.commit_many(
        [
            TicketWrite(review.id, None, review, [review_created]),
            TicketWrite(original.id, 1, reviewed, [noted]),
        ]
    )

    assert repository.get(review.id) == review
    assert repository.get(original.id) == reviewed
    assert repository.by_reference(review.reference) == review
    assert [e.id for e in repository.events(original.id)] == [created.id, noted.id]
    assert [e.id for e in repository.events(review.id)] == [review_created.id]


def test_a_stale_version_on_either_ticket_writes_nothing(repository: TicketRepository):
    source, source_created = new_ticket(1)
    target, target_created = new_ticket(2)
    repository.create(source, [source_created])
    repository.create(target, [target_created])
    closed = replace(source, status=Status.CLOSED, merged_into=target.id, version=2)
    merged = event_on(target, 3, "ticket.merged")
    moved = event_on(source, 4, "ticket.status_changed")

    with pytest.raises(VersionConflictError) as raised:
        repository.commit_many(
            [
                TicketWrite(source.id, 1, closed, [moved]),
                TicketWrite(target.id, 7, None, [merged]),  # the target moved on
            ]
        )
    assert str(raised.value) == target.id
    assert repository.get(source.id) == source
    assert [e.id for e in repository.events(target.id)] == [target_created.id]

    repository.commit_many(
        [TicketWrite(source.id, 1, closed, [moved]), TicketWrite(target.id, 1, None, [merged])]
    )
    assert repository.get(source.id) == closed
    assert repository.get(target.id) == target  # checked, not written: same version


def test_a_taken_reference_writes_nothing(repository: TicketRepository):
    original, created = new_ticket(1)
    repository.create(original, [created])
    review, review_created = new_ticket(2, reference=original.reference)
    with pytest.raises(ReferenceTakenError):
        repository.commit_many(
            [
                TicketWrite(review.id, None, review, [review_created]),
                TicketWrite(original.id, 1, replace(original, version=2), []),
            ]
        )
    assert repository.get(review.id) is None
    assert repository.get(original.id) == original


def test_the_stored_response_is_written_with_them(repository: TicketRepository):
    review, created = new_ticket(1)
    record = IdempotencyRecord(
        "customer:cust-1:POST /v1/tickets/T-0/review",
        "key-1",
        "f1",
        201,
        "{}",
        {},
        NOW + timedelta(hours=24),
    )
    repository.commit_many([TicketWrite(review.id, None, review, [created])], record)
    stored = repository.idempotency_record(record.scope, record.key, NOW)
    assert stored is not None and stored.body == "{}"


def test_the_customer_index_finds_recent_open_duplicates_without_a_scan(
    repository: TicketRepository,
):
    older, older_created = new_ticket(1)
    repository.create(older, [older_created])
    theirs, theirs_created = new_ticket(2, customer="cust-2")
    repository.create(theirs, [theirs_created])
    probe, _ = new_ticket(3)
    assert find_possible_duplicates(repository, probe) == [older.id]
    late = replace(probe, created_at=probe.created_at + timedelta(days=8))
    assert find_possible_duplicates(repository, late) == []


# ------------------------------------------------------ the use cases on DynamoDB (moto)

COMPLAINT = TicketRequest("web", "complaint", "card", "Charged twice", "", None)


def _render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, json.dumps(ticket_view(ticket)))


def _open(ports) -> str:
    return str(json.loads(create_ticket(ports, OWNER, COMPLAINT, _render).body)["id"])


def test_review_and_recusal_on_dynamodb(aws):
    ports = bootstrap.container().ticket_ports()
    original_id = _open(ports)
    act(ports, AGENT, original_id, "assign", {})
    act(ports, AGENT, original_id, "start", {})
    act(ports, AGENT, original_id, "classify", {"business": "card", "cause": "fees"})
    act(ports, AGENT, original_id, "resolve", {"resolution": "Refunded"})
    key = IdempotencyKey("customer:cust-1:review", "k-1", "fp")

    response = request_review(ports, OWNER, original_id, "Fee kept", answer=Answer(_render, key))
    again = request_review(ports, OWNER, original_id, "Fee kept", answer=Answer(_render, key))

    assert again == response
    review_id = json.loads(response.body)["id"]
    review = ports.repository.get(review_id)
    assert review is not None
    assert (review.queue, review.review_of, review.recused) == (
        "complaint-review",
        original_id,
        ("agent-1",),
    )
    original = ports.repository.get(original_id)
    assert original is not None and original.reviewed_by == review_id
    with pytest.raises(ReviewExistsError):
        request_review(ports, OWNER, original_id, "Again", answer=Answer(_render))
    with pytest.raises(RecusalError):
        act(ports, AGENT, review_id, "assign", {})
    assert act(ports, OTHER_AGENT, review_id, "assign", {}).assignee == "agent-2"


def test_merge_on_dynamodb(aws):
    ports = bootstrap.container().ticket_ports()
    target_id = _open(ports)
    source_id = _open(ports)
    before = ports.repository.get(target_id)
    closed = act(ports, AGENT, source_id, "merge", {"into": target_id})
    assert ports.repository.get(source_id) == closed
    assert ports.repository.get(target_id) == before
    assert [e.type for e in ports.repository.events(target_id)][-1] == "ticket.merged"
    with pytest.raises(MergeMismatchError):
        act(ports, AGENT, target_id, "merge", {"into": source_id})  # closed now
