"""Tickets through the service with the in-memory fakes: the callers, ports and stored
tickets the ticket use-case tests share (idempotency, action checks, concurrency, claim, lists)."""

from __future__ import annotations

import json
from typing import Any

from msgspec.structs import replace

from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, ticket_view
from chalicelib.service.tickets import StoredResponse, TicketPorts, create_ticket
from tests.fakes import FixedClock, InMemoryTicketRepository, SequentialIds, card_request

OWNER = Caller(Role.CUSTOMER, "cust-1")
STRANGER = Caller(Role.CUSTOMER, "cust-2")
HOLDER = Caller(Role.AGENT, "agent-holder")
OTHER_AGENT = Caller(Role.AGENT, "agent-other")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
AUDITOR = Caller(Role.AUDITOR, "aud-1")

REQUEST = card_request()


def make_ports(repository: InMemoryTicketRepository | None = None) -> TicketPorts:
    return TicketPorts(repository or InMemoryTicketRepository(), SequentialIds(), FixedClock())


def clock_of(ports: TicketPorts) -> FixedClock:
    assert isinstance(ports.clock, FixedClock)
    return ports.clock


def repo_of(ports: TicketPorts) -> InMemoryTicketRepository:
    assert isinstance(ports.repository, InMemoryTicketRepository)
    return ports.repository


def render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(
        201, json.dumps(ticket_view(ticket)), {"Location": f"/v1/tickets/{ticket.id}"}
    )


def render_event(event: Event) -> StoredResponse:
    return StoredResponse(201, json.dumps({"id": event.id, "type": event.type}))


def open_as(ports: TicketPorts, caller: Caller = OWNER, **request: Any) -> Ticket:
    if not caller.is_customer:
        request.setdefault("customer_id", OWNER.id)
    response = create_ticket(ports, caller, replace(REQUEST, **request), render)
    ticket = ports.repository.get(json.loads(response.body)["id"])
    assert ticket is not None
    return ticket


def seed(ports: TicketPorts, status: str, assignee: str | None = None, **changes: Any) -> Ticket:
    """A stored ticket in the given state (as if earlier actions had run)."""
    ticket = open_as(ports)
    changed = replace(ticket, status=Status(status), assignee=assignee, **changes)
    repo_of(ports).tickets[ticket.id] = changed
    return changed
