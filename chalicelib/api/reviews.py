"""The review (核查) route: POST /v1/tickets/{id}/review (SPEC section 13)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import api_route
from chalicelib.api.requests import posted_later, stored_response
from chalicelib.api.tickets import created_response
from chalicelib.service.reviews import request_review
from chalicelib.service.tickets import Answer

reviews_blueprint = Blueprint(__name__)


@api_route(reviews_blueprint, "POST /v1/tickets/{ticket_id}/review")
def create_review(ticket_id: str) -> Response:
    request = reviews_blueprint.current_request
    route = f"POST /v1/tickets/{ticket_id}/review"
    caller, body, idempotency, invalid = posted_later(request, "review-create", route)
    response = request_review(
        bootstrap.container().ticket_ports(),
        caller,
        ticket_id,
        str(body.get("reason", "")),
        answer=Answer(created_response, idempotency, invalid=invalid),
    )
    return stored_response(response)
