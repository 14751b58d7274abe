"""Tickets and events for the repository tests: ticket N with its opening event, at a fixed NOW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from msgspec.structs import replace

from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import Ticket, TicketRequest, open_ticket

NOW = datetime(2026, 11, 27, 2, 30, 15, 123000, tzinfo=UTC)
AGENT = Caller(Role.AGENT, "agent-1")


# A complaint with every contact field and a non-ASCII description: what most stored
# tickets in these tests start from.
COMPLAINT = TicketRequest(
    channel="web",
    kind="complaint",
    category="payment",
    subject="Transfer missing",
    description="描述 with unicode",
    contact={"phone": "+8613812348000", "email": "a@b.cn"},
)


def new_ticket(number: int, reference: str | None = None, customer: str = "cust-1", **changes):
    """Ticket `number` (ids and reference from it, opened `number` seconds after NOW) and its
    opening event, with `changes` applied to the ticket."""
    ticket, event = open_ticket(
        COMPLAINT,
        Caller(Role.CUSTOMER, customer),
        ticket_id=f"T-{number:026d}",
        reference=reference or f"SD-{number:08d}",
        event_id=f"E-{number:026d}",
        now=NOW + timedelta(seconds=number),
    )
    return replace(ticket, **changes), event


def event_on(ticket: Ticket, number: int, kind: str = "comment.added") -> Event:
    """Event `number` on the ticket at NOW by AGENT: a public comment unless `kind` is given."""
    data = {"body": "hi", "internal": False}
    return Event(f"E-{number:026d}", ticket.id, EventType(kind), NOW, AGENT, data)


def table_items(table_name: str) -> list[dict[str, Any]]:
    """Every item of the table, page by page. A Scan is fine in a test: it proves what no
    request path could show (what an erasure left, what a write added)."""
    table = boto3.resource("dynamodb").Table(table_name)
    items: list[dict[str, Any]] = []
    scan: dict[str, Any] = {}
    while True:
        page = table.scan(**scan)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        scan = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
