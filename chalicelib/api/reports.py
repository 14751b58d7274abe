"""Report routes (SPEC section 10): supervisors and auditors, counters only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import CSV, JSON, Operation, api_route, json_response, negotiate
from chalicelib.domain.complaint_report import complaint_csv, complaint_report
from chalicelib.domain.identity import Caller
from chalicelib.service import complaints, reports
from chalicelib.service.reports import ReportPorts

reports_blueprint = Blueprint(__name__)


def _date(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "string", "format": "date"}
    return {
        "name": name,
        "in": "query",
        "required": True,
        "schema": schema,
        "description": description,
    }


_RANGE = (
    _date("from", "first day (Asia/Shanghai), inclusive"),
    _date("to", "last day (Asia/Shanghai), inclusive; at most 366 days after from"),
)


def _report_operation(path: str, summary: str, schema: str) -> Operation:
    """A report: supervisors and auditors, over a date range."""
    responses: dict[int, str | None] = {200: schema, 400: None, 403: None, 406: None}
    roles = ("supervisor", "auditor")
    return Operation(
        path, "GET", summary, responses=responses, roles=roles, tag="reports", parameters=_RANGE
    )


@api_route(
    reports_blueprint,
    _report_operation(
        "/v1/reports/summary",
        "Volumes, resolutions, SLA compliance, CSAT and first-response times for a date range",
        "report-summary",
    ),
)
def report_summary() -> Response:
    return _report(reports.report_summary)


@api_route(
    reports_blueprint,
    _report_operation(
        "/v1/reports/agents",
        "Per-agent resolutions, median resolution time, CSAT and SLA compliance",
        "report-agents",
    ),
)
def report_agents() -> Response:
    return _report(reports.report_agents)


def _report(build: Callable[[ReportPorts, Caller, Mapping[str, str]], dict[str, Any]]) -> Response:
    request = reports_blueprint.current_request
    params = dict(request.query_params or {})
    body = build(bootstrap.container().report_ports(), current_caller(request), params)
    negotiate(request.headers.get("accept"), (JSON,))  # CSV is the complaint report's only: 406
    return json_response(body)


@api_route(
    reports_blueprint,
    _report_operation(
        "/v1/reports/complaints",
        "The regulator's complaint figures (received, concluded, extended, reviews); "
        "Accept: text/csv gives one row per business x cause x channel",
        "report-complaints",
    )._replace(csv=True),
)
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
