"""Report routes (SPEC section 10): supervisors and auditors, counters only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller, require_role
from chalicelib.api.http import CSV, JSON, api_route, json_response, negotiate
from chalicelib.api.requests import later, query_values
from chalicelib.domain.complaint_report import complaint_csv, complaint_report
from chalicelib.domain.identity import Caller
from chalicelib.service import complaints, reports
from chalicelib.service.reports import REPORT_ROLES, ReportPorts

reports_blueprint = Blueprint(__name__)


@api_route(reports_blueprint, "GET /v1/reports/summary")
def report_summary() -> Response:
    return _report(reports.report_summary)


@api_route(reports_blueprint, "GET /v1/reports/agents")
def report_agents() -> Response:
    return _report(reports.report_agents)


def _report(build: Callable[[ReportPorts, Caller, Mapping[str, str]], dict[str, Any]]) -> Response:
    request = reports_blueprint.current_request
    caller = current_caller(request)
    # JSON only: an Accept naming CSV alone was a 406 before the view ran (api_route)
    return json_response(build(bootstrap.container().report_ports(), caller, _params(caller)))


def _params(caller: Caller) -> dict[str, str]:
    """The range's parameters; one sent twice is a reader's 400, anyone else's 403 (SPEC 3)."""
    params, repeated = later(lambda: query_values(reports_blueprint.current_request))
    if repeated is not None:
        require_role(caller, REPORT_ROLES)
        raise repeated
    return params or {}


@api_route(reports_blueprint, "GET /v1/reports/complaints")
def report_complaints() -> Response:
    request = reports_blueprint.current_request
    ports = bootstrap.container().complaint_report_ports()
    caller = current_caller(request)
    period, counters = complaints.complaint_counters(ports, caller, _params(caller))
    if negotiate(request.headers.get("accept"), (JSON, CSV)) == CSV:
        text = complaint_csv(counters)
        headers: dict[str, str | list[str]] = {"Content-Type": f"{CSV}; charset=utf-8"}
        return Response(body=text, status_code=200, headers=headers)
    return json_response(complaint_report(period, counters))
