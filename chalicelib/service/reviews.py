"""Review (核查) use case: open the review of a concluded complaint (SPEC section 13)."""

from __future__ import annotations

from datetime import datetime

from msgspec.structs import replace

from chalicelib.domain.errors import ForbiddenError
from chalicelib.domain.identity import WORKING_ROLES, Caller, Role
from chalicelib.domain.reviews import (
    REVIEW_ROUTE,
    ReviewIds,
    check_reviewable,
    open_review,
    recused_staff,
)
from chalicelib.domain.sla import start_clocks
from chalicelib.domain.ticket import Sla, Ticket
from chalicelib.service import idempotency as keys
from chalicelib.service.idempotency import StoredResponse
from chalicelib.service.ports import (
    IdempotencyRecord,
    ReferenceTakenError,
    TicketWrite,
    VersionConflictError,
)
from chalicelib.service.retries import REFERENCE_ATTEMPTS, retrying
from chalicelib.service.tickets import Answer, TicketPorts, get_ticket

_ASKING_ROLES = frozenset({Role.CUSTOMER, *WORKING_ROLES})


def request_review(
    ports: TicketPorts, caller: Caller, ticket_id: str, reason: str, *, answer: Answer[Ticket]
) -> StoredResponse:
    """Open the review of complaint `ticket_id`: the new complaint, the original naming
    it, both events (and the stored response) in one transaction.

    Order (SPEC 3): 404 (not the caller's), 403 (role), 400 (body), 409 (not a
    concluded complaint, reviewed already, past 30 days). Of two racing requests one
    wins; the other reads the original again and gets 409 `review-exists`.
    """

    def attempt() -> StoredResponse:
        original = get_ticket(ports, caller, ticket_id)
        if caller.role not in _ASKING_ROLES:
            raise ForbiddenError(f"The {caller.role.value} role may not ask for a review")
        if answer.invalid is not None:
            raise answer.invalid
        replay = keys.replay(ports.repository, answer.idempotency, ports.clock())
        if replay is not None:
            return replay
        now = ports.clock()
        check_reviewable(original, now)
        return _write(ports, caller, original, reason, answer, now=now)

    return retrying(
        attempt, attempts=REFERENCE_ATTEMPTS, also=(ReferenceTakenError, VersionConflictError)
    )


def _write(
    ports: TicketPorts,
    caller: Caller,
    original: Ticket,
    reason: str,
    answer: Answer[Ticket],
    *,
    now: datetime,
) -> StoredResponse:
    # The original's timeline is read once, here; the review keeps who may not work it.
    recused = recused_staff(original, ports.repository.events(original.id))
    ids = ReviewIds(
        ports.ids.ticket_id(), ports.ids.reference(), ports.ids.event_id(), ports.ids.event_id()
    )
    review, created, reviewed, requested = open_review(
        original,
        reason,
        caller,
        ids,
        recused=recused,
        first_response_due=_first_response_due(ports, original, now),
        now=now,
    )
    response = answer.render(review)
    writes = [
        TicketWrite(review.id, None, review, [created]),
        TicketWrite(original.id, original.version, reviewed, [requested]),
    ]

    def write(record: IdempotencyRecord | None) -> None:
        ports.repository.commit_many(writes, record)

    return keys.kept(
        ports.repository, answer.idempotency, response, write, now=now, clock=ports.clock
    )


def _first_response_due(ports: TicketPorts, original: Ticket, now: datetime) -> datetime | None:
    """The complaint policy's first response, counted from the request (none without
    SLA rules); the resolution clock is the review's own 30 calendar days."""
    if ports.sla is None:
        return None
    probe = replace(original, priority=REVIEW_ROUTE.priority, received_at=now, sla=Sla())
    return start_clocks(probe, ports.sla).first_response_due
