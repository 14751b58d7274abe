"""The application catalogue (SPEC section 11)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import api_route, json_response

applications_blueprint = Blueprint(__name__)


@api_route(applications_blueprint, "GET /v1/application-types")
def list_application_types() -> Response:
    current_caller(applications_blueprint.current_request)  # any verified role
    catalogue = bootstrap.container().applications.catalogue
    return json_response({"items": [app_type.view() for app_type in catalogue]})
