"""The service ticket: its shape, how one is opened, and how it is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from msgspec.structs import replace

from chalicelib.domain.applications import (
    Application,
    ApplicationType,
    application_view,
    new_application,
    sorted_work,
)
from chalicelib.domain.complaints import COMPLAINT, Complaint, complaint_view
from chalicelib.domain.contact import Contact
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.events import Event, TicketCreated
from chalicelib.domain.fields import shared_fields
from chalicelib.domain.identity import Caller
from chalicelib.domain.routing import TIER_QUEUES, Route, route_for
from chalicelib.domain.statuses import FINISHED_STATUSES, OPEN_STATUSES, STATUSES, Status

__all__ = ["FINISHED_STATUSES", "OPEN_STATUSES", "STATUSES"]

RECEIVED_AT_MAX_AGE = timedelta(days=30)
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


class Sla(msgspec.Struct, frozen=True):
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_responded_at: datetime | None = None
    breaches: tuple[str, ...] = ()
    paused: bool = False
    extended: bool = False
    paused_at: datetime | None = None
    # Metrics on plain calendar time (the regulator's complaint clock): never paused.
    unpaused: tuple[str, ...] = ()


class Ticket(msgspec.Struct, frozen=True):
    id: str
    reference: str
    customer_id: str
    channel: str
    kind: str
    category: str
    subject: str
    description: str
    priority: str
    status: Status
    tier: int
    queue: str
    assignee: str | None
    parent_id: str | None
    contact: Contact
    created_at: datetime
    updated_at: datetime
    received_at: datetime
    sla: Sla = msgspec.field(default_factory=Sla)
    appointment: dict[str, str] | None = None
    version: int = 1
    resolutions: int = 0
    resolved_at: datetime | None = None
    application: Application | None = None  # kind application only (SPEC 11)
    complaint: Complaint | None = None
    review_of: str | None = None
    reviewed_by: str | None = None
    merged_into: str | None = None
    # Staff who acted on the complaint a review re-examines (read once, when the review
    # opens): they may not work the review (domain/reviews.py).
    recused: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def visible_to(self, caller: Caller) -> bool:
        return caller.is_staff or caller.id == self.customer_id

    def with_reference(self, reference: str) -> Ticket:
        return replace(self, reference=reference)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class TicketRequest(msgspec.Struct, frozen=True):
    """A validated create request, already checked against the schema."""

    channel: str
    kind: str
    category: str
    subject: str
    description: str
    contact: dict[str, str] | None
    customer_id: str | None = None
    received_at: datetime | None = None
    priority: str | None = None
    # kind application: the catalogue's type (None: a general application) and its form,
    # already checked against the type's schema (domain/applications.resolve_request).
    application_type: ApplicationType | None = None
    form: dict[str, Any] = msgspec.field(default_factory=dict)


_STAFF_ONLY_FIELDS = ("customer_id", "received_at", "priority")
# A request's fields a new ticket does not take as they are: checked, defaulted or parsed.
_CONVERTED_FIELDS = ("customer_id", "contact", "received_at", "priority")


def open_ticket(
    request: TicketRequest,
    caller: Caller,
    *,
    ticket_id: str,
    reference: str,
    event_id: str,
    now: datetime,
) -> tuple[Ticket, Event]:
    """Build a new ticket and its `ticket.created` event (nothing is written here)."""
    customer_id, received_at = _checked(request, caller, now)
    route = route_for(request.kind, request.category)
    route = replace(route, priority=request.priority or route.priority)
    contact = Contact.from_request(request.contact)
    ticket = new_ticket(
        request,
        customer_id,
        contact,
        route,
        ticket_id=ticket_id,
        reference=reference,
        received_at=received_at,
        now=now,
    )
    if request.kind == "application":
        ticket = _with_application(ticket, request, caller)
    return ticket, created_event(ticket, event_id, caller)


def new_ticket(
    about: TicketRequest,
    customer_id: str,
    contact: Contact,
    route: Route,
    *,
    ticket_id: str,
    reference: str,
    received_at: datetime,
    now: datetime,
) -> Ticket:
    """A ticket as it opens: new, unassigned, routed by `route`, about what `about` says
    (its channel, kind, category, subject and description)."""
    return Ticket(
        **shared_fields(about, Ticket, *_CONVERTED_FIELDS),
        **msgspec.structs.asdict(route),
        id=ticket_id,
        reference=reference,
        customer_id=customer_id,
        contact=contact,
        status=Status.NEW,
        assignee=None,
        parent_id=None,
        created_at=now,
        updated_at=now,
        received_at=received_at,
        complaint=Complaint() if about.kind == COMPLAINT else None,
    )


def held_to(resolved: Ticket) -> str | None:
    """The resolution deadline a resolution is measured against, as an event records it."""
    due = resolved.sla.resolution_due
    return due.isoformat() if due is not None else None


def created_event(ticket: Ticket, event_id: str, caller: Caller) -> Event:
    """The new ticket's `ticket.created`."""
    created = TicketCreated(channel=ticket.channel, kind=ticket.kind, queue=ticket.queue)
    return Event.of(event_id, ticket.id, ticket.created_at, caller, created)


