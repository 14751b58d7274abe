"""Ticket routes (SPEC section 5)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from chalice.app import Blueprint, Request, Response
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.cursors import CursorCodec, fingerprint
from chalicelib.api.http import Operation, api_route, json_body, json_response
from chalicelib.api.requests import (
    CURSOR_PARAMETER,
    IDEMPOTENCY_HEADER,
    LIMIT_PARAMETER,
    create,
    idempotency_key,
    if_match,
    page_limit,
    query_params,
    stored_response,
)
from chalicelib.api.validation import parse_rfc3339, validate
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
from chalicelib.service.ports import StartKey
from chalicelib.service.tickets import ListFilters, StoredResponse

tickets_blueprint = Blueprint(__name__)

_OPENERS = frozenset({"customer", "agent", "supervisor"})
_ALL_ROLES = ("customer", "agent", "supervisor", "auditor")
_LIST_PARAMS = ("customer_id", "queue", "assignee", "reference", "status", "limit", "cursor")
_PAGE_PARAMS = ("limit", "cursor")


def _cursors() -> CursorCodec:
    return CursorCodec(bootstrap.container().cursor_keys)


def _etag(ticket: Ticket) -> str:
    return f'"{ticket.version}"'


def _ticket_response(ticket: Ticket, viewer: Caller | None = None) -> Response:
    return json_response(ticket_view(ticket, viewer), 200, {"ETag": _etag(ticket)})


def _ticket_request(body: dict[str, Any]) -> TicketRequest:
    received_at = body.get("received_at")
    app_type, form, category = resolve_request(
        bootstrap.application_catalogue(),
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


@api_route(
    tickets_blueprint,
    Operation(
        "/v1/tickets",
        "POST",
        "Open a ticket (customers for themselves, staff on a customer's behalf)",
        request_schema="ticket-create",
        responses={201: "ticket", 400: None, 403: None, 409: None, 413: None, 415: None, 422: None},
        roles=("customer", "agent", "supervisor"),
        parameters=(IDEMPOTENCY_HEADER,),
    ),
)
def create_ticket() -> Response:
    def use(caller: Caller, body: dict[str, Any], key: IdempotencyKey | None) -> StoredResponse:
        ports = bootstrap.container().ticket_ports()

        def created(ticket: Ticket, duplicates: list[str]) -> StoredResponse:
            return _created_with_duplicates(ticket, duplicates, caller)

        render = with_possible_duplicates(ports.repository, created)
        return tickets.create_ticket(ports, caller, _ticket_request(body), render, key)

    request = tickets_blueprint.current_request
    return create(request, _OPENERS, "ticket-create", "POST /v1/tickets", use)


@api_route(
    tickets_blueprint,
    Operation(
        "/v1/tickets",
        "GET",
        "List tickets, newest first: a customer's own; staff by exactly one of "
        "customer_id, queue, assignee, reference",
        responses={200: "ticket-page", 400: None},
        roles=_ALL_ROLES,
        parameters=(
            *(
                {"name": name, "in": "query", "schema": {"type": "string"}}
                for name in ("customer_id", "queue", "assignee", "reference")
            ),
            {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
            LIMIT_PARAMETER,
            CURSOR_PARAMETER,
        ),
    ),
)
def list_tickets() -> Response:
    request = tickets_blueprint.current_request
    caller = current_caller(request)
    params = query_params(request, _LIST_PARAMS)
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationError([FieldError("status", "must be one of: " + ", ".join(STATUSES))])
    filters = ListFilters(
        customer_id=params.get("customer_id"),
        queue=params.get("queue"),
        assignee=params.get("assignee"),
        reference=params.get("reference"),
        status=status,
        limit=page_limit(params),
    )
    query_id = fingerprint("tickets", caller.id, *(getattr(filters, n) for n in _LIST_PARAMS[:5]))
    start_key = _cursors().decode(params.get("cursor"), query_id)
    page = tickets.list_tickets(
        bootstrap.container().ticket_ports(), caller, _with_start(filters, start_key)
    )
    _audit_list(caller, page.items, filters)
    return json_response(
        {
            "items": [ticket_view(ticket, caller) for ticket in page.items],
            "next_cursor": _cursors().encode(page.next_key, query_id),
        }
    )


def _with_start(filters: ListFilters, start_key: StartKey | None) -> ListFilters:
    return replace(filters, start_key=start_key)


@api_route(
    tickets_blueprint,
    Operation(
        "/v1/tickets/{ticket_id}",
        "GET",
        "Read a ticket (its owner or staff)",
        responses={200: "ticket", 404: None},
        roles=_ALL_ROLES,
    ),
)
def get_ticket(ticket_id: str) -> Response:
    caller = current_caller(tickets_blueprint.current_request)
    ticket = tickets.get_ticket(bootstrap.container().ticket_ports(), caller, ticket_id)
    _audit_read(caller, "read_ticket", ticket_id=ticket.id)
    return _ticket_response(ticket, caller)


@api_route(
    tickets_blueprint,
    Operation(
        "/v1/tickets/{ticket_id}/actions",
        "POST",
        f"Run a lifecycle action ({', '.join(Action)})",
        request_schema="ticket-action",
        responses={
            200: "ticket",
            202: "ticket",  # a complaint's second extension, waiting for a second supervisor
            400: None,
            403: None,
            404: None,
            409: None,
            412: None,
        },
        roles=("customer", "agent", "supervisor"),
        parameters=(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": 'The ETag read, e.g. "3"',
            },
        ),
    ),
)
def act(ticket_id: str) -> Response:
    request = tickets_blueprint.current_request
    caller = current_caller(request)
    body, invalid = _validated_later("ticket-action", request)
    expected_version, header_error = _later(lambda: if_match(request))
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


T = TypeVar("T")


def _later(parse: Callable[[], T]) -> tuple[T | None, ValidationError | None]:
    """Parse now; report a 400 only after the 404 and 403 checks (SPEC 3)."""
    try:
        return parse(), None
    except ValidationError as error:
        return None, error


def _validated_later(
    schema: str, request: Request
) -> tuple[dict[str, Any], ValidationError | None]:
    """Validate now, but let the service report it after the 404 and 403 checks."""
    try:
        data = json_body(request)
    except ValidationError as error:
        return {}, error
    try:
        return validate(schema, data), None
    except ValidationError as error:
        # Keep a well-formed action name: its permission check still comes first.
        action = data.get("action") if isinstance(data, dict) else None
        return ({"action": action} if isinstance(action, str) else {}), error


@api_route(
    tickets_blueprint,
    Operation(
        "/v1/tickets/{ticket_id}/comments",
        "POST",
        "Add a public comment, or (staff) an internal note",
        request_schema="comment-create",
        responses={201: "timeline-entry", 400: None, 403: None, 404: None, 409: None, 422: None},
        roles=("customer", "agent", "supervisor"),
        parameters=(IDEMPOTENCY_HEADER,),
    ),
)
def add_comment(ticket_id: str) -> Response:
    request = tickets_blueprint.current_request
    caller = current_caller(request)
    ports = bootstrap.container().ticket_ports()
    body, invalid = _validated_later("comment-create", request)
    route = f"POST /v1/tickets/{ticket_id}/comments"
    idempotency, key_error = _later(lambda: idempotency_key(request, caller, route, body))
    invalid = invalid or key_error

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


@api_route(
    tickets_blueprint,
    Operation(
        "/v1/tickets/{ticket_id}/timeline",
        "GET",
        "The ticket's timeline, oldest first (customers: public entries only)",
        responses={200: "timeline-page", 400: None, 404: None},
        roles=_ALL_ROLES,
        parameters=(LIMIT_PARAMETER, CURSOR_PARAMETER),
    ),
)
def get_timeline(ticket_id: str) -> Response:
    request = tickets_blueprint.current_request
    caller = current_caller(request)
    query_id = fingerprint("timeline", caller.id, ticket_id)

    def paging() -> tuple[int, StartKey | None]:
        params = query_params(request, _PAGE_PARAMS)
        return page_limit(params), _cursors().decode(params.get("cursor"), query_id)

    page_params, invalid = _later(paging)
    limit, start_key = page_params or (1, None)
    page = tickets.timeline(
        bootstrap.container().ticket_ports(), caller, ticket_id, limit, start_key, invalid=invalid
    )
    _audit_read(caller, "read_timeline", ticket_id=ticket_id)
    return json_response(
        {
            "items": [event_view(event, caller) for event in page.items],
            "next_cursor": _cursors().encode(page.next_key, query_id),
        }
    )


@api_route(
    tickets_blueprint,
    Operation(
        "/v1/queues/{queue}/claim",
        "POST",
        "Claim the queue's next unassigned ticket (most urgent, then oldest)",
        responses={200: "ticket", 204: None, 403: None, 404: None},
        roles=("agent", "supervisor"),
    ),
)
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
