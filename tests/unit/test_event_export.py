"""The EventBridge export (SPEC 12): SPEC's detail, no personal data, once per event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import msgspec
import pytest
from botocore.stub import Stubber

from chalicelib.adapters.event_bus import EventBridgeBus
from chalicelib.domain.events import PAYLOADS, Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import TicketRequest, open_ticket
from chalicelib.service.export import EXPORTED_KEYS, bus_entry, export_detail, exported_data
from chalicelib.service.ports import BusEntry, EventBusError
from chalicelib.service.reactions import ReactionPorts, react
from tests.fakes import InMemoryReactionLedger, InMemoryTicketRepository
from tests.fakes_sms import RecordingBus

NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
CUSTOMER = Caller(Role.CUSTOMER, "c-1")
SECRET = "Jane Doe +8613812348000 jane@example.com"
# Keys that hold personal data or free text on some event type: never exported.
FREE_TEXT = {"body", "comment", "message", "reason", "resolution", "subject", "description"}


def _ticket_and_created() -> tuple[Any, Event]:
    request = TicketRequest(
        channel="mobile",
        kind="complaint",
        category="card",
        subject=SECRET,
        description=SECRET,
        contact={"phone": "+8613812348000", "email": "jane@example.com"},
    )
    return open_ticket(
        request, CUSTOMER, ticket_id="T-1", reference="SD-7K4Q9M2P", event_id="E-1", now=NOW
    )


def test_the_detail_is_the_specs_shape() -> None:
    ticket, created = _ticket_and_created()
    entry = bus_entry(created, ticket)
    assert (entry.source, entry.detail_type, entry.at) == ("servicedesk", "ticket.created", NOW)
    assert entry.detail == {
        "event_id": "E-1",
        "ticket_id": "T-1",
        "reference": "SD-7K4Q9M2P",
        "customer_id": "c-1",
        "kind": "complaint",
        "status": "new",
        "at": "2026-11-27T02:30:00+00:00",
        "actor": {"role": "customer"},
        "data": {"channel": "mobile", "kind": "complaint", "queue": created.data["queue"]},
    }
    assert SECRET not in json.dumps(entry.detail)


def _filled(event_type: EventType) -> dict[str, Any]:
    """Every key the type writes, each holding personal data, plus one unknown key; but
    `from` and `to`, which the event is read by (as statuses), hold a status."""
    payload_class = PAYLOADS[event_type]
    keys = [f.encode_name for f in msgspec.structs.fields(payload_class)]
    wire = payload_class().to_data()
    filled = {**dict.fromkeys([*keys, *wire], SECRET), "phone": SECRET, "extra": SECRET}
    return {key: "resolved" if key in {"from", "to"} else value for key, value in filled.items()}


@pytest.mark.parametrize("event_type", list(EventType))
def test_only_whitelisted_keys_leave_and_never_free_text(event_type: EventType) -> None:
    event = Event("E-9", "T-1", event_type, NOW, Caller(Role.AGENT, "a-1"), _filled(event_type))
    data = exported_data(event)
    assert set(data) <= EXPORTED_KEYS.get(event_type, frozenset())
    assert not set(data) & (FREE_TEXT | {"phone", "email", "contact", "extra"})
    detail = export_detail(event, None)
    assert set(detail) == {
        "event_id",
        "ticket_id",
        "reference",
        "customer_id",
        "kind",
        "status",
        "at",
        "actor",
        "data",
    }
    assert detail["actor"] == {"role": "agent"}  # never the staff id
    assert detail["status"] in {None, "resolved"}  # where the event left it, or unknown


def test_the_masked_address_of_a_notification_is_not_exported() -> None:
    event = Event(
        "E-9",
        "T-1",
        EventType.NOTIFICATION_SENT,
        NOW,
        Caller(Role.SYSTEM, "system"),
        {"source_event": "E-1", "channel": "sms", "template": "t", "to": "+86 138****8000"},
    )
    assert exported_data(event) == {"source_event": "E-1", "channel": "sms", "template": "t"}
    assert export_detail(event, None)["status"] is None


def test_a_type_nobody_reviewed_exports_no_data() -> None:
    event = Event("E-9", "T-1", EventType.SURVEY_SKIPPED, NOW, CUSTOMER, {"reason": "cooldown"})
    assert exported_data(event) == {}


def test_a_status_change_exports_the_status_it_made() -> None:
    ticket, _ = _ticket_and_created()
    moved = Event(
        "E-2",
        "T-1",
        EventType.STATUS_CHANGED,
        NOW,
        Caller(Role.AGENT, "a-1"),
        {"action": "cancel", "reason": SECRET, "from": "new", "to": "cancelled"},
    )
    detail = export_detail(moved, ticket)
    assert detail["status"] == "cancelled"
    assert detail["data"] == {"action": "cancel", "from": "new", "to": "cancelled"}


def _ports(bus: RecordingBus) -> ReactionPorts:
    repository = InMemoryTicketRepository()
    ticket, created = _ticket_and_created()
    repository.create(ticket, [created])
    return ReactionPorts(ledger=InMemoryReactionLedger(), tickets=repository, bus=bus)


def test_every_event_is_exported_once_per_event_id() -> None:
    bus = RecordingBus()
    ports = _ports(bus)
    [created] = ports.tickets.events("T-1") if ports.tickets else []
    react(created, ports)
    react(created, ports)  # redelivered by the stream
    assert [e.detail["event_id"] for e in bus.entries] == ["E-1"]


def test_a_refused_put_is_retried_by_the_stream() -> None:
    bus = RecordingBus(failures=1)
    ports = _ports(bus)
    [created] = ports.tickets.events("T-1") if ports.tickets else []
    with pytest.raises(EventBusError):
        react(created, ports)
    assert bus.entries == []
    react(created, ports)  # the retry
    assert [e.detail_type for e in bus.entries] == ["ticket.created"]


def _stubbed_bus(response: dict[str, Any]) -> tuple[EventBridgeBus, Stubber]:
    client = boto3.client(
        "events",
        region_name="ap-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - a stub, nothing is called
    )
    stubber = Stubber(client)
    stubber.add_response("put_events", response)
    stubber.activate()
    return EventBridgeBus(client, "servicedesk"), stubber


ENTRY = BusEntry("servicedesk", "ticket.created", {"event_id": "E-1"}, NOW)


def test_partial_failures_raise_for_a_retry() -> None:
    bus, stubber = _stubbed_bus(
        {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}],
        }
    )
    with pytest.raises(EventBusError, match="ThrottlingException"):
        bus.put([ENTRY])
    stubber.assert_no_pending_responses()


def test_an_accepted_entry_raises_nothing() -> None:
    bus, stubber = _stubbed_bus({"FailedEntryCount": 0, "Entries": [{"EventId": "x"}]})
    bus.put([ENTRY])
    stubber.assert_no_pending_responses()
