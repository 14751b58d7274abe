"""Reports, audit log, erasure and retention: real adapters on moto, fed by the stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import msgspec
import pytest
from botocore.awsrequest import AWSResponse

from chalicelib import bootstrap
from chalicelib.adapters.models import AuditItem
from chalicelib.adapters.records import DynamoAuditLog, DynamoCounterReader
from chalicelib.domain.audit import AuditEntry, entry_view
from chalicelib.domain.events import Event, NotificationSent
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.privacy import ERASED
from chalicelib.domain.surveys import Answer as SurveyAnswer
from chalicelib.domain.surveys import Survey, SurveyState, survey_id
from chalicelib.domain.ticket import Ticket, TicketRequest, ticket_view
from chalicelib.service.appointments import AppointmentRequest, book
from chalicelib.service.audit import record_read
from chalicelib.service.ports import StoreThrottledError
from chalicelib.service.privacy import erase_customer
from chalicelib.service.reports import ReportPorts, report_agents, report_summary
from chalicelib.service.surveys import SurveyView, answer_survey
from chalicelib.service.tickets import (
    Answer,
    IdempotencyKey,
    StoredResponse,
    act,
    comment,
    create_ticket,
)
from local.seed import seed_branches
from tests.fakes import FixedClock
from tests.integration.repository_support import table_items
from tests.integration.streams import deliver, stream_records

CUSTOMER = Caller(Role.CUSTOMER, "cust-erase")
AGENT = Caller(Role.AGENT, "agent-7")
AUDITOR = Caller(Role.AUDITOR, "aud-1")
PHONE, EMAIL = "+8613812348000", "jane.doe@example.com"
REQUEST = TicketRequest(
    channel="web",
    kind="consultation",
    category="card",
    subject="Card 6222 blocked",
    description="Jane Doe, Pudong",
    contact={"phone": PHONE, "email": EMAIL},
)


def _open(key: str = "k-1") -> Ticket:
    def render(ticket: Ticket) -> StoredResponse:
        return StoredResponse(201, ticket.id)

    scope = IdempotencyKey(f"customer:{CUSTOMER.id}:POST /v1/tickets", key, "fp")
    ticket_id = create_ticket(
        bootstrap.container().ticket_ports(), CUSTOMER, REQUEST, render, scope
    ).body
    ticket = bootstrap.container().ticket_ports().repository.get(ticket_id)
    assert ticket is not None
    return ticket


def _worked_and_resolved(ticket: Ticket) -> None:
    ports = bootstrap.container().ticket_ports()
    act(ports, AGENT, ticket.id, "assign", {})
    act(ports, AGENT, ticket.id, "start", {})
    render = lambda event: StoredResponse(201, event.id)  # noqa: E731
    comment(ports, AGENT, ticket.id, "Dear Jane Doe, done", False, answer=Answer(render))
    act(ports, AGENT, ticket.id, "resolve", {"resolution": "Unblocked for Jane"})


def _days_around_today() -> dict[str, str]:
    """Yesterday to tomorrow on Shanghai days: what the test did counts in it even when
    the run crosses midnight there (16:00 UTC); each test has a table of its own."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}


def test_the_stream_counts_creation_first_response_and_resolution_once(aws):
    ticket = _open()
    _worked_and_resolved(ticket)
    records = stream_records(aws["stream_arn"])
    assert deliver(records) == {"batchItemFailures": []}
    assert deliver(records) == {"batchItemFailures": []}  # redelivered: nothing counted twice
    reports = ReportPorts(DynamoCounterReader())
    summary = report_summary(reports, AUDITOR, _days_around_today())
    assert summary["tickets_created"]["by_channel"] == {"web": 1}
    assert summary["resolved"] == 1
    assert (
        summary["sla"]["first_response"]["met"] + summary["sla"]["first_response"]["breached"] == 1
    )
    assert summary["first_response_minutes"]["p50"] is not None
    [agent] = report_agents(reports, AUDITOR, _days_around_today())["items"]
    assert (agent["agent"], agent["resolved"]) == ("agent-7", 1)


def test_the_audit_log_pages_newest_first_by_ticket_and_by_actor(aws):
    log = DynamoAuditLog()
    start = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    for minute in range(3):
        entry = AuditEntry(
            f"A-{minute}", start + timedelta(minutes=minute), AGENT, "read_ticket", "T-1"
        )
        log.record(entry, 2_000_000_000)
    earlier = start - timedelta(minutes=1)
    log.record(AuditEntry("A-9", earlier, AGENT, "list_tickets", customer_id="c-1"), 2_000_000_000)
    first = log.page("ticket", "T-1", 2, None)
    assert [e.id for e in first.items] == ["A-2", "A-1"]
    assert first.next_key is not None
    assert [e.id for e in log.page("ticket", "T-1", 2, first.next_key).items] == ["A-0"]
    by_actor = log.page("actor", "agent-7", 10, None).items
    assert [e.id for e in by_actor] == ["A-2", "A-1", "A-0", "A-9"]
    assert {e.customer_id for e in by_actor} == {None, "c-1"}


