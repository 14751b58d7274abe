"""Ticket routes (SPEC section 5)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller, require_role
from chalicelib.api.http import Operation, api_route, json_body, json_response
from chalicelib.api.validation import parse_rfc3339, validate
from chalicelib.domain.identity import Role
from chalicelib.domain.ticket import Ticket, TicketRequest, ticket_view
from chalicelib.service import tickets

tickets_blueprint = Blueprint(__name__)

_OPENERS = frozenset({Role.CUSTOMER, Role.AGENT, Role.SUPERVISOR})


def _ticket_response(ticket: Ticket, status: int = 200, **headers: str) -> Response:
    return json_response(ticket_view(ticket), status, {"ETag": f'"{ticket.version}"', **headers})


def _ticket_request(body: dict[str, Any]) -> TicketRequest:
    received_at = body.get("received_at")
    return TicketRequest(
        channel=body["channel"],
        kind=body["kind"],
        category=body["category"],
        subject=body["subject"],
        description=body.get("description", ""),
        contact=body.get("contact"),
        customer_id=body.get("customer_id"),
        received_at=parse_rfc3339(received_at) if received_at else None,
        priority=body.get("priority"),
    )


@api_route(
    tickets_blueprint,
    Operation(
        "/v1/tickets",
        "POST",
        "Open a ticket (customers for themselves, staff on a customer's behalf)",
        request_schema="ticket-create",
        responses={201: "ticket", 400: None, 403: None, 413: None, 415: None},
        roles=("customer", "agent", "supervisor"),
    ),
)
def create_ticket() -> Response:
    request = tickets_blueprint.current_request
    caller = current_caller(request)
    require_role(caller, _OPENERS)
    body = validate("ticket-create", json_body(request))
    ticket = tickets.create_ticket(bootstrap.ticket_ports(), caller, _ticket_request(body))
    return _ticket_response(ticket, 201, Location=f"/v1/tickets/{ticket.id}")


@api_route(
    tickets_blueprint,
    Operation(
        "/v1/tickets/{ticket_id}",
        "GET",
        "Read a ticket (its owner or staff)",
        responses={200: "ticket", 404: None},
        roles=("customer", "agent", "supervisor", "auditor"),
    ),
)
def get_ticket(ticket_id: str) -> Response:
    caller = current_caller(tickets_blueprint.current_request)
    ticket = tickets.get_ticket(bootstrap.ticket_ports(), caller, ticket_id)
    return _ticket_response(ticket)
