"""The review (核查) route: POST /v1/tickets/{id}/review (SPEC section 13)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import Operation, api_route
from chalicelib.api.requests import IDEMPOTENCY_HEADER, idempotency_key, stored_response
from chalicelib.api.tickets import _later, _validated_later, created_response
from chalicelib.service.reviews import request_review
from chalicelib.service.tickets import Answer

reviews_blueprint = Blueprint(__name__)


@api_route(
    reviews_blueprint,
    Operation(
        "/v1/tickets/{ticket_id}/review",
        "POST",
        "Ask for the review (核查) of a resolved or closed complaint within 30 days "
        "(its owner, or staff for them): 201 the new review complaint",
        request_schema="review-create",
        responses={201: "ticket", 400: None, 403: None, 404: None, 409: None, 422: None},
        roles=("customer", "agent", "supervisor"),
        parameters=(IDEMPOTENCY_HEADER,),
    ),
)
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
        answer=Answer(created_response, idempotency, invalid=invalid or key_error),
    )
    return stored_response(response)
