"""Ticket use cases."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.identity import Caller
from chalicelib.domain.ticket import Ticket, TicketRequest, open_ticket
from chalicelib.service.ports import Clock, IdSource, ReferenceTakenError, TicketRepository

_REFERENCE_ATTEMPTS = 5


@dataclass(frozen=True)
class TicketPorts:
    repository: TicketRepository
    ids: IdSource
    clock: Clock


def create_ticket(ports: TicketPorts, caller: Caller, request: TicketRequest) -> Ticket:
    """Open a ticket: the ticket, its reference and its `ticket.created` event in one write."""
    now = ports.clock()
    ticket, event = open_ticket(
        request,
        caller,
        ticket_id=ports.ids.ticket_id(),
        reference=ports.ids.reference(),
        event_id=ports.ids.event_id(),
        now=now,
    )
    for _ in range(_REFERENCE_ATTEMPTS - 1):
        try:
            ports.repository.create(ticket, event)
            return ticket
        except ReferenceTakenError:
            ticket = ticket.with_reference(ports.ids.reference())
    ports.repository.create(ticket, event)
    return ticket


def get_ticket(ports: TicketPorts, caller: Caller, ticket_id: str) -> Ticket:
    """The ticket, if the caller may see it; otherwise NotFoundError (never 403)."""
    ticket = ports.repository.get(ticket_id)
    if ticket is None or not ticket.visible_to(caller):
        raise NotFoundError(f"No ticket {ticket_id}")
    return ticket
