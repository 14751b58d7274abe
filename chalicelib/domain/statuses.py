"""Ticket statuses and lifecycle actions (SPEC section 5): a leaf module, so the routes
can name them cheaply. Values are the wire strings (API, table, stream)."""

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Action(StrEnum):
    """What `POST /v1/tickets/{id}/actions` may ask; domain/lifecycle.RULES says what each does."""

    ASSIGN = "assign"
    START = "start"
    REQUEST_INFO = "request_info"
    RESUME = "resume"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"
    CANCEL = "cancel"
    ESCALATE = "escalate"
    EXTEND = "extend"
    RESCHEDULE = "reschedule"
    REVIEW_DOCUMENT = "review_document"
    APPROVE = "approve"
    REJECT = "reject"
    CLASSIFY = "classify"
    SUSPEND_CLOCK = "suspend_clock"
    RESUME_CLOCK = "resume_clock"
    MERGE = "merge"


OPEN_STATUSES = frozenset(
    {Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER}
)
FINISHED_STATUSES = frozenset({Status.CLOSED, Status.CANCELLED})
STATUSES = (*sorted(OPEN_STATUSES), Status.RESOLVED, *sorted(FINISHED_STATUSES))
