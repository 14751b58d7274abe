"""One contract, two implementations: the in-memory fake and PynamoDB on moto."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from chalicelib import bootstrap
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import TicketRequest, open_ticket
from chalicelib.service.ports import ReferenceTakenError, TicketRepository
from tests.fakes import InMemoryTicketRepository

NOW = datetime(2026, 11, 27, 2, 30, 15, 123000, tzinfo=UTC)
CUSTOMER = Caller(Role.CUSTOMER, "cust-1")


def _ticket(number: int, reference: str | None = None):
    request = TicketRequest(
        channel="web",
        kind="complaint",
        category="payment",
        subject="Transfer missing",
        description="描述 with unicode",
        contact={"phone": "+8613812348000", "email": "a@b.cn"},
    )
    return open_ticket(
        request,
        CUSTOMER,
        ticket_id=f"T-{number:026d}",
        reference=reference or f"SD-{number:08d}",
        event_id=f"E-{number:026d}",
        now=NOW,
    )


@pytest.fixture(params=["in-memory", "dynamodb"])
def repository(request, aws) -> TicketRepository:
    if request.param == "in-memory":
        return InMemoryTicketRepository()
    return bootstrap.ticket_ports().repository


def test_created_ticket_reads_back_identically(repository: TicketRepository):
    ticket, event = _ticket(1)
    repository.create(ticket, event)
    assert repository.get(ticket.id) == ticket
    assert repository.events(ticket.id) == [event]


def test_unknown_ticket_is_none(repository: TicketRepository):
    assert repository.get("T-00000000000000000000000404") is None
    assert repository.events("T-00000000000000000000000404") == []


def test_a_reference_is_never_shared_and_nothing_is_half_written(repository: TicketRepository):
    first, first_event = _ticket(1, "SD-SAME0000")
    second, second_event = _ticket(2, "SD-SAME0000")
    repository.create(first, first_event)
    with pytest.raises(ReferenceTakenError):
        repository.create(second, second_event)
    assert repository.get(second.id) is None
    assert repository.events(second.id) == []


def test_tickets_do_not_see_each_others_events(repository: TicketRepository):
    for number in (1, 2):
        repository.create(*_ticket(number))
    assert [e.ticket_id for e in repository.events("T-00000000000000000000000002")] == [
        "T-00000000000000000000000002"
    ]


Factory = Callable[[], TicketRepository]
