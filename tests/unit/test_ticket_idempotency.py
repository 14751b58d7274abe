"""Idempotent ticket writes with the in-memory fakes: a replayed create or comment answers
the first response and writes nothing new; keys are scoped, expire and stay free on failure."""

from __future__ import annotations

import json

import pytest
from msgspec.structs import replace

from chalicelib.domain.errors import (
    IdempotencyKeyReusedError,
    RequestInFlightError,
    ValidationError,
)
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.ticket import Ticket
from chalicelib.service.ports import IdempotencyKeyTakenError, IdempotencyRecord
from chalicelib.service.tickets import Answer, IdempotencyKey, comment, create_ticket
from tests.fakes import InMemoryTicketRepository
from tests.unit.ticket_support import (
    HOLDER,
    OWNER,
    REQUEST,
    STRANGER,
    clock_of,
    make_ports,
    render,
    render_event,
    repo_of,
    seed,
)

SCOPE = "customer:cust-1:POST /v1/tickets"


class KeyHeldElsewhereRepository(InMemoryTicketRepository):
    """The key is held by a first request that has not finished (no record to replay)."""

    def create(
        self, ticket: Ticket, events: list[Event], idempotency: IdempotencyRecord | None = None
    ) -> None:
        if idempotency is not None:
            raise IdempotencyKeyTakenError()
        super().create(ticket, events, idempotency)


def key(fingerprint: str = "body-1", name: str = "key-1", scope: str = SCOPE) -> IdempotencyKey:
    return IdempotencyKey(scope=scope, key=name, fingerprint=fingerprint)


def test_the_same_key_and_body_gives_the_first_response_and_writes_nothing_new():
    ports = make_ports()
    first = create_ticket(ports, OWNER, REQUEST, render, key())
    clock_of(ports).advance(hours=23, minutes=59)
    again = create_ticket(ports, OWNER, REQUEST, render, key())
    assert again == first
    assert len(repo_of(ports).tickets) == 1
    assert repo_of(ports).writes == 1


def test_the_same_key_with_another_body_is_refused():
    ports = make_ports()
    create_ticket(ports, OWNER, REQUEST, render, key("body-1"))
    with pytest.raises(IdempotencyKeyReusedError):
        create_ticket(ports, OWNER, replace(REQUEST, subject="Other"), render, key("body-2"))
    assert len(repo_of(ports).tickets) == 1


def test_an_expired_key_opens_a_new_ticket():
    ports = make_ports()
    first = create_ticket(ports, OWNER, REQUEST, render, key())
    clock_of(ports).advance(hours=24, seconds=1)
    second = create_ticket(ports, OWNER, REQUEST, render, key())
    assert json.loads(second.body)["id"] != json.loads(first.body)["id"]
    assert len(repo_of(ports).tickets) == 2


def test_a_key_is_scoped_to_the_caller_and_route():
    ports = make_ports()
    first = create_ticket(ports, OWNER, REQUEST, render, key())
    other_scope = key(scope="customer:cust-2:POST /v1/tickets")
    second = create_ticket(ports, STRANGER, REQUEST, render, other_scope)
    assert json.loads(second.body)["id"] != json.loads(first.body)["id"]
    assert json.loads(second.body)["customer_id"] == STRANGER.id


def test_a_failed_request_leaves_the_key_free():
    ports = make_ports()
    with pytest.raises(ValidationError):
        create_ticket(ports, OWNER, replace(REQUEST, priority="urgent"), render, key("body-a"))
    response = create_ticket(ports, OWNER, REQUEST, render, key("body-b"))
    assert response.status == 201
    assert len(repo_of(ports).tickets) == 1


def test_a_key_still_held_by_a_running_request_is_a_conflict():
    ports = make_ports(KeyHeldElsewhereRepository())
    with pytest.raises(RequestInFlightError):
        create_ticket(ports, OWNER, REQUEST, render, key())
    assert repo_of(ports).tickets == {}


def test_a_replayed_comment_is_not_written_twice():
    ports = make_ports()
    ticket = seed(ports, "in_progress", HOLDER.id)
    comment_key = key(scope="customer:cust-1:POST comments")
    first = comment(ports, OWNER, ticket.id, "Hi", False, answer=Answer(render_event, comment_key))
    again = comment(ports, OWNER, ticket.id, "Hi", False, answer=Answer(render_event, comment_key))
    assert again == first
    assert [e.type for e in ports.repository.events(ticket.id)].count(EventType.COMMENT_ADDED) == 1