class PartlyProcessedBatches:
    """Makes DynamoDB leave the items of the first `refusals` BatchWriteItem calls
    unprocessed, as it does under load (moto never does): the real request is skipped
    and its items come back as UnprocessedItems."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls: list[int] = []  # the aws fixture's container has bound the table
        AuditItem._get_connection().connection.client.meta.events.register(
            "before-call.dynamodb.BatchWriteItem", self
        )

    def __call__(self, params: dict[str, Any], **_: Any) -> Any:
        requested = json.loads(params["body"])["RequestItems"]
        self.calls.append(sum(len(items) for items in requested.values()))
        if len(self.calls) > self.refusals:
            return None  # let DynamoDB (moto) write them
        return AWSResponse("https://dynamodb", 200, {}, None), {"UnprocessedItems": requested}

    def remove(self) -> None:
        AuditItem._get_connection().connection.client.meta.events.unregister(
            "before-call.dynamodb.BatchWriteItem", self
        )


def _list_read(count: int) -> list[AuditEntry]:
    at = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    query = {"queue": "card", "status": "new"}
    return [
        AuditEntry(f"L-{n:03d}", at, AGENT, "list_tickets", f"T-{n}", None, query)
        for n in range(count)
    ]


def test_a_list_read_is_batch_written_one_entry_per_ticket(aws):
    unprocessed = PartlyProcessedBatches(refusals=1)
    try:
        DynamoAuditLog(sleep=lambda _: None).record_many(_list_read(60), 2_000_000_000)
    finally:
        unprocessed.remove()
    # 25 + 25 + 10 items, the first call's 25 resent after DynamoDB left them unprocessed
    assert unprocessed.calls == [25, 25, 25, 10]
    for n in (0, 24, 59):
        [entry] = DynamoAuditLog().page("ticket", f"T-{n}", 5, None).items
        assert (entry.actor, entry.action) == (AGENT, "list_tickets")
        assert entry.query == {"queue": "card", "status": "new"}
    assert len(DynamoAuditLog().page("actor", AGENT.id, 100, None).items) == 60


def test_audit_entries_dynamodb_keeps_refusing_are_a_throttle_not_a_silent_loss(aws):
    unprocessed = PartlyProcessedBatches(refusals=99)
    try:
        with pytest.raises(StoreThrottledError):
            DynamoAuditLog(sleep=lambda _: None).record_many(_list_read(3), 2_000_000_000)
    finally:
        unprocessed.remove()
    assert len(unprocessed.calls) == 5  # the first call and four resends, then it gives up


def test_staff_reads_and_writes_reach_the_audit_log(aws):
    ticket = _open()
    _worked_and_resolved(ticket)
    record_read(bootstrap.container().audit_ports(), AUDITOR, "read_ticket", ticket_id=ticket.id)
    deliver(stream_records(aws["stream_arn"]))
    entries = DynamoAuditLog().page("ticket", ticket.id, 20, None).items
    assert [(e.actor.id, e.action) for e in entries] == [
        ("aud-1", "read_ticket"),
        ("agent-7", "resolve"),
        ("agent-7", "comment"),
        ("agent-7", "start"),
        ("agent-7", "assign"),
    ]


def test_a_staff_read_of_an_inbox_message_names_it_in_the_audit_log(aws):
    # A triage item not linked to a ticket was read with an entry naming nothing: the
    # auditor saw that someone read a message, never which one (SPEC 10: who read what).
    audit = bootstrap.container().audit_ports()
    record_read(audit, AGENT, "read_inbox_item", ticket_id=None, inbox_id="M-01KX0000000")
    [entry] = DynamoAuditLog().page("actor", AGENT.id, 10, None).items
    assert entry_view(entry) == {
        "at": entry_view(entry)["at"],
        "actor": {"role": "agent", "id": AGENT.id},
        "action": "read_inbox_item",
        "ticket_id": None,
        "inbox_id": "M-01KX0000000",
    }


def test_erasure_leaves_no_contact_data_and_keeps_the_counts(aws):
    ticket = _open()
    _worked_and_resolved(ticket)
    act(
        bootstrap.container().ticket_ports(),
        Caller(Role.SUPERVISOR, "sup-1"),
        ticket.id,
        "close",
        {},
    )
    bootstrap.container().notification_store.save_preferences(
        CUSTOMER.id, {"sms": True, "email": True, "locale": "en-US", "quiet_hours": None}
    )
    deliver(stream_records(aws["stream_arn"]))
    reports = ReportPorts(DynamoCounterReader())
    before = report_summary(reports, AUDITOR, _days_around_today())

    erasure = erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)
    deliver(stream_records(aws["stream_arn"]))

    assert (erasure.tickets, erasure.anonymized_now, erasure.preferences_deleted) == (1, 1, True)
    everything = repr(table_items(aws["table_name"]))
    # The masked and partial forms as the desk writes them, not bare digit runs: "6222" or
    # "8000" alone also turn up inside a random id or a timestamp (a flake seen once).
    for personal in (PHONE, EMAIL, "*8000", "Jane", "Card 6222", "Pudong", "j***@"):
        assert personal not in everything, personal
    [kept] = [i for i in table_items(aws["table_name"]) if str(i["pk"]).startswith("IDEMPOTENCY#")]
    assert kept["fingerprint"] == "fp"  # a retry still gets an answer, blanked
    assert report_summary(reports, AUDITOR, _days_around_today()) == before
    erased = bootstrap.container().ticket_ports().repository.get(ticket.id)
    assert erased is not None
    assert (erased.status, erased.contact.phone, erased.contact.email) == ("closed", None, None)
    audit = DynamoAuditLog().page("actor", AUDITOR.id, 10, None).items
    assert {e.action for e in audit} >= {"erase", "erase_customer"}


def test_closed_records_carry_the_retention_expiry_and_short_lived_ones_24_hours(aws):
    ticket = _open()
    act(
        bootstrap.container().ticket_ports(),
        CUSTOMER,
        ticket.id,
        "cancel",
        {"reason": "never mind"},
    )
    record_read(bootstrap.container().audit_ports(), AGENT, "read_ticket", ticket_id=ticket.id)
    deliver(stream_records(aws["stream_arn"]))
    items = table_items(aws["table_name"])
    cancelled = bootstrap.container().ticket_ports().repository.get(ticket.id)
    assert cancelled is not None
    five_years = int((cancelled.updated_at + timedelta(days=1826)).timestamp())
    mine = [i for i in items if i["pk"] == f"TICKET#{ticket.id}"]
    assert {int(i["expires_at"]) for i in mine} == {five_years}  # the ticket and every event
    [reference] = [i for i in items if i["pk"] == f"REFERENCE#{ticket.reference}"]
    assert int(reference["expires_at"]) == five_years
    day = 24 * 3600
    [stored] = [i for i in items if str(i["pk"]).startswith("IDEMPOTENCY#")]
    assert int(stored["expires_at"]) - int(ticket.created_at.timestamp()) in range(day - 1, day + 2)
    deliveries = [i for i in items if str(i["pk"]).startswith("DELIVERY#")]
    assert deliveries
    for delivery in deliveries:
        # A settled claim is kept 24 h from its settling (a pending one from its taking).
        last = str(delivery.get("settled_at") or delivery["claimed_at"])
        moment = datetime.fromisoformat(last.replace("Z", "+00:00"))
        assert int(delivery["expires_at"]) - int(moment.timestamp()) in range(day - 1, day + 2)
    audit_ttls = [i["expires_at"] for i in items if str(i["pk"]).startswith("AUDIT#")]
    assert audit_ttls and all(int(t) > five_years - 86400 for t in audit_ttls)


def test_a_notice_recorded_after_the_closing_expires_with_the_ticket(aws):
    """A message that waited for quiet hours is recorded after the closing stamped the
    ticket's events: its outcome gets the same expiry from its own stream record."""
    ticket = _open()
    act(bootstrap.container().ticket_ports(), CUSTOMER, ticket.id, "cancel", {"reason": "x"})
    delivered = stream_records(aws["stream_arn"])
    deliver(delivered)
    cancelled = bootstrap.container().ticket_ports().repository.get(ticket.id)
    assert cancelled is not None
    now = datetime.now(UTC)
    late = Event.of(
        "E-LATE-OUTCOME",
        ticket.id,
        now,
        SYSTEM,
        NotificationSent(source_event="E-DEFERRED", channel="sms", template="cancelled"),
    )
    assert bootstrap.container().notification_store.record_outcome(late, "sent", now)
    deliver(stream_records(aws["stream_arn"])[len(delivered) :])  # the late records only
    [item] = [i for i in table_items(aws["table_name"]) if str(i["sk"]).endswith("E-LATE-OUTCOME")]
    assert int(item["expires_at"]) == int((cancelled.updated_at + timedelta(days=1826)).timestamp())


