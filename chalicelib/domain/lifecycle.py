"""The ticket lifecycle: which action may run from which status, by whom, and what it does.

Pure: `apply_action` and `add_comment` return the changed ticket and the event
items to write with it; nothing is read or written here. Checks run in the
order SPEC section 3 fixes: role (403), parameters (400), status (409).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec
from msgspec.structs import replace

from chalicelib.domain import application_actions, complaints
from chalicelib.domain.complaints import ComplaintCodes
from chalicelib.domain.errors import FieldError, ForbiddenError, IllegalTransitionError
from chalicelib.domain.errors import ValidationError as RequestValidationError
from chalicelib.domain.events import (
    COMMENT,
    AppointmentRescheduled,
    CommentAdded,
    Event,
    Payload,
    StatusChanged,
    TicketAssigned,
    TicketEscalated,
)
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.reviews import check_recusal
from chalicelib.domain.routing import TIER_QUEUES
from chalicelib.domain.statuses import Action, Status
from chalicelib.domain.ticket import OPEN_STATUSES, PRIORITY_RANK, Ticket, held_to

MAX_TIER = 3
# Nobody holds the ticket yet, or it can still change hands.
UNHELD = frozenset({Status.NEW, Status.ASSIGNED})
# What `claim` hands out: unassigned tickets in status new (SPEC 5). An escalation keeps
# the status (SPEC 6): a ticket escalated out of `assigned` (or later) is picked up with
# `assign`, which SPEC 5 allows on it, never handed out by `claim`.
CLAIMABLE_STATUSES = frozenset({Status.NEW})

NewEventId = Callable[[], str]


class Actor(StrEnum):
    """Who may run an action, relative to the ticket."""

    OWNER = "owner"
    AGENT = "agent"
    ASSIGNEE = "assignee"
    SUPERVISOR = "supervisor"
    SYSTEM = "system"


class Rule(msgspec.Struct, frozen=True):
    sources: frozenset[Status]
    target: Status | None  # None: the status stays
    actors: frozenset[Actor]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


def _rule(
    sources: set[Status] | frozenset[Status], target: Status | None, *actors: Actor, **params: Any
) -> Rule:
    return Rule(frozenset(sources), target, frozenset(actors), **params)


_WORKERS = (Actor.ASSIGNEE, Actor.SUPERVISOR)
OPEN = OPEN_STATUSES

# The transition table: the one list of actions (the ticket-action schema's enum is tested
# against it).
RULES: dict[Action, Rule] = {
    Action.ASSIGN: _rule(
        OPEN, Status.ASSIGNED, Actor.AGENT, Actor.SUPERVISOR, optional=("assignee",)
    ),
    Action.START: _rule({Status.ASSIGNED}, Status.IN_PROGRESS, *_WORKERS),
    Action.REQUEST_INFO: _rule(
        {Status.IN_PROGRESS}, Status.WAITING_ON_CUSTOMER, *_WORKERS, required=("message",)
    ),
    Action.RESUME: _rule({Status.WAITING_ON_CUSTOMER}, Status.IN_PROGRESS, *_WORKERS),
    Action.RESOLVE: _rule(
        {Status.IN_PROGRESS}, Status.RESOLVED, *_WORKERS, required=("resolution",)
    ),
    Action.REOPEN: _rule(
        {Status.RESOLVED},
        Status.IN_PROGRESS,
        Actor.OWNER,
        Actor.AGENT,
        Actor.SUPERVISOR,
        optional=("reason",),
    ),
    Action.CLOSE: _rule({Status.RESOLVED}, Status.CLOSED, Actor.SUPERVISOR, Actor.SYSTEM),
    Action.CANCEL: _rule(
        OPEN, Status.CANCELLED, Actor.OWNER, Actor.AGENT, Actor.SUPERVISOR, optional=("reason",)
    ),
    Action.ESCALATE: _rule(OPEN, None, Actor.AGENT, Actor.SUPERVISOR, required=("reason",)),
    Action.EXTEND: _rule(OPEN, None, Actor.SUPERVISOR, required=("reason",)),
    Action.RESCHEDULE: _rule(
        OPEN, None, Actor.OWNER, Actor.AGENT, Actor.SUPERVISOR, required=("slot_start",)
    ),
    # SPEC 11: the document's new status and the checklist come from service/applications.
    Action.REVIEW_DOCUMENT: _rule(
        {Status.IN_PROGRESS}, None, *_WORKERS, required=("document_id", "verdict", "reason")
    ),
    # Dual approval: the maker's approve keeps the status (pending); the checker's resolves.
    Action.APPROVE: _rule({Status.IN_PROGRESS}, Status.RESOLVED, *_WORKERS, optional=("note",)),
    Action.REJECT: _rule({Status.IN_PROGRESS}, Status.RESOLVED, *_WORKERS, required=("reason",)),
    # Complaints (SPEC 13); `extend` above is the complaint ladder's step.
    Action.CLASSIFY: _rule(
        OPEN, None, Actor.AGENT, Actor.SUPERVISOR, required=("business", "cause")
    ),
    # SPEC 13: `{reason, note}`, both required (what is appraised, by whom); resume takes none.
    Action.SUSPEND_CLOCK: _rule(OPEN, None, Actor.SUPERVISOR, required=("reason", "note")),
    Action.RESUME_CLOCK: _rule(OPEN, None, Actor.SUPERVISOR),
    # The target (another open ticket of the customer) is checked and written with the
    # source by service/merge.py.
    Action.MERGE: _rule(OPEN, Status.CLOSED, Actor.AGENT, Actor.SUPERVISOR, required=("into",)),
}
# Actions only a complaint takes (anything else: 409).
COMPLAINT_ACTIONS = frozenset(
    {Action.EXTEND, Action.CLASSIFY, Action.SUSPEND_CLOCK, Action.RESUME_CLOCK}
)
ACTIONS = tuple(RULES)


def known_action(name: str) -> Action | None:
    """The action of this name, or None when the table has none."""
    try:
        return Action(name)
    except ValueError:
        return None


def actor_kinds(ticket: Ticket, caller: Caller) -> set[Actor]:
    """What the caller is to this ticket."""
    kinds: set[Actor] = set()
    if caller.role is Role.CUSTOMER and caller.id == ticket.customer_id:
        kinds.add(Actor.OWNER)
    if caller.role in (Role.AGENT, Role.SUPERVISOR):
        kinds.add(Actor.AGENT)
        if ticket.assignee == caller.id:
            kinds.add(Actor.ASSIGNEE)
    if caller.role is Role.SUPERVISOR:
        kinds.add(Actor.SUPERVISOR)
    if caller.role is Role.SYSTEM:
        kinds.add(Actor.SYSTEM)
    return kinds


def apply_action(
    ticket: Ticket,
    action: Action | str,
    params: Mapping[str, Any],
    caller: Caller,
    *,
    now: datetime,
    new_event_id: NewEventId,
    codes: ComplaintCodes | None = None,
) -> tuple[Ticket, list[Event]]:
    """Run one action: the changed ticket (version raised by one) and its event.
    `codes`: the complaint codes `classify` accepts (none without them)."""
    known = known_action(action)
    if known is None:
        raise RequestValidationError([FieldError("action", "is not a known action")])
    rule = RULES[known]
    check_actor(ticket, known, params, caller)
    _check_params(known, rule, params, codes)
    application_actions.check_params(known, params)
    _check_status(ticket, known, rule)
    complaints.check_deadline(ticket, known, now)
    application_actions.check_state(ticket, known, caller)
    changed, payload = _EFFECTS[known](ticket, params, caller, now)
    if isinstance(payload, StatusChanged):  # a complaint's first conclusion, for the report
        changed = complaints.concluded(changed, payload, caller, now)
    events = [Event.of(new_event_id(), ticket.id, now, caller, payload)]
    if not isinstance(payload, StatusChanged) and changed.status != ticket.status:
        # Assignment and escalation move the status too; the customer's timeline
        # shows that move even though the staff-only event is hidden from them.
        moved = StatusChanged(action=known, from_status=ticket.status, to_status=changed.status)
        events.append(Event.of(new_event_id(), ticket.id, now, caller, moved))
    return replace(changed, updated_at=now, version=ticket.version + 1), events


def check_actor(ticket: Ticket, action: Action, params: Mapping[str, Any], caller: Caller) -> None:
    """403 unless the caller may run this (known) action on this ticket."""
    rule = RULES[action]
    kinds = actor_kinds(ticket, caller)
    if not kinds & rule.actors:
        if Actor.AGENT in kinds and Actor.ASSIGNEE in rule.actors:
            raise ForbiddenError(f"Only the assignee or a supervisor may {action} this ticket")
        raise ForbiddenError(f"The {caller.role.value} role may not {action} tickets")
    assignee = params.get("assignee")
    if (
        action == Action.ASSIGN
        and Actor.SUPERVISOR not in kinds
        and assignee not in (None, caller.id)
    ):
        raise ForbiddenError("Agents may assign tickets only to themselves")
    complaints.check_four_eyes(ticket, action, caller)
    if ticket.recused:
        named = assignee if action == Action.ASSIGN and isinstance(assignee, str) else None
        check_recusal(ticket, caller, named)


def _check_params(
    action: Action, rule: Rule, params: Mapping[str, Any], codes: ComplaintCodes | None = None
) -> None:
    allowed = set(rule.required) | set(rule.optional)
    errors = [
        FieldError(name, f"is not a parameter of {action}")
        for name in sorted(set(params) - allowed)
    ]
    errors += [
        FieldError(name, "is required")
        for name in rule.required
        if not str(params.get(name) or "").strip()
    ]
    if action == Action.CLASSIFY:
        errors += codes.errors(params) if codes else [FieldError("business", "no codes loaded")]
    if action == Action.SUSPEND_CLOCK:
        errors += complaints.suspension_errors(params)
    if errors:
        raise RequestValidationError(errors)


def _check_status(ticket: Ticket, action: Action, rule: Rule) -> None:
    if ticket.status not in rule.sources:
        raise IllegalTransitionError(action, ticket.status)
    if action == Action.ESCALATE and ticket.tier >= MAX_TIER:
        raise IllegalTransitionError(action, ticket.status, f"already at tier {MAX_TIER}")
    if action in COMPLAINT_ACTIONS and (why := complaints.refusal(ticket, action)):
        raise IllegalTransitionError(action, ticket.status, why)
    if action == Action.REOPEN and (why := complaints.reopen_refusal(ticket)):
        raise IllegalTransitionError(action, ticket.status, why)
    if action == Action.RESCHEDULE and ticket.kind != "appointment":
        raise IllegalTransitionError(action, ticket.status, "not an appointment")
    if action == Action.ASSIGN and ticket.status not in UNHELD and ticket.assignee:
        # Past `assigned`, only an escalated (unassigned) ticket can be picked up again.
        raise IllegalTransitionError(action, ticket.status)


Effect = Callable[[Ticket, Mapping[str, Any], Caller, datetime], tuple[Ticket, Payload]]


def _status_changed(
    action: Action | str, before: Ticket, after: Ticket, **details: Any
) -> StatusChanged:
    return StatusChanged(
        action=action, from_status=before.status, to_status=after.status, **details
    )


def _assign(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    assignee = params.get("assignee") or caller.id
    status = Status.ASSIGNED if ticket.status in UNHELD else ticket.status
    moved = status != ticket.status
    payload = TicketAssigned(
        action=Action.ASSIGN,
        assignee=assignee,
        previous=ticket.assignee,
        from_status=ticket.status if moved else None,
        to_status=status if moved else None,
    )
    return replace(ticket, assignee=assignee, status=status), payload


def _move(action: Action, target: Status) -> Effect:
    def effect(
        ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
    ) -> tuple[Ticket, Payload]:
        changed = replace(ticket, status=target)
        return changed, _status_changed(action, ticket, changed)

    return effect


def _request_info(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    sla = replace(ticket.sla, paused=True, first_responded_at=ticket.sla.first_responded_at or now)
    changed = replace(ticket, status=Status.WAITING_ON_CUSTOMER, sla=sla)
    return changed, _status_changed(Action.REQUEST_INFO, ticket, changed, message=params["message"])


def _resume(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    changed = replace(ticket, status=Status.IN_PROGRESS, sla=replace(ticket.sla, paused=False))
    return changed, _status_changed(Action.RESUME, ticket, changed)


def _resolve(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    count = ticket.resolutions + 1
    concluded = complaints.resolved(ticket, now)  # 409 for an unclassified complaint
    changed = replace(concluded, status=Status.RESOLVED, resolutions=count, resolved_at=now)
    return changed, _status_changed(
        Action.RESOLVE,
        ticket,
        changed,
        resolution=params["resolution"],
        resolution_count=count,
        review_within_days=complaints.review_within_days(ticket),
        total_suspended_seconds=complaints.suspended_in_total(changed),
        resolution_due=held_to(changed),
    )


def _reopen(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    # The resolution being reopened names the survey that must stop.
    changed = replace(complaints.reopened(ticket, now), status=Status.IN_PROGRESS)
    fresh_due = changed.sla.resolution_due if changed.kind == complaints.COMPLAINT else None
    return changed, _status_changed(
        Action.REOPEN,
        ticket,
        changed,
        resolution_count=ticket.resolutions,
        reason=params.get("reason") or None,
        resolution_due=fresh_due.isoformat() if fresh_due else None,
    )


def _cancel(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    # A withdrawal (the owner's) or a staff cancellation ends a complaint's clock.
    changed = replace(complaints.ended(ticket, now), status=Status.CANCELLED)
    return changed, _status_changed(
        Action.CANCEL,
        ticket,
        changed,
        reason=params.get("reason") or None,
        total_suspended_seconds=complaints.suspended_in_total(changed),
    )


def escalated_one_tier(ticket: Ticket) -> Ticket:
    """Tier + 1, priority at least high, the tier's queue, nobody holding it."""
    tier = ticket.tier + 1
    priority = min(ticket.priority, "high", key=PRIORITY_RANK.__getitem__)
    return replace(ticket, tier=tier, queue=TIER_QUEUES[tier], priority=priority, assignee=None)


