"""The application actions of the transition table (SPEC 11): `review_document`, `approve`,
`reject`. domain/lifecycle.py holds their rows and calls the checks and effects here.

`review_document` only records the verdict here; service/applications.py reads the
document, moves it and the checklist, and writes document, ticket and event at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from msgspec.structs import replace

from chalicelib.domain.applications import (
    Application,
    ApprovalPendingError,
    ChecklistIncompleteError,
    Decision,
    FourEyesError,
    PendingApproval,
    new_application,
)
from chalicelib.domain.documents import VERDICTS
from chalicelib.domain.errors import FieldError, IllegalTransitionError, ValidationError
from chalicelib.domain.events import ApprovalRequested, DocumentReviewed, Payload, StatusChanged
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.statuses import Action, Status
from chalicelib.domain.ticket import Ticket, held_to

APPLICATION_ACTIONS = frozenset({Action.REVIEW_DOCUMENT, Action.APPROVE, Action.REJECT})
DECISIONS = frozenset({Action.APPROVE, Action.REJECT})
_DOCUMENT_ID = r"D-[0-9A-Za-z]{1,40}"


def application_of(ticket: Ticket) -> Application:
    """The ticket's application; a general one (no type) when it has none stored."""
    return ticket.application or new_application(None, {})


def check_params(action: Action, params: Mapping[str, Any]) -> None:
    """400 for a verdict that is neither accepted nor rejected (after the generic checks)."""
    if action == Action.REVIEW_DOCUMENT and params.get("verdict") not in VERDICTS:
        raise ValidationError([FieldError("verdict", "must be one of: accepted, rejected")])


def check_state(ticket: Ticket, action: Action, caller: Caller) -> None:
    """After the status check: kind (409; a catalogue application is never plainly
    resolved), four-eyes (403), pending approval and the checklist (409)."""
    if action in APPLICATION_ACTIONS and ticket.kind != "application":
        raise IllegalTransitionError(action, ticket.status, "not an application")
    application = application_of(ticket)
    if action == Action.RESOLVE and ticket.kind == "application" and application.type is not None:
        # A plain resolve would end it with no decision, no checklist and no checker. A
        # general application (no type) keeps `resolve` for the clients that use it.
        raise IllegalTransitionError(
            action, ticket.status, "an application ends by approve or reject"
        )
    pending = application.pending_approval
    if action in DECISIONS and pending is not None:
        if caller.id == pending.by:
            raise FourEyesError("The maker of an approval may not also check it")
        if caller.role is not Role.SUPERVISOR:
            raise FourEyesError("Only a supervisor may check an approval")
    if action == Action.REVIEW_DOCUMENT and pending is not None:
        raise ApprovalPendingError("Documents cannot be reviewed while an approval is pending")
    if action == Action.APPROVE and pending is None and application.incomplete():
        missing = ", ".join(application.incomplete())
        raise ChecklistIncompleteError(f"Required documents not accepted yet: {missing}")


def review_document(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    payload = DocumentReviewed(
        document_id=str(params["document_id"]),
        verdict=str(params["verdict"]),
        reason=str(params["reason"]),
    )
    return ticket, payload


def approve(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    application = application_of(ticket)
    note = params.get("note") or None
    if application.is_dual and application.pending_approval is None:
        pending = PendingApproval(at=now, by=caller.id)
        changed = replace(ticket, application=replace(application, pending_approval=pending))
        return changed, ApprovalRequested(note=note)
    return _decided(
        ticket, application, outcome="approved", reason=None, caller=caller, now=now, note=note
    )


def reject(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    reason = str(params["reason"])
    return _decided(
        ticket, application_of(ticket), outcome="rejected", reason=reason, caller=caller, now=now
    )


def _decided(
    ticket: Ticket,
    application: Application,
    *,
    outcome: str,
    reason: str | None,
    caller: Caller,
    now: datetime,
    note: str | None = None,
) -> tuple[Ticket, Payload]:
    """Resolved with the decision; a pending approval's maker is kept, the caller checks."""
    pending = application.pending_approval
    decision = Decision(
        outcome=outcome,
        reason=reason,
        at=now,
        maker=pending.by if pending else caller.id,
        checker=caller.id if pending else None,
    )
    count = ticket.resolutions + 1
    changed = replace(
        ticket,
        status=Status.RESOLVED,
        resolutions=count,
        resolved_at=now,
        application=replace(application, pending_approval=None, decision=decision),
    )
    action = Action.APPROVE if outcome == "approved" else Action.REJECT
    payload = StatusChanged(
        action=action,
        from_status=ticket.status,
        to_status=Status.RESOLVED,
        resolution_count=count,
        reason=reason,
        outcome=outcome,
        note=note,
        resolution_due=held_to(changed),
    )
    return changed, payload
