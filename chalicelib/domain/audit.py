"""The audit log: who read or changed which ticket, when (SPEC section 10). Pure.

Writes are already events; the stream turns every staff event into an audit
entry keyed by the event id (so a redelivery rewrites the same entry). Reads
leave no event, so the API records them itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from chalicelib.domain.events import ActionTaken, CommentAdded, Event, EventType, Payload
from chalicelib.domain.identity import STAFF_ROLES, Caller
from chalicelib.domain.statuses import Action
from chalicelib.domain.ticket import isoformat

READ_TICKET = "read_ticket"
READ_TIMELINE = "read_timeline"
LIST_TICKETS = "list_tickets"
LIST_INBOX = "list_inbox"
READ_PREFERENCES = "read_preferences"
ERASE_CUSTOMER = "erase_customer"
# Actions whose status move is a second, derived event of the same write.
_DERIVED_MOVES = frozenset({Action.ASSIGN, Action.ESCALATE})


class AuditEntry(msgspec.Struct, frozen=True):
    id: str  # the event id for writes: one entry per event, however often it is delivered
    at: datetime
    actor: Caller
    action: str
    ticket_id: str | None = None
    customer_id: str | None = None
    # A list read: the filters it was asked with (ids and statuses, never personal data).
    query: Mapping[str, str] | None = None
    # A triage inbox item read or handled (SPEC 12): which message, linked or not.
    inbox_id: str | None = None


def entry_for_event(event: Event) -> AuditEntry | None:
    """The audit entry of a staff member's write; None for customers and the system."""
    if event.actor.role not in STAFF_ROLES:
        return None
    payload = event.payload()
    if event.type == EventType.STATUS_CHANGED and _action_of(payload) in _DERIVED_MOVES:
        return None
    return AuditEntry(
        event.id, event.at, event.actor, _action(event, payload), ticket_id=event.ticket_id
    )


def _action_of(payload: Payload) -> str:
    return payload.action if isinstance(payload, ActionTaken) else ""


def _action(event: Event, payload: Payload) -> str:
    if event.type == EventType.TICKET_CREATED:
        return "create"
    if isinstance(payload, CommentAdded):
        return "internal_note" if payload.internal else "comment"
    return str(_action_of(payload) or event.type)


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    view: dict[str, Any] = {
        "at": isoformat(entry.at),
        "actor": {"role": entry.actor.role.value, "id": entry.actor.id},
        "action": entry.action,
        "ticket_id": entry.ticket_id,
    }
    if entry.customer_id is not None:
        view["customer_id"] = entry.customer_id
    if entry.query:
        view["query"] = dict(entry.query)
    if entry.inbox_id is not None:
        view["inbox_id"] = entry.inbox_id
    return view
