"""The review (核查) route: POST /v1/tickets/{id}/review (SPEC section 13)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import api_route
from chalicelib.api.requests import idempotency_key, stored_response
from chalicelib.api.tickets import _later, _validated_later, created_response
from chalicelib.service.reviews import request_review

reviews_blueprint = Blueprint(__name__)


@api_route(reviews_blueprint, "POST /v1/tickets/{ticket_id}/review")
def create_review(ticket_id: str) -> Response:
    request = reviews_blueprint.current_request
    caller = current_caller(request)
    body, invalid = _validated_later("review-create", request)
    route = f"POST /v1/tickets/{ticket_id}/review"
    idempotency, key_error = _later(lambda: idempotency_key(request, caller, route, body))
    response = request_review(
        bootstrap.container().ticket_ports(),
        caller,
        ticket_id,
        str(body.get("reason", "")),
        render=created_response,
        idempotency=idempotency,
        invalid=invalid or key_error,
    )
    return stored_response(response)
