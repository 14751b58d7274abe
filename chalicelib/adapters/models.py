"""PynamoDB models of the single table (several item types, one discriminator).

The table's name and endpoint are bound at start-up by ``bind_table`` (called
only from bootstrap), so nothing here reads the environment.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pynamodb.attributes import (
    DiscriminatorAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

UNBOUND_TABLE = "servicedesk-unbound"
ItemT = TypeVar("ItemT", bound=Model)


class TableItem(Model):
    class Meta:
        table_name = UNBOUND_TABLE
        region: str | None = None
        host: str | None = None
        max_retry_attempts = 3

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    item_type = DiscriminatorAttribute()
    expires_at = NumberAttribute(null=True)


def get_item(
    model: type[ItemT], hash_key: str, range_key: str, *, consistent: bool = False
) -> ItemT | None:
    """The item with this key (a GetItem), or None when there is none."""
    try:
        return model.get(hash_key, range_key, consistent_read=consistent)
    except model.DoesNotExist:
        return None


def _index(name: str, hash_attribute: str, range_attribute: str) -> GlobalSecondaryIndex[Any]:
    """A global secondary index projecting whole items, keyed by two string attributes
    (it is sparse when an item may leave its key attributes unset)."""

    class _Meta:
        index_name = name
        projection = AllProjection()

    attrs: dict[str, Any] = {
        "Meta": _Meta,
        hash_attribute: UnicodeAttribute(hash_key=True),
        range_attribute: UnicodeAttribute(range_key=True),
    }
    index: GlobalSecondaryIndex[Any] = type(f"{name}_index", (GlobalSecondaryIndex,), attrs)()
    return index


def _list_index(name: str, hash_attribute: str) -> GlobalSecondaryIndex[Any]:
    """The ticket lists share one sort key: newest first is a descending query on it."""
    return _index(name, hash_attribute, "list_sk")


def _lookup_index() -> GlobalSecondaryIndex[Any]:
    """The overloaded sparse index `lookup` (lookup_pk, lookup_sk): triage items by status
    (`INBOX#<status>`) and tickets by contact email (`EMAIL#<sha256>`), newest first.
    One index for both: CloudFormation adds one GSI per table update."""
    return _index("lookup", "lookup_pk", "lookup_sk")


class ContactAttribute(MapAttribute[str, Any]):
    phone = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    preferred = UnicodeAttribute()
    locale = UnicodeAttribute()


class SlaAttribute(MapAttribute[str, Any]):
    first_response_due = UTCDateTimeAttribute(null=True)
    resolution_due = UTCDateTimeAttribute(null=True)
    first_responded_at = UTCDateTimeAttribute(null=True)
    breaches = UnicodeSetAttribute(null=True)
    paused = NumberAttribute(default=0)
    extended = NumberAttribute(default=0)
    paused_at = UTCDateTimeAttribute(null=True)
    unpaused = UnicodeSetAttribute(null=True)


class TicketItem(TableItem, discriminator="ticket"):
    ticket_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    kind = UnicodeAttribute()
    category = UnicodeAttribute()
    subject = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    priority = UnicodeAttribute()
    status = UnicodeAttribute()
    tier = NumberAttribute()
    queue = UnicodeAttribute()
    assignee = UnicodeAttribute(null=True)
    parent_id = UnicodeAttribute(null=True)
    contact = ContactAttribute()
    sla = SlaAttribute(default=SlaAttribute)
    appointment = MapAttribute[str, Any](null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    received_at = UTCDateTimeAttribute()
    version = VersionAttribute()
    resolutions = NumberAttribute(default=0)
    resolved_at = UTCDateTimeAttribute(null=True)
    application = MapAttribute[str, Any](null=True)  # kind application (SPEC 11)
    complaint = UnicodeAttribute(null=True)  # JSON of domain/complaints.Complaint
    review_of = UnicodeAttribute(null=True)
    reviewed_by = UnicodeAttribute(null=True)
    merged_into = UnicodeAttribute(null=True)
    recused = UnicodeSetAttribute(null=True)

    # List indexes share one sort key: newest first is a descending query on it.
    list_sk = UnicodeAttribute()
    # Each list index has its own key attribute, so plain values need no prefix;
    # the status variants join the value and the status.
    customer_status = UnicodeAttribute()
    queue_status = UnicodeAttribute()
    assignee_status = UnicodeAttribute(null=True)
    claim_queue = UnicodeAttribute(null=True)
    claim_sk = UnicodeAttribute(null=True)
    due_pk = UnicodeAttribute(null=True)
    due_sk = UnicodeAttribute(null=True)

    by_customer = _list_index("by_customer", "customer_id")
    by_customer_status = _list_index("by_customer_status", "customer_status")
    by_queue = _list_index("by_queue", "queue")
    by_queue_status = _list_index("by_queue_status", "queue_status")
    by_assignee = _list_index("by_assignee", "assignee")
    by_assignee_status = _list_index("by_assignee_status", "assignee_status")
    # Sparse: unassigned tickets waiting for someone (new, or escalated while assigned),
    # ordered by priority then age.
    claimable = _index("claimable", "claim_queue", "claim_sk")
    # Sparse: only open tickets with an SLA deadline still to watch, by due time.
    due = _index("due", "due_pk", "due_sk")
    # Sparse: tickets with a contact email, by its hash (which customer a sender is).
    lookup_pk = UnicodeAttribute(null=True)
    lookup_sk = UnicodeAttribute(null=True)
    lookup = _lookup_index()


class ReferenceItem(TableItem, discriminator="reference"):
    """Claims a short reference so no two tickets share one."""

    ticket_id = UnicodeAttribute()


class EventItem(TableItem, discriminator="event"):
    """Outbox and timeline entry, written in the same transaction as its change."""

    event_id = UnicodeAttribute()
    ticket_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    actor_role = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    data = MapAttribute[str, Any](default=dict)
    # The stored response of the request that wrote this event, so erasure can find it.
    idempotency_pk = UnicodeAttribute(null=True)


class PhoneTicketItem(TableItem, discriminator="phone_ticket"):
    """A ticket whose contact uses a number (pk PHONE#<sha256 of the number>, sk
    TICKET#<ticket id>): who a STOP from that number speaks for. Written with the ticket."""

    customer_id = UnicodeAttribute()


class ErasureMarkerItem(TableItem, discriminator="erased"):
    """The ticket was erased (pk TICKET#<id>, sk ~ERASED; TTL: the retention, from the
    erasure). Written in the erasure's own transaction; a notification's outcome checks
    it is absent (a check of this small item, not of the over-1 KB ticket item)."""


class ReactionMarkerItem(TableItem, discriminator="reaction"):
    """Proof that one reaction to one event has run."""

    applied_at = UTCDateTimeAttribute()


class IdempotencyItem(TableItem, discriminator="idempotency"):
    """The first successful response to an Idempotency-Key, kept 24 h (TTL)."""

    fingerprint = UnicodeAttribute()
    status = NumberAttribute()
    body = UnicodeAttribute()
    headers = MapAttribute[str, Any](default=dict)


class PreferencesItem(TableItem, discriminator="preferences"):
    """A customer's notification consent, language and quiet hours."""

    sms = NumberAttribute()
    email = NumberAttribute()
    locale = UnicodeAttribute(null=True)
    quiet_start = UnicodeAttribute(null=True)
    quiet_end = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


class DeliveryItem(TableItem, discriminator="delivery"):
    """The claim on sending one event's notification (kept 24 h)."""

    state = UnicodeAttribute()
    claimed_at = UTCDateTimeAttribute()
    settled_at = UTCDateTimeAttribute(null=True)
    outcome_id = UnicodeAttribute(null=True)  # the one outcome event written for it


class DeferredItem(TableItem, discriminator="deferred"):
    """A notification waiting for the customer's quiet hours to end."""

    event_id = UnicodeAttribute()
    ticket_id = UnicodeAttribute()
    send_at = UTCDateTimeAttribute()


class CounterItem(TableItem, discriminator="counter"):
    total = NumberAttribute(default=0)


class SurveyItem(TableItem, discriminator="survey"):
    """One follow-up survey (pk SURVEY#<ticket>-r<n>). The workflow writes
    survey_state and task_token; the stream turns those writes into events."""

    ticket_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    resolution = NumberAttribute()
    survey_state = UnicodeAttribute()
    locale = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    task_token = UnicodeAttribute(null=True)
    rounds = UnicodeSetAttribute(null=True)  # rounds whose event and code are written
    score = NumberAttribute(null=True)
    comment = UnicodeAttribute(null=True)
    answered_at = UTCDateTimeAttribute(null=True)
    settled_at = UTCDateTimeAttribute(null=True)


class SurveyCodeItem(TableItem, discriminator="survey_code"):
    """A link code's SHA-256 (pk SURVEYCODE#<digest>) pointing at its survey."""

    survey_id = UnicodeAttribute()


class SurveyCooldownItem(TableItem, discriminator="survey_cooldown"):
    """When the customer last answered a survey (pk CUSTOMER#<id>, sk SURVEY_ANSWERED)."""

    answered_at = UTCDateTimeAttribute()


class AuditItem(TableItem, discriminator="audit"):
    """Who read or changed a ticket: pk AUDIT#T#<ticket> (or #C#<customer>, #A#<actor>
    when no ticket is involved), sk <time>#<id>; also indexed by actor."""

    at = UTCDateTimeAttribute()
    actor_role = UnicodeAttribute()
    audit_actor = UnicodeAttribute()
    action = UnicodeAttribute()
    ticket_id = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)
    list_query = MapAttribute[str, Any](null=True)  # a list read's filters (ids only)
    inbox_id = UnicodeAttribute(null=True)  # a triage inbox item read or handled

    # Sparse: audit entries only, by actor, newest first on the table's own sort key.
    by_actor = _index("audit_by_actor", "audit_actor", "sk")