def _escalate(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    changed = escalated_one_tier(ticket)
    payload = TicketEscalated(
        action=Action.ESCALATE,
        reason=params["reason"],
        tier=changed.tier,
        queue=changed.queue,
        previous_assignee=ticket.assignee,
    )
    return changed, payload


def _reschedule(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    # service/appointments.commit_action checks the slot, moves the seat (both slot
    # counters, one transaction) and fills the event; here the ticket only records it.
    appointment = dict(ticket.appointment or {})
    appointment["slot_start"] = params["slot_start"]
    return replace(ticket, appointment=appointment), AppointmentRescheduled()


def _merge(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    ended = complaints.ended(ticket, now)  # the target keeps its own clocks
    changed = replace(ended, status=Status.CLOSED, merged_into=params["into"])
    return changed, _status_changed(
        Action.MERGE,
        ticket,
        changed,
        into=params["into"],
        total_suspended_seconds=complaints.suspended_in_total(changed),
    )


_EFFECTS: dict[Action, Effect] = {
    Action.ASSIGN: _assign,
    Action.START: _move(Action.START, Status.IN_PROGRESS),
    Action.REQUEST_INFO: _request_info,
    Action.RESUME: _resume,
    Action.RESOLVE: _resolve,
    Action.REOPEN: _reopen,
    Action.CLOSE: _move(Action.CLOSE, Status.CLOSED),
    Action.CANCEL: _cancel,
    Action.ESCALATE: _escalate,
    Action.EXTEND: complaints.extend,
    Action.RESCHEDULE: _reschedule,
    Action.REVIEW_DOCUMENT: application_actions.review_document,
    Action.APPROVE: application_actions.approve,
    Action.REJECT: application_actions.reject,
    Action.CLASSIFY: complaints.classify,
    Action.SUSPEND_CLOCK: complaints.suspend_clock,
    Action.RESUME_CLOCK: complaints.resume_clock,
    Action.MERGE: _merge,
}


def add_comment(
    ticket: Ticket,
    body: str,
    internal: bool,
    caller: Caller,
    *,
    now: datetime,
    new_event_id: NewEventId,
) -> tuple[Ticket | None, list[Event]]:
    """A public comment or internal note; returns the ticket only if it changed.

    A customer's reply while the desk waits on them puts the ticket back in
    progress; a first public staff comment is the first response.
    """
    kinds = actor_kinds(ticket, caller)
    if not kinds & {Actor.OWNER, Actor.AGENT}:
        raise ForbiddenError(f"The {caller.role.value} role may not comment")
    if internal and Actor.AGENT not in kinds:
        raise RequestValidationError([FieldError("internal", "may only be sent by staff")])
    if ticket.recused:
        check_recusal(ticket, caller)
    if ticket.is_finished:
        raise IllegalTransitionError(COMMENT, ticket.status)
    comment = Event.of(
        new_event_id(), ticket.id, now, caller, CommentAdded(body=body, internal=internal)
    )
    changed = _after_comment(ticket, internal, caller, now)
    if changed is None:
        return None, [comment]
    events = [comment]
    if changed.status != ticket.status:
        moved = _status_changed(COMMENT, ticket, changed)
        events.append(Event.of(new_event_id(), ticket.id, now, caller, moved))
    return replace(changed, updated_at=now, version=ticket.version + 1), events


def _after_comment(ticket: Ticket, internal: bool, caller: Caller, now: datetime) -> Ticket | None:
    if caller.is_customer and ticket.status == Status.WAITING_ON_CUSTOMER:
        return replace(ticket, status=Status.IN_PROGRESS, sla=replace(ticket.sla, paused=False))
    if caller.is_staff and not internal and ticket.sla.first_responded_at is None:
        return replace(ticket, sla=replace(ticket.sla, first_responded_at=now))
    return None
