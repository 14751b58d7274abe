"""Event items: the outbox written with every state change, and the timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.identity import Caller

TICKET_CREATED = "ticket.created"

# Customers see only these types on their own timeline (SPEC section 5).
CUSTOMER_VISIBLE_TYPES = frozenset(
    {
        TICKET_CREATED,
        "ticket.status_changed",
        "comment.added",
        "notification.sent",
        "survey.invited",
        "survey.reminded",
        "survey.answered",
        "survey.expired",
        "appointment.booked",
        "appointment.rescheduled",
        "appointment.reminded",
    }
)


@dataclass(frozen=True)
class Event:
    id: str
    ticket_id: str
    type: str
    at: datetime
    actor: Caller
    data: dict[str, Any] = field(default_factory=dict)
