"""Branch and appointment routes (SPEC section 9)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import ROUTES, api_route, json_response
from chalicelib.api.requests import create, query_params
from chalicelib.api.tickets import created_response
from chalicelib.api.validation import parse_rfc3339
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.identity import Caller
from chalicelib.service import appointments
from chalicelib.service.appointments import AppointmentRequest
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse

appointments_blueprint = Blueprint(__name__)

_BOOKERS = ROUTES["POST /v1/appointments"].roles  # who may book: its row in the route table
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@api_route(appointments_blueprint, "GET /v1/branches")
def list_branches() -> Response:
    current_caller(appointments_blueprint.current_request)
    branches = appointments.list_branches(bootstrap.container().appointment_ports())
    return json_response([branch.view() for branch in branches])


@api_route(appointments_blueprint, "GET /v1/branches/{branch_id}/slots")
def list_slots(branch_id: str) -> Response:
    request = appointments_blueprint.current_request
    current_caller(request)
    ports = bootstrap.container().appointment_ports()
    branch = appointments.find_branch(ports, branch_id)  # 404 before the parameters' 400
    day = _day(query_params(request, ("date",)).get("date"))
    return json_response(appointments.list_slots(ports, branch, day))


def _day(text: str | None) -> date:
    if text is None:
        raise ValidationError([FieldError("date", "is required (YYYY-MM-DD)")])
    try:
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValidationError([FieldError("date", "must be a date as YYYY-MM-DD")])


@api_route(appointments_blueprint, "POST /v1/appointments")
def book_appointment() -> Response:
    def use(caller: Caller, body: dict[str, Any], key: IdempotencyKey | None) -> StoredResponse:
        ports = bootstrap.container().appointment_ports()
        return appointments.book(ports, caller, _request(body), created_response, key)

    request = appointments_blueprint.current_request
    return create(request, _BOOKERS, "appointment-create", "POST /v1/appointments", use)


def _request(body: dict[str, Any]) -> AppointmentRequest:
    bootstrap.container().sms_policy.check_contact(body.get("contact"))
    return AppointmentRequest(
        branch_id=body["branch_id"],
        slot_start=parse_rfc3339(body["slot_start"]),
        category=body["category"],
        subject=body["subject"],
        description=body.get("description", ""),
        contact=body.get("contact"),
        channel=body.get("channel", "mobile"),
        customer_id=body.get("customer_id"),
    )
