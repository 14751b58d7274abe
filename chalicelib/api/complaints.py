"""Complaint routes (SPEC section 13): the bank's classification codes. The actions run
through POST /v1/tickets/{id}/actions; the regulator's report is in api/reports.py."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import api_route, json_response
from chalicelib.service.complaints import complaint_codes

complaints_blueprint = Blueprint(__name__)


@api_route(complaints_blueprint, "GET /v1/complaint-codes")
def list_complaint_codes() -> Response:
    current_caller(complaints_blueprint.current_request)  # any signed-in role
    return json_response(complaint_codes(bootstrap.container().complaint_codes))
