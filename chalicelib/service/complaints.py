"""Complaint use cases (SPEC section 13): the codes, the regulator's report and the
counters it is read from. The actions themselves run through service/tickets.act."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from chalicelib.domain.complaint_report import (
    FAMILIES,
    complaint_report,
    needs_ticket,
)
from chalicelib.domain.complaint_report import (
    complaint_counters as counters_of_event,
)
from chalicelib.domain.complaints import ComplaintCodes
from chalicelib.domain.errors import ForbiddenError
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.reports import ReportRange, Slots, day_bounds, report_range
from chalicelib.service.ports import CounterReader

if TYPE_CHECKING:
    from chalicelib.service.reactions import ReactionPorts

REPORT_ROLES = frozenset({Role.SUPERVISOR, Role.AUDITOR})
COUNTING = "count-complaint"  # the ledger's reaction name: once per event


def complaint_codes(codes: ComplaintCodes) -> dict[str, Any]:
    """`GET /v1/complaint-codes`: every caller may read them (customers see the names)."""
    return codes.view()


class ComplaintReportPorts(msgspec.Struct, frozen=True):
    counters: CounterReader


def complaint_counters(
    ports: ComplaintReportPorts, caller: Caller, params: Mapping[str, str]
) -> tuple[ReportRange, dict[str, Slots]]:
    """The range asked for and its complaint counters (supervisors and auditors): one
    key-range Query per counter family, never a scan."""
    if caller.role not in REPORT_ROLES:
        raise ForbiddenError(f"The {caller.role.value} role may not read reports")
    period = report_range(params)
    first, last = day_bounds(period)
    return period, {family: ports.counters.slots(family, first, last) for family in FAMILIES}


def report_complaints(
    ports: ComplaintReportPorts, caller: Caller, params: Mapping[str, str]
) -> dict[str, Any]:
    """The regulator's figures for a date range, as JSON."""
    return complaint_report(*complaint_counters(ports, caller, params))


def count_complaint(event: Event, ports: ReactionPorts) -> None:
    """Move the complaint report's counters this event affects, once per event."""
    ticket = None
    if needs_ticket(event) and ports.tickets is not None:
        ticket = (ports.ticket_reads or ports.tickets).get(event.ticket_id)
    counters = counters_of_event(event, ticket)
    if counters:
        ports.ledger.apply_once(event.id, COUNTING, counters)
