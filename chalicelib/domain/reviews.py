"""The review (核查) of a concluded complaint, and the recusal of whoever handled it.

SPEC section 13: within 30 days after a complaint is resolved or closed, its owner
(or staff for them) may ask for a review. The review is a new complaint ticket in the
`complaint-review` queue, tier 2, priority high, due 30 calendar days after the
request; the original names it in `reviewed_by`, the review names the original in
`review_of`. Nobody who acted on the original may work the review.

Recusal is decided once, when the review opens: the original's timeline is read then
and the staff ids of every entry's actor are copied onto the review (`recused`).
Every later check (assign, claim, each action, comments and notes) is a look at the
review ticket itself, which every such call has read anyway: no timeline read per
action. Staff who act on the original after the review opened are not added (the
original is concluded by then; its timeline takes only notes and notifications).

Pure: nothing is read or written here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from msgspec.structs import replace

from chalicelib.domain.complaints import COMPLAINT, Complaint, complaint_of
from chalicelib.domain.errors import ConflictError, ForbiddenError
from chalicelib.domain.events import Event, ReviewRequested, TicketAssigned, TicketEscalated
from chalicelib.domain.identity import WORKING_ROLES, Caller
from chalicelib.domain.routing import Route
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Sla, Ticket, TicketRequest, created_event, new_ticket

REVIEW_ROUTE = Route(queue="complaint-review", tier=2, priority="high")
REVIEW_WINDOW = timedelta(days=30)  # after the resolution
REVIEW_DEADLINE = timedelta(days=30)  # calendar days after the request
REVIEWABLE_STATUSES = frozenset({Status.RESOLVED, Status.CLOSED})
_SUBJECT_MAX = 200


class ReviewExistsError(ConflictError):
    """The complaint has had its one review already."""


class ReviewWindowClosedError(ConflictError):
    """More than 30 days have passed since the complaint was resolved."""


class NotReviewableError(ConflictError):
    """Only a resolved or closed complaint (not itself a review) can be reviewed."""


class RecusalError(ForbiddenError):
    """The staff member acted on the complaint this review re-examines."""


def check_reviewable(original: Ticket, now: datetime) -> None:
    """409 unless `original` is a concluded complaint still open to its one review."""
    if original.kind != "complaint":
        raise NotReviewableError("Only a complaint can be reviewed")
    if original.review_of is not None:
        raise NotReviewableError("A review is itself final; it cannot be reviewed")
    if original.status not in REVIEWABLE_STATUSES:
        raise NotReviewableError(
            f"Only a resolved or closed complaint can be reviewed; it is {original.status}"
        )
    if original.reviewed_by is not None:
        raise ReviewExistsError(f"The complaint has been reviewed already ({original.reviewed_by})")
    if now > review_window_ends(original):
        raise ReviewWindowClosedError("A review must be asked within 30 days of the decision")


def review_window_ends(original: Ticket) -> datetime:
    """30 days after the (latest) resolution: the decision the customer was told of."""
    decided = original.resolved_at or original.updated_at
    return decided + REVIEW_WINDOW


def recused_staff(original: Ticket, timeline: Iterable[Event]) -> tuple[str, ...]:
    """Every agent or supervisor with an entry on the original's timeline (and its holder).
    The system (the SLA sweep, survey expiry) is nobody to recuse: it must still close
    the review."""
    ids: set[str | None] = {original.assignee}
    for event in timeline:
        if event.actor.role in WORKING_ROLES:
            ids.add(event.actor.id)
        # Assigned is an entry too (SPEC 13), also for one since replaced or escalated away.
        assigned = event.payload_as(TicketAssigned)
        if assigned is not None:
            ids.update((assigned.assignee, assigned.previous))
        escalated = event.payload_as(TicketEscalated)
        if escalated is not None:
            ids.add(escalated.previous_assignee)
    return tuple(sorted(staff for staff in ids if staff))


def check_recusal(ticket: Ticket, caller: Caller, assignee: str | None = None) -> None:
    """403 `recusal` when the caller, or the one they assign, handled the original."""
    if caller.role in WORKING_ROLES and caller.id in ticket.recused:
        raise RecusalError(f"{caller.id} acted on {ticket.review_of} and may not work its review")
    if assignee is not None and assignee in ticket.recused:
        raise RecusalError(f"{assignee} acted on {ticket.review_of} and may not work its review")


class ReviewIds:
    """The fresh ids a review needs (drawn by the service)."""

    def __init__(
        self, ticket_id: str, reference: str, created_event: str, requested_event: str
    ) -> None:
        self.ticket_id = ticket_id
        self.reference = reference
        self.created_event = created_event
        self.requested_event = requested_event


def open_review(
    original: Ticket,
    reason: str,
    caller: Caller,
    ids: ReviewIds,
    *,
    recused: tuple[str, ...],
    first_response_due: datetime | None,
    now: datetime,
) -> tuple[Ticket, Event, Ticket, Event]:
    """The review ticket and its `ticket.created`; the original (version raised, naming
    the review) and its `complaint.review_requested`. Call check_reviewable first.
    The review is a complaint with facts of its own, nothing extended, classified as the
    original was (the same matter: SPEC 13's classification rule holds for it too)."""
    original_facts = complaint_of(original)
    about = TicketRequest(
        channel=original.channel,
        kind=COMPLAINT,
        category=original.category,
        subject=f"Review of {original.reference}: {original.subject}"[:_SUBJECT_MAX],
        description=reason,
        contact=None,  # the original's is taken as it is
    )
    opened = new_ticket(
        about,
        original.customer_id,
        original.contact,
        REVIEW_ROUTE,
        ticket_id=ids.ticket_id,
        reference=ids.reference,
        received_at=now,
        now=now,
    )
    review = replace(
        opened,
        # Its own regulatory clock: 30 calendar days from the request, never paused.
        sla=Sla(
            first_response_due=first_response_due,
            resolution_due=now + REVIEW_DEADLINE,
            unpaused=("resolution",),
        ),
        review_of=original.id,
        recused=recused,
        complaint=Complaint(business=original_facts.business, cause=original_facts.cause),
    )
    review_created = created_event(review, ids.created_event, caller)
    requested = ReviewRequested(review_id=review.id, reason=reason)
    requested_event = Event.of(ids.requested_event, original.id, now, caller, requested)
    reviewed = replace(
        original, reviewed_by=review.id, updated_at=now, version=original.version + 1
    )
    return review, review_created, reviewed, requested_event
