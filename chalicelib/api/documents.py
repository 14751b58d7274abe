"""Document routes (SPEC 11): hand one in (a presigned POST to the bucket), list, download."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller, require_role
from chalicelib.api.http import ROUTES, api_route, json_body, json_response
from chalicelib.api.requests import idempotency_key, stored_response
from chalicelib.api.validation import validate
from chalicelib.domain.documents import Document, document_view
from chalicelib.domain.identity import Caller
from chalicelib.domain.ticket import Ticket, isoformat
from chalicelib.service import documents, tickets
from chalicelib.service.audit import record_read
from chalicelib.service.documents import DocumentRequest, UploadForm
from chalicelib.service.idempotency import StoredResponse

documents_blueprint = Blueprint(__name__)

_ADDERS = ROUTES["POST /v1/tickets/{ticket_id}/documents"].roles  # its row in the route table


def _ticket(caller: Caller, ticket_id: str) -> Ticket:
    return tickets.get_ticket(bootstrap.container().ticket_ports(), caller, ticket_id)


def created_document(document: Document, form: UploadForm) -> StoredResponse:
    view = document_view(document)
    view["upload"] = {
        "url": form.url,
        "fields": dict(form.fields),
        "expires_at": isoformat(form.expires_at),
    }
    return StoredResponse(201, json.dumps(view, ensure_ascii=False))


@api_route(documents_blueprint, "POST /v1/tickets/{ticket_id}/documents")
def add_document(ticket_id: str) -> Response:
    request = documents_blueprint.current_request
    caller = current_caller(request)
    _ticket(caller, ticket_id)  # 404 before 403 and 400 (SPEC 3)
    require_role(caller, _ADDERS)
    body = validate("document-create", json_body(request))
    route = f"POST /v1/tickets/{ticket_id}/documents"
    key = idempotency_key(request, caller, route, body)
    response = documents.add_document(
        bootstrap.container().document_ports(alerts=False),
        caller,
        ticket_id,
        DocumentRequest(
            type=body["type"],
            filename=body["filename"],
            content_type=body["content_type"],
            size=body["size"],
            sha256=body["sha256"],
        ),
        render=created_document,
        idempotency=key,
        get_ticket=lambda wanted: _ticket(caller, wanted),
    )
    return stored_response(response)


@api_route(documents_blueprint, "GET /v1/tickets/{ticket_id}/documents")
def list_documents(ticket_id: str) -> Response:
    caller = current_caller(documents_blueprint.current_request)
    ticket = _ticket(caller, ticket_id)
    items = documents.list_documents(bootstrap.container().document_ports(alerts=False), ticket)
    _audit(caller, "list_documents", ticket.id)
    body: dict[str, Any] = {"items": [document_view(item) for item in items]}
    return json_response(body)


@api_route(documents_blueprint, "GET /v1/tickets/{ticket_id}/documents/{document_id}/content")
def document_content(ticket_id: str, document_id: str) -> Response:
    caller = current_caller(documents_blueprint.current_request)
    ticket = _ticket(caller, ticket_id)
    url = documents.download_url(
        bootstrap.container().document_ports(alerts=False), ticket, document_id
    )
    _audit(caller, "read_document", ticket.id)
    return Response(
        body="", status_code=302, headers={"Location": url, "Cache-Control": "no-store"}
    )


def _audit(caller: Caller, action: str, ticket_id: str) -> None:
    record_read(bootstrap.container().audit_ports(), caller, action, ticket_id=ticket_id)