def _with_application(ticket: Ticket, request: TicketRequest, caller: Caller) -> Ticket:
    """Risk and the customer's own segment sort the work (staff-opened: no segment)."""
    application = new_application(request.application_type, request.form)
    segment = caller.segment if caller.is_customer else None
    priority, tier = sorted_work(ticket.priority, ticket.tier, application, segment)
    if request.priority is not None:
        priority = request.priority  # staff said so
    queue = TIER_QUEUES.get(tier, ticket.queue) if tier != ticket.tier else ticket.queue
    return replace(ticket, application=application, priority=priority, tier=tier, queue=queue)


def _checked(request: TicketRequest, caller: Caller, now: datetime) -> tuple[str, datetime]:
    """The owner and the receipt time, every offending field named at once (SPEC 4)."""
    errors: list[FieldError] = []
    customer_id, received_at = "", now
    try:
        customer_id = _owner(request, caller)
    except ValidationError as error:
        errors += error.errors
    try:
        received_at = _received_at(request, now)
    except ValidationError as error:
        named = {known.path for known in errors}  # a customer's received_at: said once
        errors += [found for found in error.errors if found.path not in named]
    if errors:
        raise ValidationError(errors)
    return customer_id, received_at


def _owner(request: TicketRequest, caller: Caller) -> str:
    if caller.is_customer:
        sent = [name for name in _STAFF_ONLY_FIELDS if getattr(request, name) is not None]
        if sent:
            raise ValidationError([FieldError(name, "may only be sent by staff") for name in sent])
        return caller.id
    if not request.customer_id:
        raise ValidationError([FieldError("customer_id", "is required when staff open a ticket")])
    return request.customer_id


def _received_at(request: TicketRequest, now: datetime) -> datetime:
    if request.received_at is None:
        return now
    if request.received_at > now:
        raise ValidationError([FieldError("received_at", "must not be in the future")])
    if now - request.received_at > RECEIVED_AT_MAX_AGE:
        raise ValidationError([FieldError("received_at", "must be within the past 30 days")])
    return request.received_at


def isoformat(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC: one form for every time the API shows, whatever zone computed it."""
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def ticket_view(ticket: Ticket, viewer: Caller | None = None) -> dict[str, Any]:
    """The ticket as every role sees it: contact details masked, times RFC 3339
    (a customer `viewer` sees no staff ids in the application)."""
    view: dict[str, Any] = {
        "id": ticket.id,
        "reference": ticket.reference,
        "customer_id": ticket.customer_id,
        "channel": ticket.channel,
        "kind": ticket.kind,
        "category": ticket.category,
        "subject": ticket.subject,
        "description": ticket.description,
        "priority": ticket.priority,
        "status": ticket.status,
        "tier": ticket.tier,
        "queue": ticket.queue,
        "assignee": ticket.assignee,
        "parent_id": ticket.parent_id,
        "contact": ticket.contact.masked(),
        "sla": {
            "first_response_due": isoformat(ticket.sla.first_response_due),
            "resolution_due": isoformat(ticket.sla.resolution_due),
            "first_responded_at": isoformat(ticket.sla.first_responded_at),
            "breaches": list(ticket.sla.breaches),
            "paused": ticket.sla.paused,
        },
        "created_at": isoformat(ticket.created_at),
        "updated_at": isoformat(ticket.updated_at),
        "received_at": isoformat(ticket.received_at),
        "version": ticket.version,
        "merged_into": ticket.merged_into,
    }
    if ticket.appointment is not None:
        view["appointment"] = dict(ticket.appointment)
    if ticket.application is not None:
        for_customer = viewer is not None and viewer.is_customer
        view["application"] = application_view(ticket.application, for_customer=for_customer)
    if ticket.kind == COMPLAINT:
        view["complaint"] = complaint_view(ticket)
    return view
