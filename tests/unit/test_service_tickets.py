import pytest

from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import TicketRequest
from chalicelib.service.reactions import ReactionPorts, react
from chalicelib.service.tickets import TicketPorts, create_ticket, get_ticket
from tests.fakes import FixedClock, InMemoryReactionLedger, InMemoryTicketRepository, SequentialIds

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
REQUEST = TicketRequest(
    channel="mobile",
    kind="consultation",
    category="card",
    subject="Card blocked",
    description="",
    contact=None,
)


def _ports(references=None):
    return TicketPorts(InMemoryTicketRepository(), SequentialIds(references), FixedClock())


def test_create_writes_ticket_and_created_event_together():
    ports = _ports()
    ticket = create_ticket(ports, CUSTOMER, REQUEST)
    events = ports.repository.events(ticket.id)
    assert [event.type for event in events] == ["ticket.created"]
    assert ports.repository.get(ticket.id) == ticket


def test_a_taken_reference_is_redrawn():
    ports = _ports(references=["SD-AAAAAAAA", "SD-AAAAAAAA", "SD-BBBBBBBB"])
    first = create_ticket(ports, CUSTOMER, REQUEST)
    second = create_ticket(ports, CUSTOMER, REQUEST)
    assert (first.reference, second.reference) == ("SD-AAAAAAAA", "SD-BBBBBBBB")


def test_another_customers_ticket_is_not_found():
    ports = _ports()
    ticket = create_ticket(ports, CUSTOMER, REQUEST)
    with pytest.raises(NotFoundError):
        get_ticket(ports, Caller(Role.CUSTOMER, "cust-2"), ticket.id)
    assert get_ticket(ports, Caller(Role.AUDITOR, "aud-1"), ticket.id) == ticket


def test_unknown_ticket_is_not_found():
    with pytest.raises(NotFoundError):
        get_ticket(_ports(), CUSTOMER, "T-404")


def test_counting_reaction_runs_once_per_event():
    ports = _ports()
    ticket = create_ticket(ports, CUSTOMER, REQUEST)
    [event] = ports.repository.events(ticket.id)
    ledger = InMemoryReactionLedger()
    react(event, ReactionPorts(ledger))
    react(event, ReactionPorts(ledger))
    totals = {key.family: value for key, value in ledger.counters.items()}
    assert totals == {"created#total": 1, "created#channel": 1, "created#kind": 1}
