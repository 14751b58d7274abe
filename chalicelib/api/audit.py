"""Audit log and erasure routes (SPEC section 10): auditors only."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.cursors import CursorCodec, fingerprint
from chalicelib.api.http import Operation, api_route, json_response
from chalicelib.api.requests import CURSOR_PARAMETER, LIMIT_PARAMETER, page_limit, query_params
from chalicelib.domain.audit import entry_view
from chalicelib.domain.ticket import isoformat
from chalicelib.service import audit, privacy

audit_blueprint = Blueprint(__name__)

_PARAMS = ("ticket_id", "actor", "limit", "cursor")


@api_route(
    audit_blueprint,
    Operation(
        "/v1/audit",
        "GET",
        "Every staff read and write of a ticket, newest first: by ticket_id or by actor",
        responses={200: "audit-page", 400: None, 403: None},
        roles=("auditor",),
        tag="audit",
        parameters=(
            {"name": "ticket_id", "in": "query", "schema": {"type": "string"}},
            {"name": "actor", "in": "query", "schema": {"type": "string"}},
            LIMIT_PARAMETER,
            CURSOR_PARAMETER,
        ),
    ),
)
def audit_log() -> Response:
    request = audit_blueprint.current_request
    caller = current_caller(request)
    params = dict(request.query_params or {})
    by, value = audit.audit_query(caller, params.get("ticket_id"), params.get("actor"))
    query_params(request, _PARAMS)  # after the role check: an auditor's 400, anyone's 403
    limit = page_limit(params)
    codec = CursorCodec(bootstrap.container().cursor_keys)
    query_id = fingerprint("audit", caller.id, by, value)
    start_key = codec.decode(params.get("cursor"), query_id)
    page = audit.audit_page(bootstrap.container().audit_ports(), by, value, limit, start_key)
    return json_response(
        {
            "items": [entry_view(entry) for entry in page.items],
            "next_cursor": codec.encode(page.next_key, query_id),
        }
    )


@api_route(
    audit_blueprint,
    Operation(
        "/v1/customers/{customer_id}/erasure",
        "POST",
        "Anonymize a customer's personal data (all their tickets closed or cancelled); "
        "statistics are kept",
        responses={200: "erasure", 403: None, 404: None, 409: None},
        roles=("auditor",),
        tag="customers",
    ),
)
def erase_customer(customer_id: str) -> Response:
    caller = current_caller(audit_blueprint.current_request)
    erasure = privacy.erase_customer(bootstrap.container().privacy_ports(), caller, customer_id)
    return json_response(
        {
            "customer_id": erasure.customer_id,
            "tickets": erasure.tickets,
            "anonymized_now": erasure.anonymized_now,
            "preferences_deleted": erasure.preferences_deleted,
            "erased_at": isoformat(erasure.at),
        }
    )
