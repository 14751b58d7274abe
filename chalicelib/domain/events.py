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
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, ClassVar, Self, TypeVar

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
    SURVEY_SKIPPED = "survey.skipped"  # staff-only: why a resolved ticket got no survey
    APPOINTMENT_BOOKED = "appointment.booked"
    APPOINTMENT_RESCHEDULED = "appointment.rescheduled"
    APPOINTMENT_REMINDED = "appointment.reminded"


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
        EventType.APPOINTMENT_BOOKED,
        EventType.APPOINTMENT_RESCHEDULED,
        EventType.APPOINTMENT_REMINDED,
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


# --- payloads: one frozen dataclass per event type --------------------------------------------
#
# Fields are declared in the order the keys are written (the stored map keeps it, and the
# timeline's JSON shows it). Reading is as forgiving as the `.get(key, default)` it
# replaces: a key the data lacks takes the field's default. Field metadata: `key` when
# the wire name differs (`from` is a keyword), `parse` to read a value back into its
# type, `optional` when the key is left out while the value is None (other None values
# are written as null).


def _wire(
    key: str | None = None, *, parse: Callable[[Any], Any] | None = None, optional: bool = False
) -> dict[str, Any]:
    return {"key": key, "parse": parse, "optional": optional}


_OPTIONAL = _wire(optional=True)
_ACTION = _wire(parse=action_named)
_FROM = _wire("from", parse=Status)
_TO = _wire("to", parse=Status)
_FROM_IF_MOVED = _wire("from", parse=Status, optional=True)
_TO_IF_MOVED = _wire("to", parse=Status, optional=True)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@dataclass(frozen=True, kw_only=True)
class Payload:
    """The typed `data` of one event type."""

    TYPE: ClassVar[EventType]

    def to_data(self) -> dict[str, Any]:
        """The wire form: keys in field order, enums as their strings."""
        data: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None and spec.metadata.get("optional"):
                continue
            data[spec.metadata.get("key") or spec.name] = _plain(value)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        """Read the wire form back."""
        values: dict[str, Any] = {}
        for spec in fields(cls):
            key = spec.metadata.get("key") or spec.name
            if key in data:
                parse = spec.metadata.get("parse")
                value = data[key]
                values[spec.name] = parse(value) if parse and value is not None else value
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class TicketCreated(Payload):
    TYPE = EventType.TICKET_CREATED
    channel: str = ""
    kind: str = ""
    queue: str = ""
    # A service-recovery ticket: the surveyed ticket and the score that opened it.
    parent_id: str | None = field(default=None, metadata=_OPTIONAL)
    score: int | None = field(default=None, metadata=_OPTIONAL)


@dataclass(frozen=True, kw_only=True)
class ActionTaken(Payload):
    """An event written by an action: its name comes first."""

    action: Action | str = field(default="", metadata=_ACTION)


@dataclass(frozen=True, kw_only=True)
class StatusChanged(ActionTaken):
    TYPE = EventType.STATUS_CHANGED
    message: str | None = field(default=None, metadata=_OPTIONAL)  # request_info
    resolution: str | None = field(default=None, metadata=_OPTIONAL)  # resolve
    resolution_count: int | None = field(default=None, metadata=_OPTIONAL)  # resolve, reopen
    reason: str | None = field(default=None, metadata=_OPTIONAL)  # reopen, cancel
    from_status: Status | None = field(default=None, metadata=_FROM)
    to_status: Status | None = field(default=None, metadata=_TO)


@dataclass(frozen=True, kw_only=True)
class TicketAssigned(ActionTaken):
    TYPE = EventType.ASSIGNED
    assignee: str = ""
    previous: str | None = None
    # Set when the assignment also moved the status (from `new`).
    from_status: Status | None = field(default=None, metadata=_FROM_IF_MOVED)
    to_status: Status | None = field(default=None, metadata=_TO_IF_MOVED)


@dataclass(frozen=True, kw_only=True)
class TicketEscalated(ActionTaken):
    TYPE = EventType.ESCALATED
    reason: str = ""
    tier: int | None = None
    queue: str = ""
    previous_assignee: str | None = None


@dataclass(frozen=True, kw_only=True)
class SlaExtended(ActionTaken):
    TYPE = EventType.SLA_EXTENDED
    reason: str = ""
    resolution_due: str | None = None  # RFC 3339


@dataclass(frozen=True, kw_only=True)
class TicketAnonymized(ActionTaken):
    TYPE = EventType.ANONYMIZED
    action: Action | str = field(default=ERASE, metadata=_ACTION)


