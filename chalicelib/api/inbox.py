"""Triage inbox routes (SPEC section 12): agents and supervisors work it, auditors read it,
customers may not use it (403)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.cursors import CursorCodec, fingerprint
from chalicelib.api.http import Operation, api_route, json_body, json_response
from chalicelib.api.requests import CURSOR_PARAMETER, LIMIT_PARAMETER, page_limit, query_params
from chalicelib.api.tickets import created_response
from chalicelib.api.validation import validate
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.inbox import INBOX_STATUSES, InboxStatus, item_summary, item_view
from chalicelib.service import inbox
from chalicelib.service.audit import record_read

inbox_blueprint = Blueprint(__name__)

_READERS = ("agent", "supervisor", "auditor")
_WORKERS = ("agent", "supervisor")
_LIST_PARAMS = ("status", "limit", "cursor")
_ACTION_RESPONSES: dict[int, str | None] = {
    200: "inbox-item",
    400: None,
    403: None,
    404: None,
    409: None,
}


@api_route(
    inbox_blueprint,
    Operation(
        "/v1/inbox",
        "GET",
        "Triage inbox items in one status (default open), newest first",
        responses={200: "inbox-page", 400: None, 403: None},
        roles=_READERS,
        tag="inbox",
        parameters=(
            {"name": "status", "in": "query", "schema": {"enum": [s.value for s in InboxStatus]}},
            LIMIT_PARAMETER,
            CURSOR_PARAMETER,
        ),
    ),
)
def list_inbox() -> Response:
    request = inbox_blueprint.current_request
    caller = current_caller(request)
    inbox.check_reader(caller)
    params = query_params(request, _LIST_PARAMS)
    status = params.get("status", InboxStatus.OPEN.value)
    if status not in INBOX_STATUSES:
        raise ValidationError(
            [FieldError("status", "must be one of: " + ", ".join(INBOX_STATUSES))]
        )
    limit = page_limit(params)
    codec = CursorCodec(bootstrap.container().cursor_keys)
    query_id = fingerprint("inbox", caller.id, status)
    start_key = codec.decode(params.get("cursor"), query_id)
    page = inbox.list_items(bootstrap.container().inbox_ports(), caller, status, limit, start_key)
    return json_response(
        {
            "items": [item_summary(item) for item in page.items],
            "next_cursor": codec.encode(page.next_key, query_id),
        }
    )


@api_route(
    inbox_blueprint,
    Operation(
        "/v1/inbox/{item_id}",
        "GET",
        "One triage inbox item with its text (quotes removed) and attachments",
        responses={200: "inbox-item", 403: None, 404: None},
        roles=_READERS,
        tag="inbox",
    ),
)
def get_inbox_item(item_id: str) -> Response:
    caller = current_caller(inbox_blueprint.current_request)
    container = bootstrap.container()
    item = inbox.get_item(container.inbox_ports(), caller, item_id)
    # A staff read of a message (personal data) is recorded like a ticket read (SPEC 10).
    record_read(container.audit_ports(), caller, "read_inbox_item", ticket_id=item.ticket_id)
    return json_response(item_view(item))


def _body(schema: str, item_id: str) -> dict[str, Any]:
    """The body, validated after the item's 404 and the role's 403 (SPEC 3's order)."""
    request = inbox_blueprint.current_request
    caller = current_caller(request)
    inbox.check_worker(bootstrap.container().inbox_ports(), caller, item_id)
    validated: dict[str, Any] = validate(schema, json_body(request))
    return validated


@api_route(
    inbox_blueprint,
    Operation(
        "/v1/inbox/{item_id}/ticket",
        "POST",
        "Open a ticket for a customer from the message (its sender becomes the contact)",
        request_schema="inbox-ticket",
        responses={201: "ticket", 400: None, 403: None, 404: None, 409: None},
        roles=_WORKERS,
        tag="inbox",
    ),
)
def ticket_from_item(item_id: str) -> Response:
    body = _body("inbox-ticket", item_id)
    caller = current_caller(inbox_blueprint.current_request)
    ports = bootstrap.container().inbox_ports()
    ticket = inbox.open_ticket_from(ports, caller, item_id, body)
    created = created_response(ticket)
    return Response(
        body=created.body,
        status_code=created.status,
        headers={"Content-Type": "application/json", **created.headers},
    )


@api_route(
    inbox_blueprint,
    Operation(
        "/v1/inbox/{item_id}/link",
        "POST",
        "Add the message to a ticket as its customer's comment (staff vouch for the sender)",
        request_schema="inbox-link",
        responses=_ACTION_RESPONSES,
        roles=_WORKERS,
        tag="inbox",
    ),
)
def link_item(item_id: str) -> Response:
    body = _body("inbox-link", item_id)
    caller = current_caller(inbox_blueprint.current_request)
    item = inbox.link(bootstrap.container().inbox_ports(), caller, item_id, body["ticket_id"])
    return json_response(item_view(item))


@api_route(
    inbox_blueprint,
    Operation(
        "/v1/inbox/{item_id}/discard",
        "POST",
        "Discard the message, with a reason",
        request_schema="inbox-discard",
        responses=_ACTION_RESPONSES,
        roles=_WORKERS,
        tag="inbox",
    ),
)
def discard_item(item_id: str) -> Response:
    body = _body("inbox-discard", item_id)
    caller = current_caller(inbox_blueprint.current_request)
    item = inbox.discard(bootstrap.container().inbox_ports(), caller, item_id, body["reason"])
    return json_response(item_view(item))
