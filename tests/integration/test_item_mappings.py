"""Domain Structs <-> PynamoDB items: every field, set away from its default, survives
the stored form (the mappings copy most fields by name, derived from the Struct)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.adapters.documents import document_to_item, item_to_document
from chalicelib.adapters.dynamo import event_to_item, item_to_event, item_to_ticket, ticket_to_item
from chalicelib.adapters.inbox import inbox_item_to_record, record_to_inbox_item
from chalicelib.adapters.models import DocumentItem, EventItem, InboxRecord, SurveyItem, TicketItem
from chalicelib.adapters.sms_index import DynamoSmsIndex
from chalicelib.adapters.surveys import SURVEY_SK, item_to_survey, survey_pk
from chalicelib.domain.complaints import Complaint
from chalicelib.domain.documents import Document, DocumentStatus, FileProblem
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbox import (
    Channel,
    InboxAttachment,
    InboxItem,
    InboxStatus,
    TriageReason,
)
from chalicelib.domain.privacy import DEFAULT_RETENTION
from chalicelib.domain.statuses import Status
from chalicelib.domain.surveys import Survey, SurveyState
from chalicelib.domain.ticket import Sla, Ticket, open_ticket
from chalicelib.service.ports import SmsSent
from tests.integration.repository_support import COMPLAINT

NOW = datetime(2026, 11, 27, 2, 30, 15, 123000, tzinfo=UTC)


def _full_ticket() -> Ticket:
    ticket, _ = open_ticket(
        COMPLAINT,
        Caller(Role.CUSTOMER, "cust-1"),
        ticket_id="T-00000000000000000000000001",
        reference="SD-00000001",
        event_id="E-00000000000000000000000001",
        now=NOW,
    )
    later = NOW + timedelta(hours=1)
    return replace(
        ticket,
        status=Status.CLOSED,
        assignee="agent-1",
        parent_id="T-00000000000000000000000000",
        tier=2,
        queue="tier2",
        appointment={"branch": "b-1", "slot": "2026-11-28T09:00"},
        version=3,
        resolutions=2,
        resolved_at=later,
        updated_at=later,
        complaint=Complaint(business="cards", cause="fees", extensions=1),
        review_of="T-00000000000000000000000009",
        reviewed_by="sup-1",
        merged_into="T-00000000000000000000000008",
        recused=("agent-1", "agent-2"),
        sla=Sla(
            first_response_due=NOW,
            resolution_due=later,
            first_responded_at=NOW,
            breaches=("first_response",),
            paused=True,
            extended=True,
            paused_at=later,
            unpaused=("resolution",),
        ),
    )


def test_every_ticket_field_survives_the_stored_form():
    ticket = _full_ticket()
    item = ticket_to_item(ticket, on_disk=2, retention=timedelta(days=30))
    stored = TicketItem.from_raw_data(item.serialize())
    read = item_to_ticket(stored)
    assert read == replace(ticket, version=2)  # the write conditions on 2, stores 3
    # closed: it expires the given retention after it finished
    assert item.expires_at == int((ticket.updated_at + timedelta(days=30)).timestamp())


def test_defaults_survive_the_stored_form():
    ticket = replace(_full_ticket(), complaint=None, recused=(), sla=Sla(), appointment=None)
    item = ticket_to_item(ticket, on_disk=None, retention=DEFAULT_RETENTION)
    stored = TicketItem.from_raw_data(item.serialize())
    assert item_to_ticket(stored) == replace(ticket, version=1)


FULL_DOCUMENT = Document(
    id="D-00000000000000000000000001",
    ticket_id="T-00000000000000000000000001",
    customer_id="cust-1",
    type="payslip",
    filename="März.pdf",
    content_type="application/pdf",
    size=1234,
    sha256="ab" * 32,
    status=DocumentStatus.REJECTED_FILE,
    object_key="documents/T-00000000000000000000000001/token",
    created_at=NOW,
    updated_at=NOW + timedelta(minutes=5),
    added_by="agent-1",
    problem=FileProblem.CHECKSUM,
    review_reason="blurred",
    reviewed_by="agent-2",
    version=4,
    checked=True,
    scan_infected=False,
)


def test_every_document_field_survives_the_stored_form():
    defaults = replace(
        FULL_DOCUMENT,
        added_by="",
        problem=None,
        review_reason=None,
        reviewed_by=None,
        version=1,
        checked=False,
        scan_infected=None,
    )
    for document in (FULL_DOCUMENT, defaults):
        stored = DocumentItem.from_raw_data(document_to_item(document).serialize())
        assert item_to_document(stored) == document


def test_a_document_stored_with_the_old_scan_problem_reads_as_type():
    # Before SPEC 11's three problems were kept to, a file the scanner could not read
    # was stored with problem `scan`; the desk now records `type` for it.
    raw = document_to_item(FULL_DOCUMENT).serialize()
    raw["problem"] = {"S": "scan"}
    assert item_to_document(DocumentItem.from_raw_data(raw)).problem is FileProblem.TYPE


FULL_INBOX_ITEM = InboxItem(
    id="M-00000000000000000000000001",
    channel=Channel.SMS,
    sender="+85291234567",
    subject="Grüße",
    text="文本 text",
    received_at=NOW,
    status=InboxStatus.TICKETED,
    reason=TriageReason.SENDER_MISMATCH,
    attachments=(
        InboxAttachment("März.pdf", "application/pdf", 12, "inbound/raw-1"),
        InboxAttachment("b.txt", "text/plain", 0),
    ),
    notes=("html_converted", "oversize_attachments_dropped"),
    message_id="c1@example.com",
    source="inbound/raw-1",
    ticket_id="T-00000000000000000000000001",
    handled_by="agent-1",
    handled_at=NOW + timedelta(minutes=3),
    discard_reason="spam",
    version=4,
)


def test_every_inbox_field_survives_the_stored_form():
    defaults = InboxItem(
        id="M-00000000000000000000000002",
        channel=Channel.EMAIL,
        sender="",
        subject=None,
        text="",
        received_at=NOW,
        status=InboxStatus.OPEN,
        reason=TriageReason.UNKNOWN_SENDER,
    )
    for item in (FULL_INBOX_ITEM, defaults):
        stored = InboxRecord.from_raw_data(inbox_item_to_record(item).serialize())
        assert record_to_inbox_item(stored) == item


def test_the_inbox_record_keeps_its_stored_form():
    """The attribute names and encodings items already on the table were written with."""
    attachments = (
        '[{"filename": "März.pdf", "content_type": "application/pdf", "size": 12, '
        '"location": "inbound/raw-1"}, {"filename": "b.txt", "content_type": "text/plain", '
        '"size": 0}]'
    )
    assert inbox_item_to_record(FULL_INBOX_ITEM).serialize() == {
        "pk": {"S": "INBOX#M-00000000000000000000000001"},
        "sk": {"S": "INBOX"},
        "item_type": {"S": "inbox"},
        "item_id": {"S": "M-00000000000000000000000001"},
        "channel": {"S": "sms"},
        "sender": {"S": "+85291234567"},
        "subject": {"S": "Grüße"},
        "text": {"S": "文本 text"},
        "received_at": {"S": "2026-11-27T02:30:15.123000+0000"},
        "status": {"S": "ticketed"},
        "reason": {"S": "sender_mismatch"},
        "attachments": {"S": attachments},
        "notes": {"S": '["html_converted", "oversize_attachments_dropped"]'},
        "message_id": {"S": "c1@example.com"},
        "source": {"S": "inbound/raw-1"},
        "ticket_id": {"S": "T-00000000000000000000000001"},
        "handled_by": {"S": "agent-1"},
        "handled_at": {"S": "2026-11-27T02:33:15.123000+0000"},
        "discard_reason": {"S": "spam"},
        "item_version": {"N": "4"},
        "lookup_pk": {"S": "INBOX#ticketed"},
        "lookup_sk": {"S": "2026-11-27T02:30:15.123000Z#M-00000000000000000000000001"},
        "expires_at": {"N": str(int((NOW + timedelta(days=180)).timestamp()))},
    }


def test_every_event_field_survives_the_stored_form():
    actor = Caller(Role.AGENT, "agent-1")
    full = Event("E-1", "T-1", EventType.COMMENT_ADDED, NOW, actor, {"text": "文本", "n": 2})
    for event in (full, Event("E-2", "T-1", EventType.ASSIGNED, NOW, actor)):
        item = event_to_item(event)
        assert (item.pk, item.sk) == ("TICKET#T-1", f"EVENT#{event.id}")
        assert item_to_event(EventItem.from_raw_data(item.serialize())) == event


def test_a_created_survey_reads_back_and_every_field_survives_the_stored_form(aws):
    fresh = Survey(
        id="T-00000000000000000000000001-r1",
        ticket_id="T-00000000000000000000000001",
        customer_id="cust-1",
        resolution=1,
        state=SurveyState.PENDING,
        locale="zh-HK",
        created_at=NOW,
    )
    store = bootstrap.container().survey_store
    assert store.create(fresh)
    assert store.get(fresh.id) == fresh
    answered = SurveyItem.from_raw_data(
        {
            **SurveyItem.get(survey_pk(fresh.id), SURVEY_SK).serialize(),
            "survey_state": {"S": "answered"},
            "task_token": {"S": "token-1"},
            "score": {"N": "4"},
            "answered_at": {"S": "2026-11-27T03:30:15.123000+0000"},
            "settled_at": {"S": "2026-11-27T03:30:16.000000+0000"},
            "rounds": {"SS": ["1", "2"]},
        }
    )
    assert item_to_survey(answered) == replace(
        fresh,
        state=SurveyState.ANSWERED,
        task_token="token-1",
        score=4,
        answered_at=NOW + timedelta(hours=1),
        settled=True,
        rounds=frozenset({1, 2}),
    )


def test_a_remembered_sms_reads_back_whole(aws):
    sent = SmsSent("ab" * 32, "T-1", "cust-1", NOW, "E-1", "T-1-r1")
    index = DynamoSmsIndex()
    index.remember(sent)
    index.remember(replace(sent, at=NOW + timedelta(minutes=1), event_id="E-2", survey_id=None))
    assert index.recent(sent.phone_key, NOW, 10) == [
        replace(sent, at=NOW + timedelta(minutes=1), event_id="E-2", survey_id=None),
        sent,
    ]
