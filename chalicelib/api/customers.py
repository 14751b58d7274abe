"""Customer routes: notification preferences (SPEC section 7)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import api_route, json_body, json_response
from chalicelib.api.validation import validate
from chalicelib.domain.audit import READ_PREFERENCES
from chalicelib.domain.errors import ForbiddenError, NotFoundError
from chalicelib.domain.identity import Caller, is_customer_id
from chalicelib.service.audit import record_read

customers_blueprint = Blueprint(__name__)

UNSET = {"sms": True, "email": True, "locale": None, "quiet_hours": None}


def _visible(caller: Caller, customer_id: str) -> None:
    if not is_customer_id(customer_id) or (caller.is_customer and caller.id != customer_id):
        raise NotFoundError("No such customer")  # a malformed id names no one: not echoed


@api_route(customers_blueprint, "GET /v1/customers/{customer_id}/preferences")
def get_preferences(customer_id: str) -> Response:
    caller = current_caller(customers_blueprint.current_request)
    _visible(caller, customer_id)
    container = bootstrap.container()
    stored = container.notification_store.preferences(customer_id)
    # A staff read is recorded before the data goes out (SPEC 10); the customer's own is not.
    record_read(container.audit_ports(), caller, READ_PREFERENCES, customer_id=customer_id)
    return json_response(stored or UNSET)


@api_route(customers_blueprint, "PUT /v1/customers/{customer_id}/preferences")
def put_preferences(customer_id: str) -> Response:
    request = customers_blueprint.current_request
    caller = current_caller(request)
    _visible(caller, customer_id)
    if not caller.is_customer:
        raise ForbiddenError("Only the customer may change their preferences")
    body: dict[str, Any] = validate("preferences", json_body(request))
    preferences = {"locale": None, "quiet_hours": None, **body}
    bootstrap.container().notification_store.save_preferences(customer_id, preferences)
    return json_response(preferences)
