"""Triage inbox routes (SPEC section 12): agents and supervisors work it, auditors read it,
customers may not use it (403)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import api_route, json_body, json_response
from chalicelib.api.requests import ListCursor, query_params, stored_response
from chalicelib.api.tickets import created_response
from chalicelib.api.validation import validate
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.identity import Caller
from chalicelib.domain.inbox import INBOX_STATUSES, InboxItem, InboxStatus, item_summary, item_view
from chalicelib.service import inbox
from chalicelib.service.audit import record_read
from chalicelib.service.inbox import InboxPorts

inbox_blueprint = Blueprint(__name__)

_LIST_PARAMS = ("status", "limit", "cursor")


@api_route(inbox_blueprint, "GET /v1/inbox")
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
    cursor = ListCursor("inbox", caller.id, status)
    fetch = partial(inbox.list_items, bootstrap.container().inbox_ports(), caller, status)
    return cursor.respond(params, fetch, item_summary)


@api_route(inbox_blueprint, "GET /v1/inbox/{item_id}")
def get_inbox_item(item_id: str) -> Response:
    caller = current_caller(inbox_blueprint.current_request)
    container = bootstrap.container()
    item = inbox.get_item(container.inbox_ports(), caller, item_id)
    # A staff read of a message (personal data) is recorded like a ticket read (SPEC 10).
    record_read(
        container.audit_ports(),
        caller,
        "read_inbox_item",
        ticket_id=item.ticket_id,
        inbox_id=item.id,
    )
    return json_response(item_view(item))


def _body(schema: str, item_id: str) -> dict[str, Any]:
    """The body, validated after the item's 404 and the role's 403 (SPEC 3's order)."""
    request = inbox_blueprint.current_request
    caller = current_caller(request)
    inbox.check_worker(bootstrap.container().inbox_ports(), caller, item_id)
    validated: dict[str, Any] = validate(schema, json_body(request))
    return validated


@api_route(inbox_blueprint, "POST /v1/inbox/{item_id}/ticket")
def ticket_from_item(item_id: str) -> Response:
    body = _body("inbox-ticket", item_id)
    caller = current_caller(inbox_blueprint.current_request)
    ports = bootstrap.container().inbox_ports()
    ticket = inbox.open_ticket_from(ports, caller, item_id, body)
    return stored_response(created_response(ticket))


Settle = Callable[[InboxPorts, Caller, str, str], InboxItem]


def _settling_route(action: str, field: str, settle: Settle) -> None:
    """POST /v1/inbox/{item_id}/<action>: staff settle an open message with one field of
    the body (the schema inbox-<action>); the item comes back as it now stands."""
    schema = f"inbox-{action}"

    def view(item_id: str) -> Response:
        body = _body(schema, item_id)
        caller = current_caller(inbox_blueprint.current_request)
        item = settle(bootstrap.container().inbox_ports(), caller, item_id, body[field])
        return json_response(item_view(item))

    view.__name__ = f"{action}_item"
    api_route(inbox_blueprint, f"POST /v1/inbox/{{item_id}}/{action}")(view)


_settling_route("link", "ticket_id", inbox.link)
_settling_route("discard", "reason", inbox.discard)
