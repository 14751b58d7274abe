"""Event items: the outbox written with every state change, and the timeline.

An event's `data` is its wire form (the map stored in DynamoDB, carried on the
stream and shown on the timeline); `Event.payload()` reads it as the typed
payload of the event's type, and `Event.of(...)` writes one from a payload. The
two directions are one pair of functions (`Payload.from_data` / `to_data`), so
the stored form stays byte for byte what it was.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum, StrEnum
from typing import Annotated, Any, ClassVar, Self, TypeVar

import msgspec

from chalicelib.domain.identity import Caller
from chalicelib.domain.statuses import Action, Status


class EventType(StrEnum):
    TICKET_CREATED = "ticket.created"
    STATUS_CHANGED = "ticket.status_changed"
    ASSIGNED = "ticket.assigned"
    ESCALATED = "ticket.escalated"
    ANONYMIZED = "ticket.anonymized"
    COMMENT_ADDED = "comment.added"
    SLA_BREACHED = "sla.breached"
    SLA_EXTENDED = "sla.extended"
    NOTIFICATION_SENT = "notification.sent"
    NOTIFICATION_SKIPPED = "notification.skipped"
    NOTIFICATION_FAILED = "notification.failed"
    NOTIFICATION_UNKNOWN = "notification.unknown"
    SURVEY_INVITED = "survey.invited"
    SURVEY_REMINDED = "survey.reminded"
    SURVEY_ANSWERED = "survey.answered"
    SURVEY_EXPIRED = "survey.expired"
    SURVEY_SKIPPED = "survey.skipped"  # why a resolved ticket got no survey (SPEC 5: survey.*)
    APPOINTMENT_BOOKED = "appointment.booked"
    APPOINTMENT_RESCHEDULED = "appointment.rescheduled"
    APPOINTMENT_REMINDED = "appointment.reminded"
    APPROVAL_REQUESTED = "application.approval_requested"  # staff-only: the maker's approve
    DOCUMENT_ADDED = "document.added"
    DOCUMENT_RECEIVED = "document.received"
    DOCUMENT_REVIEWED = "document.reviewed"
    DOCUMENT_INFECTED = "document.infected"  # staff-only
    NOTIFICATION_OPTED_OUT = "notification.opted_out"  # a STOP reply switched a channel off
    COMPLAINT_CLASSIFIED = "complaint.classified"
    EXTENSION_REQUESTED = "complaint.extension_requested"
    CLOCK_SUSPENDED = "complaint.clock_suspended"
    CLOCK_RESUMED = "complaint.clock_resumed"
    REVIEW_REQUESTED = "complaint.review_requested"
    MERGED = "ticket.merged"


# Customers see only these types on their own timeline (SPEC section 5).
CUSTOMER_VISIBLE_TYPES = frozenset(
    {
        EventType.TICKET_CREATED,
        EventType.STATUS_CHANGED,
        EventType.COMMENT_ADDED,
        EventType.NOTIFICATION_SENT,
        EventType.SURVEY_INVITED,
        EventType.SURVEY_REMINDED,
        EventType.SURVEY_ANSWERED,
        EventType.SURVEY_EXPIRED,
        EventType.SURVEY_SKIPPED,
        EventType.APPOINTMENT_BOOKED,
        EventType.APPOINTMENT_RESCHEDULED,
        EventType.APPOINTMENT_REMINDED,
        EventType.DOCUMENT_ADDED,
        EventType.DOCUMENT_RECEIVED,
        EventType.DOCUMENT_REVIEWED,
    }
)

NOTIFICATION_TYPES = frozenset(
    {
        EventType.NOTIFICATION_SENT,
        EventType.NOTIFICATION_SKIPPED,
        EventType.NOTIFICATION_FAILED,
        EventType.NOTIFICATION_UNKNOWN,
    }
)

# What the system does that is no lifecycle action but still names one in `action`.
COMMENT = "comment"  # a customer's reply moved the status (waiting -> in progress)
ERASE = "erase"  # the ticket was anonymized


def action_named(name: str) -> Action | str:
    """The `action` of an event: a lifecycle Action, or one of the system's own names."""
    try:
        return Action(name)
    except ValueError:
        return name


