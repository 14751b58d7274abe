"""Complaint facts in DynamoDB (moto) and in the fake: one contract. A complaint stored
before they existed still reads, and a suspended clock leaves the due index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.domain.complaints import Complaint, Conclusion, ExtensionRequest
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import Ticket, TicketRequest, open_ticket, ticket_view
from chalicelib.service.ports import TicketRepository
from tests.fakes import InMemoryTicketRepository

NOW = datetime(2026, 11, 27, 2, 30, 15, 123000, tzinfo=UTC)


def _complaint(number: int, **changes: object) -> Ticket:
    request = TicketRequest("web", "complaint", "card", "Fee twice", "", None)
    ticket, _ = open_ticket(
        request,
        Caller(Role.CUSTOMER, "cust-1"),
        ticket_id=f"T-{number:026d}",
        reference=f"SD-{number:08d}",
        event_id=f"E-{number:026d}",
        now=NOW,
    )
    return replace(ticket, **changes)


@pytest.fixture(params=["in-memory", "dynamodb"])
def repository(request, aws) -> TicketRepository:
    if request.param == "in-memory":
        return InMemoryTicketRepository()
    return bootstrap.container().ticket_ports().repository


def test_every_complaint_fact_survives_a_round_trip(repository: TicketRepository):
    complaint = Complaint(
        business="personal-info",
        cause="information-security",
        extensions=1,
        extension_requested=ExtensionRequest(NOW + timedelta(hours=2), "sup-1"),
        suspended_at=NOW + timedelta(hours=3),
        suspended_seconds=86_400,
        clock_started_at=NOW + timedelta(days=20),  # reopened
        concluded=Conclusion("2026-12-18", "within_30_days", "personal-info", None),
    )
    ticket = _complaint(1, complaint=complaint)
    repository.create(ticket, [])
    assert repository.get(ticket.id) == ticket


def test_a_complaint_stored_before_the_ladder_still_reads(repository: TicketRepository):
    old = _complaint(2, complaint=None)
    old = replace(old, sla=replace(old.sla, extended=True))
    repository.create(old, [])
    read = repository.get(old.id)
    assert read is not None and read.complaint is None
    assert ticket_view(read)["complaint"]["extensions"] == 1


def test_a_suspended_clock_leaves_the_due_index(repository: TicketRepository):
    due = NOW + timedelta(days=15)
    running = _complaint(3, sla=replace(_complaint(3).sla, resolution_due=due))
    suspended = replace(
        _complaint(4, sla=running.sla), complaint=Complaint(suspended_at=NOW + timedelta(days=1))
    )
    repository.create(running, [])
    repository.create(suspended, [])
    found = repository.due_tickets(due + timedelta(days=1), 10)
    assert [ticket.id for ticket in found] == [running.id]