def test_an_open_ticket_holds_no_expiry(aws):
    ticket = _open()
    deliver(stream_records(aws["stream_arn"]))
    [item] = [
        i
        for i in table_items(aws["table_name"])
        if i["pk"] == f"TICKET#{ticket.id}" and i["sk"] == "#TICKET"
    ]
    assert "expires_at" not in item


def test_renamed_settings_knob_moves_the_expiry(aws):
    settings = msgspec.structs.replace(bootstrap.container().settings, retention_days=30)
    bootstrap.use(bootstrap.bootstrap(settings))
    ticket = _open()
    act(bootstrap.container().ticket_ports(), CUSTOMER, ticket.id, "cancel", {})
    cancelled = bootstrap.container().ticket_ports().repository.get(ticket.id)
    assert cancelled is not None
    [item] = [
        i
        for i in table_items(aws["table_name"])
        if i["pk"] == f"TICKET#{ticket.id}" and i["sk"] == "#TICKET"
    ]
    assert int(item["expires_at"]) == int((cancelled.updated_at + timedelta(days=30)).timestamp())


def _ticket_expiry(table: str, ticket_id: str) -> int:
    [item] = [
        i for i in table_items(table) if i["pk"] == f"TICKET#{ticket_id}" and i["sk"] == "#TICKET"
    ]
    return int(item["expires_at"])