class BranchItem(TableItem, discriminator="branch"):
    """A branch (seeded locally from local/data/branches.json); `hours` is JSON text."""

    name = UnicodeAttribute()
    name_zh = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute()
    address = UnicodeAttribute()
    counters = NumberAttribute()
    hours = UnicodeAttribute()


class SeatItem(TableItem, discriminator="seat"):
    """Seats taken in one branch slot: a counter kept below the branch's counters."""

    taken = NumberAttribute(default=0)
    capacity = NumberAttribute(null=True)


class OpenAppointmentsItem(TableItem, discriminator="open-appointments"):
    """The customer's appointments holding a seat, as "<slot start>#<ticket id>" (at most 3
    with slots ahead; passed ones are dropped by the next booking). `changes` numbers the
    item's writes: a seat is taken only over the version whose holds it counted."""

    holds = UnicodeSetAttribute(null=True)
    changes = NumberAttribute(null=True)


class DocumentItem(TableItem, discriminator="document"):
    """A document of a ticket (pk TICKET#<id>, sk FILE#<D-id>: after the events, so the
    timeline's first-page Query never reads one), and the object key of its bytes."""

    document_id = UnicodeAttribute()
    ticket_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    doc_type = UnicodeAttribute()
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    sha256 = UnicodeAttribute()
    doc_status = UnicodeAttribute()
    object_key = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    added_by = UnicodeAttribute(default="")
    problem = UnicodeAttribute(null=True)
    review_reason = UnicodeAttribute(null=True)
    reviewed_by = UnicodeAttribute(null=True)
    doc_version = NumberAttribute(default=1)
    checked = NumberAttribute(default=0)
    scan_infected = NumberAttribute(null=True)


