"""Ticket routes (SPEC section 5)."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import ROUTES, api_route, json_response
from chalicelib.api.requests import (
    ListCursor,
    create,
    if_match,
    later,
    posted_later,
    query_params,
    stored_response,
    validated_later,
)
from chalicelib.api.validation import parse_rfc3339
from chalicelib.domain.applications import resolve_request
from chalicelib.domain.complaints import awaits_second_supervisor
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller
from chalicelib.domain.statuses import STATUSES, Action
from chalicelib.domain.ticket import Ticket, TicketRequest, ticket_view
from chalicelib.domain.timeline import event_view
from chalicelib.service import tickets
from chalicelib.service.audit import record_list_read, record_read
from chalicelib.service.idempotency import IdempotencyKey
from chalicelib.service.merge import with_possible_duplicates
from chalicelib.service.tickets import ListFilters, StoredResponse

tickets_blueprint = Blueprint(__name__)

_OPENERS = ROUTES["POST /v1/tickets"].roles  # who may open one: its row in the route table
_LIST_PARAMS = ("customer_id", "queue", "assignee", "reference", "status", "limit", "cursor")
_PAGE_PARAMS = ("limit", "cursor")


def _etag(ticket: Ticket) -> str:
    return f'"{ticket.version}"'


def _ticket_response(ticket: Ticket, viewer: Caller | None = None) -> Response:
    return json_response(ticket_view(ticket, viewer), 200, {"ETag": _etag(ticket)})


def _ticket_request(body: dict[str, Any]) -> TicketRequest:
    bootstrap.container().sms_policy.check_contact(body.get("contact"))
    received_at = body.get("received_at")
    app_type, form, category = resolve_request(
        bootstrap.container().applications.catalogue,
        body["kind"],
        body.get("category"),
        body.get("application"),
    )
    return TicketRequest(
        channel=body["channel"],
        kind=body["kind"],
        category=category,
        subject=body["subject"],
        description=body.get("description", ""),
        contact=body.get("contact"),
        customer_id=body.get("customer_id"),
        received_at=parse_rfc3339(received_at) if received_at else None,
        priority=body.get("priority"),
        application_type=app_type,
        form=form,
    )


@api_route(tickets_blueprint, "POST /v1/tickets")
def create_ticket() -> Response:
    def use(caller: Caller, body: dict[str, Any], key: IdempotencyKey | None) -> StoredResponse:
        ports = bootstrap.container().ticket_ports()

        def created(ticket: Ticket, duplicates: list[str]) -> StoredResponse:
            return _created_with_duplicates(ticket, duplicates, caller)

        render = with_possible_duplicates(ports.repository, created)
        return tickets.create_ticket(ports, caller, _ticket_request(body), render, key)

    request = tickets_blueprint.current_request
    return create(request, _OPENERS, "ticket-create", "POST /v1/tickets", use)


@api_route(tickets_blueprint, "GET /v1/tickets")
def list_tickets() -> Response:
    request = tickets_blueprint.current_request
    caller = current_caller(request)
    params = query_params(request, _LIST_PARAMS)
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationError([FieldError("status", "must be one of: " + ", ".join(STATUSES))])
    cursor = ListCursor("tickets", caller.id, *(params.get(n) for n in _LIST_PARAMS[:5]))
    limit, start = cursor.position(params)
    filters = ListFilters(
        customer_id=params.get("customer_id"),
        queue=params.get("queue"),
        assignee=params.get("assignee"),
        reference=params.get("reference"),
        status=status,
        limit=limit,
        start_key=start,
    )
    page = tickets.list_tickets(bootstrap.container().ticket_ports(), caller, filters)
    _audit_list(caller, page.items, filters)
    return cursor.page_response(page, lambda ticket: ticket_view(ticket, caller))


@api_route(tickets_blueprint, "GET /v1/tickets/{ticket_id}")
def get_ticket(ticket_id: str) -> Response:
    caller = current_caller(tickets_blueprint.current_request)
    ticket = tickets.get_ticket(bootstrap.container().ticket_ports(), caller, ticket_id)
    _audit_read(caller, "read_ticket", ticket_id=ticket.id)
    return _ticket_response(ticket, caller)


@api_route(tickets_blueprint, "POST /v1/tickets/{ticket_id}/actions")
def act(ticket_id: str) -> Response:
    request = tickets_blueprint.current_request
    caller = current_caller(request)
    body, invalid = validated_later("ticket-action", request)
    expected_version, header_error = later(lambda: if_match(request))
    invalid = invalid or header_error
    action = str(body.pop("action", ""))
    if invalid is not None:
        body = {}
    ticket = tickets.act(
        bootstrap.container().ticket_ports(),
        caller,
        ticket_id,
        action,
        body,
        if_match=expected_version,
        invalid=invalid,
    )
    if action == Action.EXTEND and awaits_second_supervisor(ticket):
        return json_response(ticket_view(ticket, caller), 202, {"ETag": _etag(ticket)})
    return _ticket_response(ticket, caller)


@api_route(tickets_blueprint, "POST /v1/tickets/{ticket_id}/comments")
def add_comment(ticket_id: str) -> Response:
    request = tickets_blueprint.current_request
    route = f"POST /v1/tickets/{ticket_id}/comments"
    caller, body, idempotency, invalid = posted_later(request, "comment-create", route)
    ports = bootstrap.container().ticket_ports()

    def render(event: Event) -> StoredResponse:
        return StoredResponse(201, json.dumps(event_view(event, caller), ensure_ascii=False))

    response = tickets.comment(
        ports,
        caller,
        ticket_id,
        str(body.get("body", "")),
        bool(body.get("internal", False)),
        answer=tickets.Answer(render, idempotency, invalid=invalid),
    )
    return stored_response(response)


@api_route(tickets_blueprint, "GET /v1/tickets/{ticket_id}/timeline")
def get_timeline(ticket_id: str) -> Response:
    request = tickets_blueprint.current_request
    caller = current_caller(request)
    cursor = ListCursor("timeline", caller.id, ticket_id)
    page_params, invalid = later(lambda: cursor.position(query_params(request, _PAGE_PARAMS)))
    limit, start_key = page_params or (1, None)
    page = tickets.timeline(
        bootstrap.container().ticket_ports(), caller, ticket_id, limit, start_key, invalid=invalid
    )
    _audit_read(caller, "read_timeline", ticket_id=ticket_id)
    return cursor.page_response(page, lambda event: event_view(event, caller))


@api_route(tickets_blueprint, "POST /v1/queues/{queue}/claim")
def claim(queue: str) -> Response:
    caller = current_caller(tickets_blueprint.current_request)
    ticket = tickets.claim(bootstrap.container().ticket_ports(), caller, queue)
    if ticket is None:
        return Response(body="", status_code=204)
    return _ticket_response(ticket)


def _audit_read(caller: Caller, action: str, **ids: str | None) -> None:
    """Every staff read is recorded before the data goes out (SPEC 10)."""

    record_read(bootstrap.container().audit_ports(), caller, action, **ids)


def _audit_list(caller: Caller, shown: list[Ticket], filters: ListFilters) -> None:
    """A list read is a read of every ticket it returns (SPEC 10), recorded before it goes out."""
    query = {n: str(v) for n in _LIST_PARAMS[:5] if (v := getattr(filters, n)) is not None}
    shown_ids = [ticket.id for ticket in shown]
    record_list_read(bootstrap.container().audit_ports(), caller, shown_ids, query)


def created_response(ticket: Ticket, viewer: Caller | None = None) -> StoredResponse:
    """201 with the new ticket, as kept for an idempotent retry (tickets and appointments)."""

    return StoredResponse(
        201,
        json.dumps(ticket_view(ticket, viewer), ensure_ascii=False),
        {"Location": f"/v1/tickets/{ticket.id}", "ETag": _etag(ticket)},
    )


def _created_with_duplicates(
    ticket: Ticket, duplicates: list[str], viewer: Caller | None = None
) -> StoredResponse:
    """POST /v1/tickets: the new ticket and its possible duplicates (SPEC 13)."""
    view = {**ticket_view(ticket, viewer), "possible_duplicates": duplicates}
    return StoredResponse(
        201,
        json.dumps(view, ensure_ascii=False),
        {"Location": f"/v1/tickets/{ticket.id}", "ETag": _etag(ticket)},
    )
