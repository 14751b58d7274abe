"""Every timeline event on the EventBridge bus `servicedesk` (SPEC 12), without
personal data.

The detail is built from a whitelist: per event type, the `data` keys that carry
no contact details, bodies, subjects, reasons or comments. A key not listed (or
an event type added later and not yet reviewed) is left out, never let through.
At least once: consumers dedupe on `event_id`.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.events import Event, EventType, StatusChanged, TicketAssigned
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, isoformat
from chalicelib.service.ports import BusEntry, EventBus, ReactionLedger
from chalicelib.service.tickets import TicketSource

SOURCE = "servicedesk"
_SLOT = ("branch_id", "slot_start", "slot_end", "slot_time", "timezone")

# What each event type may tell the bank's other systems (`data` keys).
EXPORTED_KEYS: dict[EventType, frozenset[str]] = {
    EventType.TICKET_CREATED: frozenset({"channel", "kind", "queue", "parent_id", "score"}),
    EventType.STATUS_CHANGED: frozenset({"action", "resolution_count", "into", "from", "to"}),
    EventType.ASSIGNED: frozenset({"action", "assignee", "previous", "from", "to"}),
    EventType.ESCALATED: frozenset({"action", "tier", "queue", "previous_assignee"}),
    EventType.ANONYMIZED: frozenset({"action"}),
    EventType.COMMENT_ADDED: frozenset({"internal", "channel"}),
    EventType.SLA_BREACHED: frozenset({"metric", "due", "tier"}),
    EventType.SLA_EXTENDED: frozenset({"action", "resolution_due"}),
    EventType.NOTIFICATION_SENT: frozenset(
        {"source_event", "channel", "template", "provider_message_id"}
    ),
    EventType.NOTIFICATION_SKIPPED: frozenset({"source_event", "template"}),
    EventType.NOTIFICATION_FAILED: frozenset({"source_event", "channel", "template"}),
    EventType.NOTIFICATION_UNKNOWN: frozenset({"source_event", "template"}),
    EventType.NOTIFICATION_OPTED_OUT: frozenset({"channel"}),
    EventType.SURVEY_INVITED: frozenset({"survey_id", "round"}),
    EventType.SURVEY_REMINDED: frozenset({"survey_id", "round"}),
    EventType.SURVEY_ANSWERED: frozenset({"survey_id", "score", "agent"}),
    EventType.SURVEY_EXPIRED: frozenset({"survey_id"}),
    EventType.SURVEY_SKIPPED: frozenset(),
    EventType.APPOINTMENT_BOOKED: frozenset(_SLOT),
    EventType.APPOINTMENT_REMINDED: frozenset(_SLOT),
    EventType.APPOINTMENT_RESCHEDULED: frozenset({"action", *_SLOT, "previous_slot_start"}),
    # Complaints (SPEC 13): codes, counts and dates; never the staff note.
    EventType.COMPLAINT_CLASSIFIED: frozenset(
        {"action", "business", "cause", "previous_business", "previous_cause"}
    ),
    EventType.EXTENSION_REQUESTED: frozenset({"action"}),
    EventType.CLOCK_SUSPENDED: frozenset({"action"}),  # `reason` is a free-text key elsewhere
    EventType.CLOCK_RESUMED: frozenset(
        {"action", "suspended_seconds", "resolution_due", "due_date"}
    ),
    # Review and merge (SPEC 13): ticket ids and references; never the review's reason.
    EventType.REVIEW_REQUESTED: frozenset({"review_id"}),
    EventType.MERGED: frozenset({"from", "from_reference"}),
}


def exported_data(event: Event) -> dict[str, Any]:
    """The event's `data` with only its type's whitelisted keys (none for a type not
    reviewed yet)."""
    allowed = EXPORTED_KEYS.get(event.type, frozenset())
    return {key: value for key, value in event.data.items() if key in allowed}


def _moved_to(event: Event) -> Status | None:
    """The status the event left the ticket in, when it says so (a status change, an
    assignment that moved it out of `new`)."""
    moved = event.payload_as(StatusChanged) or event.payload_as(TicketAssigned)
    return moved.to_status if moved else None


def export_detail(event: Event, ticket: Ticket | None) -> dict[str, Any]:
    """SPEC 12's detail. `status` is where the event left the ticket when it says so
    (a status change), else the ticket's status when exported."""
    moved_to = _moved_to(event)
    return {
        "event_id": event.id,
        "ticket_id": event.ticket_id,
        "reference": ticket.reference if ticket else None,
        "customer_id": ticket.customer_id if ticket else None,
        "kind": ticket.kind if ticket else None,
        "status": str(moved_to or (ticket.status if ticket else "")) or None,
        "at": isoformat(event.at),  # RFC 3339, UTC, as the API shows times
        "actor": {"role": str(event.actor.role)},
        "data": exported_data(event),
    }


def bus_entry(event: Event, ticket: Ticket | None) -> BusEntry:
    return BusEntry(
        source=SOURCE,
        detail_type=str(event.type),
        detail=export_detail(event, ticket),
        at=event.at,
    )


def export_event(
    event: Event, bus: EventBus, ledger: ReactionLedger, tickets: TicketSource
) -> None:
    """Put the event on the bus once per event id; a refusal gives the claim back and
    raises, so the stream's retry puts it again."""
    if not ledger.claim(event.id, "export"):
        return
    try:
        bus.put([bus_entry(event, tickets.get(event.ticket_id))])
    except Exception:
        ledger.release(event.id, "export")
        raise
