"""Fault injection: a write succeeds but its response is lost; the SDK retries it.

A botocore `before-send` handler on the adapters' own client hands the first
TransactWriteItems to moto (so it is written), then raises ReadTimeoutError as if the
response never came; the SDK sends the same request again. The retry reaches moto
without its ClientRequestToken, as a store that does not honour the token would see
it (or DynamoDB after the token's 10 minutes): its conditions fail on the items the
first attempt wrote, and the write must still answer with its own success: the same
201/200 and body, one ticket, one event. Real adapters and use cases on moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ReadTimeoutError
from moto.core.models import botocore_stubber
from pynamodb.connection import Connection

from chalicelib import bootstrap
from chalicelib.adapters.appointments import DynamoAppointmentStore
from chalicelib.adapters.dynamo import DynamoTicketRepository
from chalicelib.adapters.ids import RandomIdSource
from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.privacy import DEFAULT_RETENTION
from chalicelib.domain.ticket import Ticket, ticket_view
from chalicelib.service import appointments, tickets
from chalicelib.service.appointments import AppointmentPorts, AppointmentRequest
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse
from chalicelib.service.ports import VersionConflictError
from chalicelib.service.tickets import Answer, TicketPorts
from local.seed import seed_branches
from tests.fakes import FixedClock, card_request

REGION = "ap-east-1"
NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)  # Friday 10:30 in Shanghai
MONDAY_TEN = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
CUSTOMER = Caller(Role.CUSTOMER, "cust-lost")
AGENT = Caller(Role.AGENT, "agent-1")
REQUEST = card_request({"email": "j@example.com"}, channel="web")


@dataclass
class LostResponses:
    """Drops the response of the next `armed` TransactWriteItems after moto wrote it."""

    armed: int = 0
    dropped: int = 0
    tokens: list[str | None] = field(default_factory=list)

    def __call__(self, request: AWSPreparedRequest, **kwargs: Any) -> Any:
        body = json.loads(request.body or b"{}")
        self.tokens.append(body.get("ClientRequestToken"))
        if self.armed:
            self.armed -= 1
            self.dropped += 1
            botocore_stubber(event_name=kwargs.get("event_name", ""), request=request)
            raise ReadTimeoutError(endpoint_url=request.url)
        if self.dropped and body.pop("ClientRequestToken", None) is not None:
            request.body = json.dumps(body).encode()  # a retry the token does not cover
        return None


@dataclass
class Desk:
    tickets: TicketPorts
    appointments: AppointmentPorts
    lost: LostResponses
    table: str


@pytest.fixture
def desk(aws: dict[str, str]) -> Iterator[Desk]:
    bootstrap.container()  # built on moto's table: the table models are bound to it
    connection = Connection(region=REGION)
    lost = LostResponses()
    connection.client.meta.events.register_first("before-send.dynamodb.TransactWriteItems", lost)
    clock = FixedClock(NOW)
    repository = DynamoTicketRepository(connection, DEFAULT_RETENTION)
    ticket_ports = TicketPorts(repository=repository, ids=RandomIdSource(), clock=clock)
    seed_branches(boto3.client("dynamodb", region_name=REGION), aws["table_name"])
    appointment_ports = AppointmentPorts(
        store=DynamoAppointmentStore(connection, DEFAULT_RETENTION),
        tickets=repository,
        ids=RandomIdSource(),
        clock=clock,
        calendar=BusinessCalendar,
    )
    yield Desk(ticket_ports, appointment_ports, lost, aws["table_name"])


def _render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, json.dumps(ticket_view(ticket), ensure_ascii=False))


def _render_comment(event: Event) -> StoredResponse:
    return StoredResponse(201, json.dumps({"id": event.id, "type": event.type}))


def _key(route: str, key: str = "k-1") -> IdempotencyKey:
    return IdempotencyKey(f"customer:{CUSTOMER.id}:{route}", key, "fingerprint")


def _items(desk: Desk) -> list[dict[str, Any]]:
    pages = boto3.client("dynamodb", region_name=REGION).get_paginator("scan")
    return [item for page in pages.paginate(TableName=desk.table) for item in page["Items"]]


def _tickets(desk: Desk) -> list[str]:
    return [i["ticket_id"]["S"] for i in _items(desk) if i["sk"]["S"] == "#TICKET"]


def _events(desk: Desk, event_type: str) -> list[str]:
    events = [i for i in _items(desk) if i.get("item_type", {}).get("S") == "event"]
    return [i["event_id"]["S"] for i in events if i["event_type"]["S"] == event_type]


def _assert_one_token_resent(lost: LostResponses) -> None:
    first, retry = lost.tokens[-2:]
    assert first is not None and 0 < len(first) <= 36
    assert retry == first  # the SDK resent the very request, token included


def test_a_create_whose_response_was_lost_answers_201_once(desk):
    desk.lost.armed = 1
    key = _key("POST /v1/tickets")
    response = tickets.create_ticket(desk.tickets, CUSTOMER, REQUEST, _render, key)
    assert desk.lost.dropped == 1
    _assert_one_token_resent(desk.lost)
    assert response.status == 201
    ticket_id = json.loads(response.body)["id"]
    assert _tickets(desk) == [ticket_id]
    assert len(_events(desk, "ticket.created")) == 1
    # The client, which never saw the 201 either, retries with its key: the same body.
    assert tickets.create_ticket(desk.tickets, CUSTOMER, REQUEST, _render, key) == response
    assert _tickets(desk) == [ticket_id]


def test_an_action_whose_response_was_lost_answers_200_once(desk):
    opened = tickets.create_ticket(desk.tickets, CUSTOMER, REQUEST, _render)
    ticket_id = json.loads(opened.body)["id"]
    desk.lost.armed = 1
    assigned = tickets.act(desk.tickets, AGENT, ticket_id, "assign", {})
    assert desk.lost.dropped == 1
    _assert_one_token_resent(desk.lost)
    stored = desk.tickets.repository.get(ticket_id)
    assert stored is not None
    assert (assigned.status, assigned.assignee) == ("assigned", AGENT.id)
    assert (stored.status, stored.assignee, stored.version) == ("assigned", AGENT.id, 2)
    assert len(_events(desk, "ticket.assigned")) == 1
    assert len(_events(desk, "ticket.status_changed")) == 1


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "Idempotency-Key"])
def test_a_comment_whose_response_was_lost_answers_201_once(desk, keyed):
    opened = tickets.create_ticket(desk.tickets, CUSTOMER, REQUEST, _render)
    ticket_id = json.loads(opened.body)["id"]
    desk.lost.armed = 1
    key = _key(f"POST /v1/tickets/{ticket_id}/comments") if keyed else None

    def comment() -> StoredResponse:
        return tickets.comment(
            desk.tickets,
            CUSTOMER,
            ticket_id,
            "Any news?",
            False,
            answer=Answer(_render_comment, key),
        )

    response = comment()
    assert desk.lost.dropped == 1
    _assert_one_token_resent(desk.lost)
    assert response.status == 201
    assert _events(desk, "comment.added") == [json.loads(response.body)["id"]]
    if keyed:
        assert comment() == response
        assert len(_events(desk, "comment.added")) == 1


def test_a_booking_whose_response_was_lost_answers_201_once(desk):
    desk.lost.armed = 1
    key = _key("POST /v1/appointments")
    request = AppointmentRequest("BR-BJ-GMW", MONDAY_TEN, "account", "Open an account")
    response = appointments.book(desk.appointments, CUSTOMER, request, _render, key)
    assert desk.lost.dropped == 1
    _assert_one_token_resent(desk.lost)
    assert response.status == 201
    ticket_id = json.loads(response.body)["id"]
    assert _tickets(desk) == [ticket_id]
    assert len(_events(desk, "ticket.created")) == 1
    assert len(_events(desk, "appointment.booked")) == 1
    seats = [i for i in _items(desk) if i["pk"]["S"].startswith("SLOT#")]
    assert [int(i["taken"]["N"]) for i in seats] == [1]
    assert appointments.book(desk.appointments, CUSTOMER, request, _render, key) == response
    assert _tickets(desk) == [ticket_id]


def test_a_refused_write_is_still_refused_after_a_lost_response(desk):
    # The own-success check looks for this write's own first event: another writer's
    # success is not ours. Two agents act on the same version; the second loses.
    opened = tickets.create_ticket(desk.tickets, CUSTOMER, REQUEST, _render)
    ticket_id = json.loads(opened.body)["id"]
    stale = desk.tickets.repository.get(ticket_id)
    assert stale is not None
    tickets.act(desk.tickets, AGENT, ticket_id, "assign", {})
    late = Event("E-01LATEWRITER0000000000000", ticket_id, EventType.COMMENT_ADDED, NOW, AGENT, {})
    desk.lost.armed = 1
    with pytest.raises(VersionConflictError):
        desk.tickets.repository.commit(ticket_id, stale.version, None, [late])
    assert desk.lost.dropped == 1
    assert desk.tickets.repository.event(ticket_id, late.id) is None