# --- payloads: one frozen struct per event type -----------------------------------------------
#
# Fields are declared in the order the keys are written (the stored map keeps it, and the
# timeline's JSON shows it). Reading is as forgiving as the `.get(key, default)` it
# replaces: a key the data lacks takes the field's default. A field annotated with a `Wire`
# says how it is written: `key` when the wire name differs (`from` is a keyword), `parse`
# to read a value back into its type, `optional` when the key is left out while the value
# is None (other None values are written as null).


class Wire(msgspec.Struct, frozen=True):
    key: str | None = None
    parse: Callable[[Any], Any] | None = None
    optional: bool = False


_OPTIONAL = Wire(optional=True)
_ACTION = Wire(parse=action_named)
_FROM = Wire("from", parse=Status)
_TO = Wire("to", parse=Status)
_FROM_IF_MOVED = Wire("from", parse=Status, optional=True)
_TO_IF_MOVED = Wire("to", parse=Status, optional=True)


class _WireField(msgspec.Struct, frozen=True):
    name: str
    key: str
    parse: Callable[[Any], Any] | None
    optional: bool


_WIRE_FIELDS: dict[type, tuple[_WireField, ...]] = {}


def _wire_fields(cls: type) -> tuple[_WireField, ...]:
    """A payload class's fields in order with their `Wire` (resolved once per class)."""
    found = _WIRE_FIELDS.get(cls)
    if found is None:
        found = _WIRE_FIELDS[cls] = tuple(map(_wire_field, msgspec.structs.fields(cls)))
    return found


def _wire_field(info: msgspec.structs.FieldInfo) -> _WireField:
    extras = getattr(info.type, "__metadata__", ())
    wire = next((extra for extra in extras if isinstance(extra, Wire)), Wire())
    return _WireField(info.name, wire.key or info.name, wire.parse, wire.optional)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    """The typed `data` of one event type."""

    TYPE: ClassVar[EventType]

    def to_data(self) -> dict[str, Any]:
        """The wire form: keys in field order, enums as their strings."""
        data: dict[str, Any] = {}
        for spec in _wire_fields(type(self)):
            value = getattr(self, spec.name)
            if value is None and spec.optional:
                continue
            data[spec.key] = _plain(value)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        """Read the wire form back."""
        values: dict[str, Any] = {}
        for spec in _wire_fields(cls):
            if spec.key in data:
                value = data[spec.key]
                parse = spec.parse
                values[spec.name] = parse(value) if parse and value is not None else value
        return cls(**values)


class TicketCreated(Payload, frozen=True, kw_only=True):
    TYPE = EventType.TICKET_CREATED
    channel: str = ""
    kind: str = ""
    queue: str = ""
    # A service-recovery ticket: the surveyed ticket and the score that opened it.
    parent_id: Annotated[str | None, _OPTIONAL] = None
    score: Annotated[int | None, _OPTIONAL] = None
    # A reply about a finished ticket (SPEC 12): its attachments' metadata. Where it came
    # from, for erasure: the inbox item staff opened it from, the stored raw mail.
    attachments: Annotated[list[dict[str, Any]] | None, _OPTIONAL] = None
    inbox_id: Annotated[str | None, _OPTIONAL] = None
    mail_source: Annotated[str | None, _OPTIONAL] = None


class ActionTaken(Payload, frozen=True, kw_only=True):
    """An event written by an action: its name comes first."""

    action: Annotated[Action | str, _ACTION] = ""


class StatusChanged(ActionTaken, frozen=True, kw_only=True):
    TYPE = EventType.STATUS_CHANGED
    message: Annotated[str | None, _OPTIONAL] = None  # request_info
    resolution: Annotated[str | None, _OPTIONAL] = None  # resolve
    resolution_count: Annotated[int | None, _OPTIONAL] = None  # resolve, reopen
    reason: Annotated[str | None, _OPTIONAL] = None  # reopen, cancel
    # resolve of a complaint: the customer may ask for a review within this many days
    review_within_days: Annotated[int | None, _OPTIONAL] = None
    into: Annotated[str | None, _OPTIONAL] = None  # merge: the ticket it went into
    from_status: Annotated[Status | None, _FROM] = None
    to_status: Annotated[Status | None, _TO] = None
    outcome: Annotated[str | None, _OPTIONAL] = None  # approve, reject: approved|rejected
    note: Annotated[str | None, _OPTIONAL] = None  # approve
    # A complaint's end (resolve, cancel, merge): every second its clock was suspended,
    # as the decision counted them (a reopening starts afresh; the report reads this).
    total_suspended_seconds: Annotated[int | None, _OPTIONAL] = None
    # RFC 3339. A complaint's reopen: the fresh regulatory deadline. A resolution (resolve,
    # approve, reject): the deadline it was held to, which the report reads (a reopen or an
    # extension may move the ticket's before the reaction runs).
    resolution_due: Annotated[str | None, _OPTIONAL] = None