class DocumentKeyItem(TableItem, discriminator="document_key"):
    """Points an object key (pk DOCKEY#<key>) at its document: the S3 event names a key."""

    ticket_id = UnicodeAttribute()
    document_id = UnicodeAttribute()


class DocumentCountItem(TableItem, discriminator="document_count"):
    """How many documents a ticket holds (pk TICKET#<id>, sk FILECOUNT): at most 20."""

    doc_count = NumberAttribute(default=0)


class ReminderItem(TableItem, discriminator="reminder"):
    """An appointment to remind of, sorted by slot start."""

    ticket_id = UnicodeAttribute()
    slot_start = UTCDateTimeAttribute()


class InboxRecord(TableItem, discriminator="inbox"):
    """A triage inbox item (pk INBOX#<id>, sk INBOX); `lookup_pk` INBOX#<status>."""

    item_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    sender = UnicodeAttribute(default="")
    subject = UnicodeAttribute(null=True)
    text = UnicodeAttribute(default="")
    received_at = UTCDateTimeAttribute()
    status = UnicodeAttribute()
    reason = UnicodeAttribute()
    attachments = UnicodeAttribute(default="[]")  # JSON: [{filename, content_type, size, ...}]
    notes = UnicodeAttribute(default="[]")  # JSON list of strings
    message_id = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    ticket_id = UnicodeAttribute(null=True)
    handled_by = UnicodeAttribute(null=True)
    handled_at = UTCDateTimeAttribute(null=True)
    discard_reason = UnicodeAttribute(null=True)
    item_version = NumberAttribute(default=1)
    lookup_pk = UnicodeAttribute()
    lookup_sk = UnicodeAttribute()
    lookup = _lookup_index()


