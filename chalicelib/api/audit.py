"""Audit log and erasure routes (SPEC section 10): auditors only."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import api_route, json_response
from chalicelib.api.requests import ListCursor, query_params
from chalicelib.domain.audit import entry_view
from chalicelib.domain.ticket import isoformat
from chalicelib.service import audit, privacy

audit_blueprint = Blueprint(__name__)

_PARAMS = ("ticket_id", "actor", "limit", "cursor")


@api_route(audit_blueprint, "GET /v1/audit")
def audit_log() -> Response:
    request = audit_blueprint.current_request
    caller = current_caller(request)
    query: Mapping[str, str] = request.query_params or {}  # checked below, after the role
    by, value = audit.audit_query(caller, query.get("ticket_id"), query.get("actor"))
    params = query_params(request, _PARAMS)  # after the role check: an auditor's 400, anyone's 403
    cursor = ListCursor("audit", caller.id, by, value)
    fetch = partial(audit.audit_page, bootstrap.container().audit_ports(), by, value)
    return cursor.respond(params, fetch, entry_view)


@api_route(audit_blueprint, "POST /v1/customers/{customer_id}/erasure")
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
