"""Merge use case (the write of both tickets) and possible duplicates at creation."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from chalicelib.domain.events import Event
from chalicelib.domain.merge import check_target, merged_event, possible_duplicates
from chalicelib.domain.ticket import Ticket
from chalicelib.service.idempotency import StoredResponse
from chalicelib.service.ports import IdSource, ListQuery, TicketRepository, TicketWrite

_PAGE = 20
_TICKET_ID_LENGTH = 64


def merge_target(repository: TicketRepository, source: Ticket, closed: Ticket) -> Ticket | None:
    """The ticket a `merge` goes into (None for any other action), read and checked:
    MergeMismatchError (409) when it is unknown, the source itself, not open or
    another customer's."""
    into = closed.merged_into
    if into is None or source.merged_into is not None:
        return None
    found = repository.get(into) if 0 < len(into) <= _TICKET_ID_LENGTH else None
    return check_target(source, found)


def target_write(ids: IdSource, source: Ticket, events: list[Event], target: Ticket) -> TicketWrite:
    """The target's part of a merge: `ticket.merged` on its timeline, checked to be at the
    version read (its version stays: it keeps its clocks)."""
    first = events[0]
    merged = merged_event(source, target, ids.event_id(), first.actor, first.at)
    return TicketWrite(target.id, target.version, None, [merged])


def commit_merge(
    repository: TicketRepository,
    ids: IdSource,
    source: Ticket,
    closed: Ticket,
    events: list[Event],
    *,
    target: Ticket,
) -> Ticket:
    """Write the closed source and the target's `ticket.merged` in one transaction, both
    on the versions read. (An appointment's merge also frees its seat: the appointment
    commit writes it, with the same target part.)

    Raises VersionConflictError if either ticket moved since it was read.
    """
    repository.commit_many(
        [
            TicketWrite(source.id, source.version, closed, events),
            target_write(ids, source, events, target),
        ]
    )
    return closed


def find_possible_duplicates(repository: TicketRepository, ticket: Ticket) -> list[str]:
    """The customer's open tickets like this new one from the last 7 days (at most 5).

    A key query on the by_customer index, newest first, read page by page only until
    the first ticket older than 7 days: never a scan.
    """
    return possible_duplicates(_newest_first(repository, ticket.customer_id), ticket)


def _newest_first(repository: TicketRepository, customer_id: str) -> Iterator[Ticket]:
    query = ListQuery("customer", customer_id, None, _PAGE)
    while True:
        page = repository.query_tickets(query)
        yield from page.items
        if page.next_key is None:
            return
        query = ListQuery("customer", customer_id, None, _PAGE, page.next_key)


RenderCreated = Callable[[Ticket, list[str]], StoredResponse]


def with_possible_duplicates(
    repository: TicketRepository, render: RenderCreated
) -> Callable[[Ticket], StoredResponse]:
    """A ticket renderer that adds `possible_duplicates` to the 201. The response is
    stored with the Idempotency-Key, so a replay answers the same list."""

    def rendered(ticket: Ticket) -> StoredResponse:
        return render(ticket, find_possible_duplicates(repository, ticket))

    return rendered
