"""Opening a ticket in the domain: who may set what, routing, back-dating, the masked view."""

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.domain.errors import ValidationError
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import TicketRequest, open_ticket, ticket_view
from tests.fakes import FixedClock, card_request

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
AGENT = Caller(Role.AGENT, "agent-1")
NOW = FixedClock().now


def _request(**overrides: Any) -> TicketRequest:
    return card_request(**({"contact": {"phone": "+8613812348000"}} | overrides))


def _open(request, caller):
    return open_ticket(
        request, caller, ticket_id="T-1", reference="SD-00000001", event_id="E-1", now=NOW
    )


def test_customer_opens_for_themselves_and_routing_decides_queue_tier_priority():
    ticket, event = _open(_request(), CUSTOMER)
    assert (ticket.customer_id, ticket.status, ticket.queue, ticket.tier) == (
        "cust-1",
        "new",
        "cards",
        1,
    )
    assert ticket.priority == "normal"
    assert event.type == "ticket.created"
    assert event.ticket_id == ticket.id
    assert event.actor == CUSTOMER


def test_complaint_about_payments_starts_urgent():
    ticket, _ = _open(_request(kind="complaint", category="payment"), CUSTOMER)
    assert (ticket.queue, ticket.priority) == ("complaints", "urgent")


@pytest.mark.parametrize("field", ["customer_id", "priority", "received_at"])
def test_customer_may_not_send_staff_fields(field):
    value = {"customer_id": "cust-2", "priority": "urgent", "received_at": NOW}[field]
    with pytest.raises(ValidationError) as raised:
        _open(_request(**{field: value}), CUSTOMER)
    assert [error.path for error in raised.value.errors] == [field]


def test_staff_must_name_the_customer():
    with pytest.raises(ValidationError) as raised:
        _open(_request(), AGENT)
    assert raised.value.errors[0].path == "customer_id"


def test_staff_back_dated_ticket_starts_its_clock_at_received_at():
    received = NOW - timedelta(days=3)
    ticket, _ = _open(_request(customer_id="cust-9", received_at=received, priority="high"), AGENT)
    assert ticket.received_at == received
    assert ticket.created_at == NOW
    assert ticket.priority == "high"


@pytest.mark.parametrize("delta", [timedelta(minutes=1), -timedelta(days=30, seconds=1)])
def test_received_at_in_future_or_older_than_30_days_is_refused(delta):
    with pytest.raises(ValidationError) as raised:
        _open(_request(customer_id="cust-9", received_at=NOW + delta), AGENT)
    assert raised.value.errors[0].path == "received_at"


def test_every_offending_field_is_named_at_once():
    """SPEC 4: errors name every offending field, not one per round trip."""
    with pytest.raises(ValidationError) as raised:
        _open(_request(received_at=NOW + timedelta(hours=1)), AGENT)  # and no customer_id
    assert sorted(error.path for error in raised.value.errors) == ["customer_id", "received_at"]
    with pytest.raises(ValidationError) as raised:
        _open(_request(priority="urgent", received_at=NOW + timedelta(hours=1)), CUSTOMER)
    assert sorted(error.path for error in raised.value.errors) == ["priority", "received_at"]


def test_view_masks_contact_and_formats_times_with_offset():
    ticket, _ = _open(_request(contact={"phone": "+8613812348000", "email": "jo@x.cn"}), CUSTOMER)
    view = ticket_view(ticket)
    assert view["contact"] == {
        "phone": "+86 138****8000",
        "email": "j***@x.cn",
        "preferred": "sms",
        "locale": "zh-CN",
    }
    assert view["created_at"].endswith("+00:00")
    assert view["version"] == 1
    assert "appointment" not in view
