"""Report routes (SPEC section 10): supervisors and auditors, counters only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import CSV, JSON, api_route, json_response, negotiate
from chalicelib.domain.complaint_report import complaint_csv, complaint_report
from chalicelib.domain.identity import Caller
from chalicelib.service import complaints, reports
from chalicelib.service.reports import ReportPorts

reports_blueprint = Blueprint(__name__)


@api_route(reports_blueprint, "GET /v1/reports/summary")
def report_summary() -> Response:
    return _report(reports.report_summary)


@api_route(reports_blueprint, "GET /v1/reports/agents")
def report_agents() -> Response:
    return _report(reports.report_agents)


def _report(build: Callable[[ReportPorts, Caller, Mapping[str, str]], dict[str, Any]]) -> Response:
    request = reports_blueprint.current_request
    params = dict(request.query_params or {})
    # JSON only: an Accept naming CSV alone was a 406 before the view ran (api_route)
    return json_response(
        build(bootstrap.container().report_ports(), current_caller(request), params)
    )


@api_route(reports_blueprint, "GET /v1/reports/complaints")
def report_complaints() -> Response:
    request = reports_blueprint.current_request
    params = dict(request.query_params or {})
    ports = bootstrap.container().complaint_report_ports()
    caller = current_caller(request)
    period, counters = complaints.complaint_counters(ports, caller, params)
    if negotiate(request.headers.get("accept"), (JSON, CSV)) == CSV:
        text = complaint_csv(counters)
        headers: dict[str, str | list[str]] = {"Content-Type": f"{CSV}; charset=utf-8"}
        return Response(body=text, status_code=200, headers=headers)
    return json_response(complaint_report(period, counters))
