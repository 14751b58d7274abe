"""Reports for supervisors and auditors, read from counters only (SPEC section 10)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from chalicelib.domain.errors import ForbiddenError
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.reports import (
    AGENT_FAMILIES,
    SUMMARY_FAMILIES,
    ReportRange,
    Slots,
    agents_report,
    day_bounds,
    report_range,
    summary,
)
from chalicelib.service.ports import CounterReader

REPORT_ROLES = frozenset({Role.SUPERVISOR, Role.AUDITOR})


class ReportPorts(msgspec.Struct, frozen=True):
    counters: CounterReader


def _allowed(caller: Caller) -> None:
    if caller.role not in REPORT_ROLES:
        raise ForbiddenError(f"The {caller.role.value} role may not read reports")


def _read(ports: ReportPorts, families: tuple[str, ...], period: ReportRange) -> dict[str, Slots]:
    first, last = day_bounds(period)
    return {family: ports.counters.slots(family, first, last) for family in families}


def report_summary(ports: ReportPorts, caller: Caller, params: Mapping[str, str]) -> dict[str, Any]:
    """Volumes, resolutions, SLA compliance, CSAT and response times for a date range:
    one key-range Query per counter family, never a scan."""
    _allowed(caller)
    period = report_range(params)
    return summary(period, _read(ports, SUMMARY_FAMILIES, period))


def report_agents(ports: ReportPorts, caller: Caller, params: Mapping[str, str]) -> dict[str, Any]:
    """Per-agent figures for a date range, each agent credited with their own work."""
    _allowed(caller)
    period = report_range(params)
    return agents_report(_read(ports, AGENT_FAMILIES, period))