def test_survey_and_appointment_closings_keep_the_configured_retention(aws):
    # Spec review 2, Medium 1: a ticket closed by its survey's answer, or an appointment
    # cancelled, expired after the 5-year default whatever the bank configured.
    settings = msgspec.structs.replace(bootstrap.container().settings, retention_days=30)
    bootstrap.use(bootstrap.bootstrap(settings))
    ticket = _open()
    _worked_and_resolved(ticket)
    survey = Survey(
        id=survey_id(ticket.id, 1),
        ticket_id=ticket.id,
        customer_id=CUSTOMER.id,
        resolution=1,
        state=SurveyState.INVITED,
        locale="en-US",
        created_at=datetime.now(UTC),
    )
    ports = bootstrap.container().survey_ports(workflow=False)
    ports.surveys.create(survey)
    answer_survey(ports, SurveyView(survey, ticket.subject), SurveyAnswer(score=5, comment=None))
    closed = bootstrap.container().ticket_ports().repository.get(ticket.id)
    assert closed is not None and closed.status == "closed"
    thirty_days = int((closed.updated_at + timedelta(days=30)).timestamp())
    assert _ticket_expiry(aws["table_name"], ticket.id) == thirty_days

    seed_branches(boto3.client("dynamodb"), aws["table_name"])
    friday = FixedClock(datetime(2026, 11, 27, 2, 30, tzinfo=UTC))
    desk = msgspec.structs.replace(bootstrap.container(), clock=friday)
    request = AppointmentRequest(
        "BR-BJ-GMW", datetime(2026, 11, 30, 2, 0, tzinfo=UTC), "account", "Open an account"
    )
    booked = book(desk.appointment_ports(), CUSTOMER, request, lambda t: StoredResponse(201, t.id))
    cancelled = act(desk.ticket_ports(), CUSTOMER, booked.body, "cancel", {})
    thirty_days = int((cancelled.updated_at + timedelta(days=30)).timestamp())
    assert _ticket_expiry(aws["table_name"], cancelled.id) == thirty_days


def test_erasure_blanks_a_bookings_stored_response_too(aws):
    # Issue 14 item 1: a booking's stored response (subject, description) was not linked
    # for erasure; replaying its key returned the pre-erasure body.
    seed_branches(boto3.client("dynamodb"), aws["table_name"])
    friday = FixedClock(datetime(2026, 11, 27, 2, 30, tzinfo=UTC))
    desk = msgspec.structs.replace(bootstrap.container(), clock=friday)
    ports = desk.appointment_ports()
    key = IdempotencyKey(f"customer:{CUSTOMER.id}:POST /v1/appointments", "k-book", "fp")
    monday_ten = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    request = AppointmentRequest(
        "BR-BJ-GMW", monday_ten, "account", "Jane Doe, card 6222", description="Flat 12B"
    )

    def render(ticket: Ticket) -> StoredResponse:
        return StoredResponse(201, json.dumps(ticket_view(ticket), ensure_ascii=False))

    booked = book(ports, CUSTOMER, request, render, key)
    ticket_id = json.loads(booked.body)["id"]
    act(desk.ticket_ports(), CUSTOMER, ticket_id, "cancel", {})
    assert book(ports, CUSTOMER, request, render, key) == booked  # replayed before erasure

    erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)

    everything = repr(table_items(aws["table_name"]))
    for personal in ("Jane", "card 6222", "Flat 12B"):
        assert personal not in everything, personal
    replayed = json.loads(book(ports, CUSTOMER, request, render, key).body)
    assert replayed["id"] == ticket_id  # the same booking, never a second one
    assert replayed["subject"] == ERASED
    assert replayed["contact"]["phone"] is None