class TicketAssigned(ActionTaken, frozen=True, kw_only=True):
    TYPE = EventType.ASSIGNED
    assignee: str = ""
    previous: str | None = None
    # Set when the assignment also moved the status (from `new`).
    from_status: Annotated[Status | None, _FROM_IF_MOVED] = None
    to_status: Annotated[Status | None, _TO_IF_MOVED] = None


class TicketEscalated(ActionTaken, frozen=True, kw_only=True):
    TYPE = EventType.ESCALATED
    reason: str = ""
    tier: int | None = None
    queue: str = ""
    previous_assignee: str | None = None


class SlaExtended(ActionTaken, frozen=True, kw_only=True):
    TYPE = EventType.SLA_EXTENDED
    reason: str = ""
    resolution_due: str | None = None  # RFC 3339
    # The complaint ladder (SPEC 13): which extension this is (1 or 2), the new deadline's
    # Asia/Shanghai date for the customer's message, and who asked for a second one.
    extensions: Annotated[int | None, _OPTIONAL] = None
    due_date: Annotated[str | None, _OPTIONAL] = None
    requested_by: Annotated[str | None, _OPTIONAL] = None
    # True: it extends a reopened complaint's fresh clock, which the report leaves out (the
    # complaint's extensions were counted with its first decision).
    reopened: Annotated[bool | None, _OPTIONAL] = None


class ComplaintClassified(ActionTaken, frozen=True, kw_only=True):
    TYPE = EventType.COMPLAINT_CLASSIFIED
    business: str = ""
    cause: str = ""
    # The classification it replaces (None: unclassified): the report moves its count.
    previous_business: str | None = None
    previous_cause: str | None = None
    # A reopened complaint's first conclusion (its report day and column): the report
    # moves that count too, so it stays under the complaint's current classification.
    concluded_on: Annotated[str | None, _OPTIONAL] = None
    concluded_as: Annotated[str | None, _OPTIONAL] = None


class ExtensionRequested(ActionTaken, frozen=True, kw_only=True):
    """The first of two supervisors asked for the second extension."""

    TYPE = EventType.EXTENSION_REQUESTED
    reason: str = ""


class ClockSuspended(ActionTaken, frozen=True, kw_only=True):
    TYPE = EventType.CLOCK_SUSPENDED
    reason: str = ""  # external_appraisal | testing | assessment
    note: Annotated[str | None, _OPTIONAL] = None


class ClockResumed(ActionTaken, frozen=True, kw_only=True):
    TYPE = EventType.CLOCK_RESUMED
    suspended_seconds: int = 0  # this suspension
    resolution_due: str | None = None  # RFC 3339
    due_date: Annotated[str | None, _OPTIONAL] = None  # Asia/Shanghai, for the message


class TicketAnonymized(ActionTaken, frozen=True, kw_only=True):
    TYPE = EventType.ANONYMIZED
    action: Annotated[Action | str, _ACTION] = ERASE


class CommentAdded(Payload, frozen=True, kw_only=True):
    TYPE = EventType.COMMENT_ADDED
    body: str = ""
    internal: bool | None = None  # None: not stated
    # Inbound replies (SPEC 12): the channel it came by, and its attachments' metadata.
    channel: Annotated[str | None, _OPTIONAL] = None
    attachments: Annotated[list[dict[str, Any]] | None, _OPTIONAL] = None
    # Where it came from, for erasure: the inbox item staff linked, the stored raw mail.
    inbox_id: Annotated[str | None, _OPTIONAL] = None
    mail_source: Annotated[str | None, _OPTIONAL] = None


