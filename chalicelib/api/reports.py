"""Report routes (SPEC section 10): supervisors and auditors, counters only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller
from chalicelib.api.http import Operation, api_route, json_response
from chalicelib.domain.identity import Caller
from chalicelib.service import reports
from chalicelib.service.reports import ReportPorts

reports_blueprint = Blueprint(__name__)

_RANGE = (
    {
        "name": "from",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "format": "date"},
        "description": "first day (Asia/Shanghai), inclusive",
    },
    {
        "name": "to",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "format": "date"},
        "description": "last day (Asia/Shanghai), inclusive; at most 366 days after from",
    },
)


@api_route(
    reports_blueprint,
    Operation(
        "/v1/reports/summary",
        "GET",
        "Volumes, resolutions, SLA compliance, CSAT and first-response times for a date range",
        responses={200: "report-summary", 400: None, 403: None},
        roles=("supervisor", "auditor"),
        tag="reports",
        parameters=_RANGE,
    ),
)
def report_summary() -> Response:
    return _report(reports.report_summary)


@api_route(
    reports_blueprint,
    Operation(
        "/v1/reports/agents",
        "GET",
        "Per-agent resolutions, median resolution time, CSAT and SLA compliance",
        responses={200: "report-agents", 400: None, 403: None},
        roles=("supervisor", "auditor"),
        tag="reports",
        parameters=_RANGE,
    ),
)
def report_agents() -> Response:
    return _report(reports.report_agents)


def _report(build: Callable[[ReportPorts, Caller, Mapping[str, str]], dict[str, Any]]) -> Response:
    request = reports_blueprint.current_request
    params = dict(request.query_params or {})
    return json_response(
        build(bootstrap.container().report_ports(), current_caller(request), params)
    )
