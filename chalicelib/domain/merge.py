"""Merging tickets about the same matter, and spotting likely duplicates at creation.

SPEC section 13. `merge` `{into}` closes an open ticket into another open ticket of
the same customer: the source records `merged_into` (its `ticket.status_changed`
carries action `merge`), the target keeps its clocks and gets `ticket.merged`
(`from`) on its timeline, which tells the customer once. The lifecycle table runs the
source's side (domain/lifecycle.py); this module checks the target and writes its
entry. Pure: nothing is read or written here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from chalicelib.domain.errors import ConflictError
from chalicelib.domain.events import Event, TicketMerged
from chalicelib.domain.identity import Caller
from chalicelib.domain.ticket import Ticket

DUPLICATE_WINDOW = timedelta(days=7)
MAX_DUPLICATES = 5


class MergeMismatchError(ConflictError):
    """The target is unknown, the ticket itself, not open, or another customer's."""


def check_target(source: Ticket, target: Ticket | None) -> Ticket:
    """The target, if it is another open ticket of the same customer; else 409."""
    if target is None:
        raise MergeMismatchError("No such ticket to merge into")
    if target.id == source.id:
        raise MergeMismatchError("A ticket cannot be merged into itself")
    if target.customer_id != source.customer_id:
        raise MergeMismatchError("Tickets of different customers are never merged")
    if not target.is_open:
        raise MergeMismatchError(
            f"The target is {target.status}; only an open ticket takes a merge"
        )
    return target


def merged_event(
    source: Ticket, target: Ticket, event_id: str, actor: Caller, at: datetime
) -> Event:
    """The target's timeline entry (its version does not change: the clocks stay)."""
    payload = TicketMerged(from_id=source.id, from_reference=source.reference)
    return Event.of(event_id, target.id, at, actor, payload)


def is_possible_duplicate(candidate: Ticket, new: Ticket) -> bool:
    """Same customer, kind and category, still open, opened in the last 7 days."""
    return (
        candidate.id != new.id
        and candidate.customer_id == new.customer_id
        and candidate.kind == new.kind
        and candidate.category == new.category
        and candidate.is_open
        and candidate.created_at >= new.created_at - DUPLICATE_WINDOW
    )


def possible_duplicates(newest_first: Iterable[Ticket], new: Ticket) -> list[str]:
    """At most 5 ids, newest first, from the customer's tickets read newest first."""
    found: list[str] = []
    for candidate in newest_first:
        if candidate.created_at < new.created_at - DUPLICATE_WINDOW:
            break
        if is_possible_duplicate(candidate, new):
            found.append(candidate.id)
            if len(found) == MAX_DUPLICATES:
                break
    return found