class SlaBreached(Payload, frozen=True, kw_only=True):
    TYPE = EventType.SLA_BREACHED
    metric: str = ""
    due: str | None = None  # RFC 3339
    tier: int | None = None


class AppointmentSlot(Payload, frozen=True, kw_only=True):
    """What a message about a branch appointment needs: the branch's name in each
    locale, the slot on the branch's wall clock, the zone for quiet hours."""

    branch_id: str = ""
    slot_start: str = ""
    slot_end: str | None = None
    slot_time: str = ""
    timezone: str | None = None
    branch_name: Mapping[str, str] | None = None


class AppointmentBooked(AppointmentSlot, frozen=True, kw_only=True):
    TYPE = EventType.APPOINTMENT_BOOKED


class AppointmentReminded(AppointmentSlot, frozen=True, kw_only=True):
    TYPE = EventType.APPOINTMENT_REMINDED


class AppointmentRescheduled(ActionTaken, frozen=True, kw_only=True):
    """The lifecycle writes the action only; the appointment service adds the new slot."""

    TYPE = EventType.APPOINTMENT_RESCHEDULED
    action: Annotated[Action | str, _ACTION] = Action.RESCHEDULE
    branch_id: Annotated[str | None, _OPTIONAL] = None
    slot_start: Annotated[str | None, _OPTIONAL] = None
    slot_end: Annotated[str | None, _OPTIONAL] = None
    slot_time: Annotated[str | None, _OPTIONAL] = None
    timezone: Annotated[str | None, _OPTIONAL] = None
    branch_name: Annotated[Mapping[str, str] | None, _OPTIONAL] = None
    previous_slot_start: Annotated[str | None, _OPTIONAL] = None


class ApprovalRequested(ActionTaken, frozen=True, kw_only=True):
    """The maker's approve of a dual-approval application: a checker must answer."""

    TYPE = EventType.APPROVAL_REQUESTED
    action: Annotated[Action | str, _ACTION] = Action.APPROVE
    note: Annotated[str | None, _OPTIONAL] = None


class DocumentEvent(Payload, frozen=True, kw_only=True):
    """An event about one document of the ticket."""

    document_id: str = ""
    type: str = ""


class DocumentAdded(DocumentEvent, frozen=True, kw_only=True):
    TYPE = EventType.DOCUMENT_ADDED
    filename: str = ""


class DocumentReceived(DocumentEvent, frozen=True, kw_only=True):
    TYPE = EventType.DOCUMENT_RECEIVED
    status: str = ""  # available | rejected_file | infected
    problem: Annotated[str | None, _OPTIONAL] = None  # size | checksum | type


class DocumentReviewed(DocumentEvent, frozen=True, kw_only=True):
    TYPE = EventType.DOCUMENT_REVIEWED
    action: Annotated[Action | str, _ACTION] = Action.REVIEW_DOCUMENT
    verdict: str = ""  # accepted | rejected
    reason: str = ""
    # The document type's name per locale, so the message names it without the catalogue.
    type_name: Annotated[Mapping[str, str] | None, _OPTIONAL] = None


class DocumentInfected(DocumentEvent, frozen=True, kw_only=True):
    TYPE = EventType.DOCUMENT_INFECTED


class NotificationOutcome(Payload, frozen=True, kw_only=True):
    """What became of the message about another event (`source_event`)."""

    source_event: str = ""


class NotificationSent(NotificationOutcome, frozen=True, kw_only=True):
    TYPE = EventType.NOTIFICATION_SENT
    channel: str = ""
    template: str = ""
    to: str = ""  # the masked address
    provider_message_id: str = ""


class NotificationSkipped(NotificationOutcome, frozen=True, kw_only=True):
    TYPE = EventType.NOTIFICATION_SKIPPED
    template: str = ""
    reason: str = ""


class NotificationFailed(NotificationOutcome, frozen=True, kw_only=True):
    TYPE = EventType.NOTIFICATION_FAILED
    channel: str = ""
    template: str = ""
    reason: str = ""


class NotificationUnknown(NotificationOutcome, frozen=True, kw_only=True):
    TYPE = EventType.NOTIFICATION_UNKNOWN
    template: str = ""