@dataclass(frozen=True, kw_only=True)
class CommentAdded(Payload):
    TYPE = EventType.COMMENT_ADDED
    body: str = ""
    internal: bool | None = None  # None: not stated


@dataclass(frozen=True, kw_only=True)
class SlaBreached(Payload):
    TYPE = EventType.SLA_BREACHED
    metric: str = ""
    due: str | None = None  # RFC 3339
    tier: int | None = None


@dataclass(frozen=True, kw_only=True)
class AppointmentSlot(Payload):
    """What a message about a branch appointment needs: the branch's name in each
    locale, the slot on the branch's wall clock, the zone for quiet hours."""

    branch_id: str = ""
    slot_start: str = ""
    slot_end: str | None = None
    slot_time: str = ""
    timezone: str | None = None
    branch_name: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class AppointmentBooked(AppointmentSlot):
    TYPE = EventType.APPOINTMENT_BOOKED


@dataclass(frozen=True, kw_only=True)
class AppointmentReminded(AppointmentSlot):
    TYPE = EventType.APPOINTMENT_REMINDED


@dataclass(frozen=True, kw_only=True)
class AppointmentRescheduled(ActionTaken):
    """The lifecycle writes the action only; the appointment service adds the new slot."""

    TYPE = EventType.APPOINTMENT_RESCHEDULED
    action: Action | str = field(default=Action.RESCHEDULE, metadata=_ACTION)
    branch_id: str | None = field(default=None, metadata=_OPTIONAL)
    slot_start: str | None = field(default=None, metadata=_OPTIONAL)
    slot_end: str | None = field(default=None, metadata=_OPTIONAL)
    slot_time: str | None = field(default=None, metadata=_OPTIONAL)
    timezone: str | None = field(default=None, metadata=_OPTIONAL)
    branch_name: Mapping[str, str] | None = field(default=None, metadata=_OPTIONAL)
    previous_slot_start: str | None = field(default=None, metadata=_OPTIONAL)


@dataclass(frozen=True, kw_only=True)
class NotificationOutcome(Payload):
    """What became of the message about another event (`source_event`)."""

    source_event: str = ""


@dataclass(frozen=True, kw_only=True)
class NotificationSent(NotificationOutcome):
    TYPE = EventType.NOTIFICATION_SENT
    channel: str = ""
    template: str = ""
    to: str = ""  # the masked address
    provider_message_id: str = ""


@dataclass(frozen=True, kw_only=True)
class NotificationSkipped(NotificationOutcome):
    TYPE = EventType.NOTIFICATION_SKIPPED
    template: str = ""
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class NotificationFailed(NotificationOutcome):
    TYPE = EventType.NOTIFICATION_FAILED
    channel: str = ""
    template: str = ""
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class NotificationUnknown(NotificationOutcome):
    TYPE = EventType.NOTIFICATION_UNKNOWN
    template: str = ""


@dataclass(frozen=True, kw_only=True)
class SurveyEvent(Payload):
    """An event about one survey (its id names the ticket and the resolution)."""

    survey_id: str = ""


@dataclass(frozen=True, kw_only=True)
class SurveyRound(SurveyEvent):
    round: int = 1  # 1: the invitation, 2: the reminder; each has its own link code


@dataclass(frozen=True, kw_only=True)
class SurveyInvited(SurveyRound):
    TYPE = EventType.SURVEY_INVITED


@dataclass(frozen=True, kw_only=True)
class SurveyReminded(SurveyRound):
    TYPE = EventType.SURVEY_REMINDED


@dataclass(frozen=True, kw_only=True)
class SurveyAnswered(SurveyEvent):
    TYPE = EventType.SURVEY_ANSWERED
    score: int = 0
    agent: str = ""  # who held the ticket: the agent the score is credited to
    comment: str | None = field(default=None, metadata=_OPTIONAL)


@dataclass(frozen=True, kw_only=True)
class SurveyExpired(SurveyEvent):
    TYPE = EventType.SURVEY_EXPIRED


@dataclass(frozen=True, kw_only=True)
class SurveySkipped(Payload):
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
    )
}


P = TypeVar("P", bound=Payload)


def payload_of(event_type: EventType, data: Mapping[str, Any]) -> Payload:
    """The stored `data` of an event of this type, read as its typed payload."""
    return PAYLOADS[event_type].from_data(data)


@dataclass(frozen=True)
class Event:
    id: str
    ticket_id: str
    type: EventType
    at: datetime
    actor: Caller
    data: dict[str, Any] = field(default_factory=dict)

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
