"""What each role sees of a ticket's timeline."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.events import CUSTOMER_VISIBLE_TYPES, CommentAdded, Event
from chalicelib.domain.identity import Caller


def is_visible(event: Event, caller: Caller) -> bool:
    if caller.is_staff:
        return True
    if event.type not in CUSTOMER_VISIBLE_TYPES:
        return False
    comment = event.payload_as(CommentAdded)
    return not (comment is not None and comment.internal)


def visible_events(events: list[Event], caller: Caller) -> list[Event]:
    return [event for event in events if is_visible(event, caller)]


def event_view(event: Event, caller: Caller) -> dict[str, Any]:
    """A timeline entry; customers see staff by role only, never their ids."""
    actor: dict[str, Any] = {"role": event.actor.role.value}
    if caller.is_staff or not event.actor.is_staff:
        actor["id"] = event.actor.id
    return {
        "id": event.id,
        "type": event.type,
        "at": event.at.isoformat(timespec="seconds"),
        "actor": actor,
        "data": _data_for(event, caller),
    }


# Data keys customers never see: staff ids (SPEC 5: staff appear to them by role only)
# and internal references. `agent` is the resolver a survey answer is credited to.
_STAFF_ONLY_DATA = (
    "agent",
    "assignee",
    "previous",
    "previous_assignee",
    "queue",
    "provider_message_id",
    "source_event",
    "inbox_id",  # the triage inbox item an email or SMS came through (SPEC 12)
    "mail_source",  # the stored raw email's key in the inbound bucket
    "note",  # a staff note on an action (approve): SPEC 5 shows customers the message only
)


def _data_for(event: Event, caller: Caller) -> dict[str, Any]:
    if caller.is_staff:
        return dict(event.data)
    return {key: value for key, value in event.data.items() if key not in _STAFF_ONLY_DATA}
