"""Erasure on request (PIPL) and retention: what anonymizing a customer's records means. Pure.

The customer's contact details go, and every free text on their tickets goes
too (their own words, and staff replies and notes, which quote them): subject,
description, comment bodies, request-info messages, resolutions, reasons,
survey comments. What stays is what the statistics and the audit need: ids,
kinds, channels, queues, statuses, times, scores.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from msgspec.structs import replace

from chalicelib.domain.applications import Application
from chalicelib.domain.contact import Contact
from chalicelib.domain.events import NOTIFICATION_TYPES, Event, EventType, TicketAnonymized
from chalicelib.domain.identity import Caller
from chalicelib.domain.ticket import FINISHED_STATUSES, Ticket

ERASED = "[erased]"
DEFAULT_RETENTION = timedelta(days=5 * 365 + 1)  # five years
FREE_TEXT_FIELDS = frozenset(
    {"body", "message", "resolution", "reason", "comment", "subject", "description"}
    | {"filename", "note"}  # documents and application decisions (SPEC 11)
)
# Where the customer's address shows (masked, still personal) in notification records.
CONTACT_FIELDS = frozenset({"to", "phone", "email", "destination"})


def erasable(ticket: Ticket) -> bool:
    """Only closed or cancelled tickets are anonymized (SPEC: 409 while any is open or resolved)."""
    return ticket.status in FINISHED_STATUSES


def anonymized_ticket(ticket: Ticket, now: datetime) -> Ticket:
    contact = Contact(phone=None, email=None, preferred="none", locale=ticket.contact.locale)
    return replace(
        ticket,
        subject=ERASED,
        description="",
        contact=contact,
        updated_at=now,
        version=ticket.version + 1,
        application=_anonymized_application(ticket.application),
    )


def is_erased(ticket: Ticket) -> bool:
    """The ticket was anonymized (`anonymized_ticket`, written in the same transaction as
    `ticket.anonymized`): its subject erased and no address left."""
    contact = ticket.contact
    return ticket.subject == ERASED and not (contact.phone or contact.email)


def _anonymized_application(application: Application | None) -> Application | None:
    """The form is the customer's own data; a decision's reason is free text."""
    if application is None:
        return None
    decision = application.decision
    if decision is not None and decision.reason:
        decision = replace(decision, reason=ERASED)
    return replace(application, form={}, decision=decision)


def anonymized_event(event: Event) -> Event | None:
    """The event without personal data; None when it holds none."""
    data = _anonymized_data(event)
    return None if data == event.data else replace(event, data=data)


def _anonymized_data(event: Event) -> dict[str, Any]:
    data = dict(event.data)
    for name, value in event.data.items():
        if name in FREE_TEXT_FIELDS and isinstance(value, str) and value:
            data[name] = ERASED
        elif name == "attachments" and isinstance(value, list):
            # An email's attachments (SPEC 12): their file names are the customer's.
            data[name] = [_erased(item) for item in value]
        # `to` of a status change is a status, not an address.
        elif name in CONTACT_FIELDS and event.type in NOTIFICATION_TYPES and value:
            data[name] = ""
    return data


def anonymized_response(body: str) -> str:
    """A stored response (JSON) with the free text and contact details erased, so an
    idempotent retry after an erasure gets the same answer without the personal data,
    and never a second ticket or booking."""
    try:
        document = json.loads(body)
    except ValueError:
        return json.dumps({"erased": True})
    return json.dumps(_erased(document), ensure_ascii=False)


def _erased(value: Any, name: str = "") -> Any:
    if name == "contact" and isinstance(value, dict):  # as an anonymized ticket shows it
        return {**value, "phone": None, "email": None, "preferred": "none"}
    if name == "form" and isinstance(value, dict):  # an application's form, all the customer's
        return {}
    if isinstance(value, dict):
        return {key: _erased(item, key) for key, item in value.items()}
    if isinstance(value, list):
        return [_erased(item) for item in value]
    if isinstance(value, str) and value and (name in FREE_TEXT_FIELDS or name in CONTACT_FIELDS):
        return ERASED
    return value


def anonymization_event(ticket: Ticket, event_id: str, caller: Caller, now: datetime) -> Event:
    """The staff-only timeline entry that says the ticket was anonymized, and by whom."""
    return Event.of(event_id, ticket.id, now, caller, TicketAnonymized())


def is_anonymized(events: list[Event]) -> bool:
    return any(event.type == EventType.ANONYMIZED for event in events)


def retention_expiry(finished_at: datetime, retention: timedelta) -> int:
    """The TTL (epoch seconds) of a closed or cancelled ticket's records."""
    return int((finished_at + retention).timestamp())