class MailSentItem(TableItem, discriminator="mail_sent"):
    """A desk email's SES message id (pk MAILSENT#<id>, sk MAIL) -> its ticket."""

    ticket_id = UnicodeAttribute()


class MailThreadItem(TableItem, discriminator="mail_thread"):
    """The customer's last Message-ID on a ticket (pk MAILTHREAD#<ticket>, sk THREAD)."""

    message_id = UnicodeAttribute()
    references = UnicodeAttribute(default="[]")  # JSON list, newest first


class MailReceiptItem(TableItem, discriminator="mail_receipt"):
    """A stored inbound message already taken (pk MAILIN#<sha256 of its key>, sk RECEIPT)."""

    ticket_id = UnicodeAttribute()


class SmsSentItem(TableItem, discriminator="sms_sent"):
    """One SMS the desk sent (pk SMSTO#<sha256 of the number>, sk AT#<time>#<event id>;
    7 days): which ticket a reply to that number is about (adapters/sms_index.py)."""

    ticket_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    sent_at = UTCDateTimeAttribute()
    survey_id = UnicodeAttribute(null=True)


class SmsCustomerItem(TableItem, discriminator="sms_customer"):
    """A customer the desk texted at a number (pk SMSTO#<sha256>, sk CUSTOMER#<id>)."""

    customer_id = UnicodeAttribute()
    last_sent_at = UTCDateTimeAttribute()


class InboundSmsItem(TableItem, discriminator="sms_inbound"):
    """An inbound text acted on (pk SMSIN#<inboundMessageId>, sk HANDLED; 7 days)."""

    outcome = UnicodeAttribute()
    handled_at = UTCDateTimeAttribute()


class SmsQuotaItem(TableItem, discriminator="sms_quota"):
    """A day's SMS count of one number or customer (pk SMSQUOTA#NUMBER#<sha256> or
    SMSQUOTA#CUSTOMER#<id>, sk DAY#<date>; adapters/sms_quota.py)."""

    sent = NumberAttribute(null=True)  # absent until the day's first SMS
    last_event_id = UnicodeAttribute(null=True)  # the last SMS counted (tells writes apart)
    alerted_at = UTCDateTimeAttribute(null=True)


# Every item type of the table: bind_table points each at the table, and the drift test
# checks their schemas against the template (tests/unit/test_models.py: no type is left out).
ALL_MODELS: tuple[type[TableItem], ...] = (
    TableItem,
    TicketItem,
    ReferenceItem,
    EventItem,
    PhoneTicketItem,
    ErasureMarkerItem,
    ReactionMarkerItem,
    IdempotencyItem,
    PreferencesItem,
    DeliveryItem,
    DeferredItem,
    CounterItem,
    SurveyItem,
    SurveyCodeItem,
    SurveyCooldownItem,
    AuditItem,
    BranchItem,
    SeatItem,
    OpenAppointmentsItem,
    ReminderItem,
    DocumentItem,
    DocumentKeyItem,
    DocumentCountItem,
    InboxRecord,
    MailSentItem,
    MailThreadItem,
    MailReceiptItem,
    SmsSentItem,
    SmsCustomerItem,
    InboundSmsItem,
    SmsQuotaItem,
)


def bind_table(table_name: str, region: str, host: str | None) -> None:
    """Point every model at the real table (called once, from bootstrap)."""
    TableItem.Meta.table_name = table_name
    TableItem.Meta.region = region
    TableItem.Meta.host = host
    for model in ALL_MODELS:
        model._connection = None
