"""Opening and reading tickets with the in-memory fakes (and the counting reaction)."""

import json

import pytest

from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import Ticket, ticket_view
from chalicelib.service.reactions import ReactionPorts, react
from chalicelib.service.tickets import StoredResponse, TicketPorts, create_ticket, get_ticket
from tests.fakes import (
    FixedClock,
    InMemoryReactionLedger,
    InMemoryTicketRepository,
    SequentialIds,
    card_request,
)

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
REQUEST = card_request()


def _ports(references=None):
    return TicketPorts(InMemoryTicketRepository(), SequentialIds(references), FixedClock())


def render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, json.dumps(ticket_view(ticket)))


def _open(ports, caller=CUSTOMER, request=REQUEST) -> Ticket:
    response = create_ticket(ports, caller, request, render)
    ticket = ports.repository.get(json.loads(response.body)["id"])
    assert ticket is not None
    return ticket


def test_create_writes_ticket_and_created_event_together():
    ports = _ports()
    ticket = _open(ports)
    events = ports.repository.events(ticket.id)
    assert [event.type for event in events] == ["ticket.created"]
    assert ports.repository.writes == 1


def test_a_taken_reference_is_redrawn():
    ports = _ports(references=["SD-AAAAAAAA", "SD-AAAAAAAA", "SD-BBBBBBBB"])
    first = _open(ports)
    second = _open(ports)
    assert (first.reference, second.reference) == ("SD-AAAAAAAA", "SD-BBBBBBBB")


def test_the_response_shows_the_reference_actually_stored():
    ports = _ports(references=["SD-AAAAAAAA", "SD-AAAAAAAA", "SD-CCCCCCCC"])
    _open(ports)
    response = create_ticket(ports, CUSTOMER, REQUEST, render)
    assert json.loads(response.body)["reference"] == "SD-CCCCCCCC"


def test_another_customers_ticket_is_not_found():
    ports = _ports()
    ticket = _open(ports)
    with pytest.raises(NotFoundError):
        get_ticket(ports, Caller(Role.CUSTOMER, "cust-2"), ticket.id)
    assert get_ticket(ports, Caller(Role.AUDITOR, "aud-1"), ticket.id) == ticket


def test_unknown_ticket_is_not_found():
    with pytest.raises(NotFoundError):
        get_ticket(_ports(), CUSTOMER, "T-404")


def test_counting_reaction_runs_once_per_event():
    ports = _ports()
    ticket = _open(ports)
    [event] = ports.repository.events(ticket.id)
    ledger = InMemoryReactionLedger()
    react(event, ReactionPorts(ledger))
    react(event, ReactionPorts(ledger))
    totals = {key.family: value for key, value in ledger.counters.items()}
    assert totals == {
        "created#total": 1,
        "created#channel": 1,
        "created#kind": 1,
        "created#queue": 1,
    }