class NotificationOptedOut(Payload, frozen=True, kw_only=True):
    """The customer switched a channel off by replying (STOP, TD, T, 退订 by SMS)."""

    TYPE = EventType.NOTIFICATION_OPTED_OUT
    channel: str = "sms"


class ReviewRequested(Payload, frozen=True, kw_only=True):
    """On the reviewed complaint: the customer asked for a review (核查), which opened
    `review_id`."""

    TYPE = EventType.REVIEW_REQUESTED
    review_id: str = ""
    reason: str = ""


class TicketMerged(Payload, frozen=True, kw_only=True):
    """On the target of a merge: the ticket closed into this one."""

    TYPE = EventType.MERGED
    from_id: Annotated[str, Wire("from")] = ""
    from_reference: str = ""


class SurveyEvent(Payload, frozen=True, kw_only=True):
    """An event about one survey (its id names the ticket and the resolution)."""

    survey_id: str = ""


class SurveyRound(SurveyEvent, frozen=True, kw_only=True):
    round: int = 1  # 1: the invitation, 2: the reminder; each has its own link code


class SurveyInvited(SurveyRound, frozen=True, kw_only=True):
    TYPE = EventType.SURVEY_INVITED


class SurveyReminded(SurveyRound, frozen=True, kw_only=True):
    TYPE = EventType.SURVEY_REMINDED


class SurveyAnswered(SurveyEvent, frozen=True, kw_only=True):
    TYPE = EventType.SURVEY_ANSWERED
    score: int = 0
    agent: str = ""  # who resolved the resolution surveyed: the score is credited to them
    comment: Annotated[str | None, _OPTIONAL] = None


class SurveyExpired(SurveyEvent, frozen=True, kw_only=True):
    TYPE = EventType.SURVEY_EXPIRED


class SurveySkipped(Payload, frozen=True, kw_only=True):
    TYPE = EventType.SURVEY_SKIPPED
    reason: str = ""


PAYLOADS: dict[EventType, type[Payload]] = {
    payload.TYPE: payload
    for payload in (
        TicketCreated,
        StatusChanged,
        TicketAssigned,
        TicketEscalated,
        TicketAnonymized,
        CommentAdded,
        SlaBreached,
        SlaExtended,
        NotificationSent,
        NotificationSkipped,
        NotificationFailed,
        NotificationUnknown,
        SurveyInvited,
        SurveyReminded,
        SurveyAnswered,
        SurveyExpired,
        SurveySkipped,
        AppointmentBooked,
        AppointmentRescheduled,
        AppointmentReminded,
        ApprovalRequested,
        DocumentAdded,
        DocumentReceived,
        DocumentReviewed,
        DocumentInfected,
        NotificationOptedOut,
        ComplaintClassified,
        ExtensionRequested,
        ClockSuspended,
        ClockResumed,
        ReviewRequested,
        TicketMerged,
    )
}


P = TypeVar("P", bound=Payload)


def payload_of(event_type: EventType, data: Mapping[str, Any]) -> Payload:
    """The stored `data` of an event of this type, read as its typed payload."""
    return PAYLOADS[event_type].from_data(data)


class Event(msgspec.Struct, frozen=True):
    id: str
    ticket_id: str
    type: EventType
    at: datetime
    actor: Caller
    data: dict[str, Any] = msgspec.field(default_factory=dict)

    @classmethod
    def of(
        cls, event_id: str, ticket_id: str, at: datetime, actor: Caller, payload: Payload
    ) -> Event:
        """A new event carrying this payload (its type is the payload's)."""
        return cls(event_id, ticket_id, payload.TYPE, at, actor, payload.to_data())

    def payload(self) -> Payload:
        """The data, typed by the event's type (dispatch on its class)."""
        return payload_of(self.type, self.data)

    def payload_as(self, kind: builtins.type[P]) -> P | None:
        """The data as `kind` (a payload class, or a family's base such as SurveyEvent),
        or None when this event is of another type: nothing is read then."""
        if not issubclass(PAYLOADS[self.type], kind):
            return None
        payload = self.payload()
        assert isinstance(payload, kind)
        return payload
