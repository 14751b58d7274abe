"""The ticket lifecycle: which action may run from which status, by whom, and what it does.

Pure: `apply_action` and `add_comment` return the changed ticket and the event
items to write with it; nothing is read or written here. Checks run in the
order SPEC section 3 fixes: role (403), parameters (400), status (409).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import FieldError, ForbiddenError, IllegalTransitionError
from chalicelib.domain.errors import ValidationError as RequestValidationError
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.routing import TIER_QUEUES
from chalicelib.domain.ticket import OPEN_STATUSES, PRIORITY_RANK, Ticket

EXTENSION = timedelta(days=15)
MAX_TIER = 3
STATUS_CHANGED = "ticket.status_changed"
ASSIGNED = "ticket.assigned"
ESCALATED = "ticket.escalated"
EXTENDED = "sla.extended"
COMMENT_ADDED = "comment.added"

NewEventId = Callable[[], str]


class Actor(StrEnum):
    """Who may run an action, relative to the ticket."""

    OWNER = "owner"
    AGENT = "agent"
    ASSIGNEE = "assignee"
    SUPERVISOR = "supervisor"
    SYSTEM = "system"


@dataclass(frozen=True)
class Rule:
    sources: frozenset[str]
    target: str | None  # None: the status stays
    actors: frozenset[Actor]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


def _rule(
    sources: set[str] | frozenset[str], target: str | None, *actors: Actor, **params: Any
) -> Rule:
    return Rule(frozenset(sources), target, frozenset(actors), **params)


_WORKERS = (Actor.ASSIGNEE, Actor.SUPERVISOR)
OPEN = OPEN_STATUSES

RULES: dict[str, Rule] = {
    "assign": _rule(OPEN, "assigned", Actor.AGENT, Actor.SUPERVISOR, optional=("assignee",)),
    "start": _rule({"assigned"}, "in_progress", *_WORKERS),
    "request_info": _rule({"in_progress"}, "waiting_on_customer", *_WORKERS, required=("message",)),
    "resume": _rule({"waiting_on_customer"}, "in_progress", *_WORKERS),
    "resolve": _rule({"in_progress"}, "resolved", *_WORKERS, required=("resolution",)),
    "reopen": _rule(
        {"resolved"},
        "in_progress",
        Actor.OWNER,
        Actor.AGENT,
        Actor.SUPERVISOR,
        optional=("reason",),
    ),
    "close": _rule({"resolved"}, "closed", Actor.SUPERVISOR, Actor.SYSTEM),
    "cancel": _rule(
        OPEN, "cancelled", Actor.OWNER, Actor.AGENT, Actor.SUPERVISOR, optional=("reason",)
    ),
    "escalate": _rule(OPEN, None, Actor.AGENT, Actor.SUPERVISOR, required=("reason",)),
    "extend": _rule(OPEN, None, Actor.SUPERVISOR, required=("reason",)),
    "reschedule": _rule(
        OPEN, None, Actor.OWNER, Actor.AGENT, Actor.SUPERVISOR, required=("slot_start",)
    ),
}
ACTIONS = tuple(RULES)


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
    action: str,
    params: Mapping[str, Any],
    caller: Caller,
    *,
    now: datetime,
    new_event_id: NewEventId,
) -> tuple[Ticket, list[Event]]:
    """Run one action: the changed ticket (version raised by one) and its event."""
    rule = RULES.get(action)
    if rule is None:
        raise RequestValidationError([FieldError("action", "is not a known action")])
    check_actor(ticket, action, params, caller)
    _check_params(action, rule, params)
    _check_status(ticket, action, rule)
    changed, event_type, data = _EFFECTS[action](ticket, params, caller, now)
    data = {"action": action, **data}
    if rule.target is not None and changed.status != ticket.status:
        data.update({"from": ticket.status, "to": changed.status})
    events = [Event(new_event_id(), ticket.id, event_type, now, caller, data)]
    if event_type != STATUS_CHANGED and changed.status != ticket.status:
        # Assignment and escalation move the status too; the customer's timeline
        # shows that move even though the staff-only event is hidden from them.
        moved = {"action": action, "from": ticket.status, "to": changed.status}
        events.append(Event(new_event_id(), ticket.id, STATUS_CHANGED, now, caller, moved))
    return replace(changed, updated_at=now, version=ticket.version + 1), events


def check_actor(ticket: Ticket, action: str, params: Mapping[str, Any], caller: Caller) -> None:
    """403 unless the caller may run this (known) action on this ticket."""
    rule = RULES[action]
    kinds = actor_kinds(ticket, caller)
    if not kinds & rule.actors:
        if Actor.AGENT in kinds and Actor.ASSIGNEE in rule.actors:
            raise ForbiddenError(f"Only the assignee or a supervisor may {action} this ticket")
        raise ForbiddenError(f"The {caller.role.value} role may not {action} tickets")
    assignee = params.get("assignee")
    if action == "assign" and Actor.SUPERVISOR not in kinds and assignee not in (None, caller.id):
        raise ForbiddenError("Agents may assign tickets only to themselves")


def _check_params(action: str, rule: Rule, params: Mapping[str, Any]) -> None:
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
    if errors:
        raise RequestValidationError(errors)


def _check_status(ticket: Ticket, action: str, rule: Rule) -> None:
    if ticket.status not in rule.sources:
        raise IllegalTransitionError(action, ticket.status)
    if action == "escalate" and ticket.tier >= MAX_TIER:
        raise IllegalTransitionError(action, ticket.status, f"already at tier {MAX_TIER}")
    if action == "extend" and (ticket.kind != "complaint" or ticket.sla.extended):
        raise IllegalTransitionError(action, ticket.status, _not_extendable(ticket))
    if action == "reschedule" and ticket.kind != "appointment":
        raise IllegalTransitionError(action, ticket.status, "not an appointment")
    if action == "assign" and ticket.status not in ("new", "assigned") and ticket.assignee:
        # Past `assigned`, only an escalated (unassigned) ticket can be picked up again.
        raise IllegalTransitionError(action, ticket.status)


def _not_extendable(ticket: Ticket) -> str:
    if ticket.kind != "complaint":
        return "only complaints have a regulatory deadline"
    return "already extended once"


Effect = Callable[[Ticket, Mapping[str, Any], Caller, datetime], tuple[Ticket, str, dict[str, Any]]]


def _assign(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, str, dict[str, Any]]:
    assignee = params.get("assignee") or caller.id
    status = "assigned" if ticket.status in ("new", "assigned") else ticket.status
    data = {"assignee": assignee, "previous": ticket.assignee}
    return replace(ticket, assignee=assignee, status=status), ASSIGNED, data


def _move(target: str, **data_params: str) -> Effect:
    def effect(
        ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
    ) -> tuple[Ticket, str, dict[str, Any]]:
        data = {key: params[name] for key, name in data_params.items() if params.get(name)}
        return replace(ticket, status=target), STATUS_CHANGED, data

    return effect


def _request_info(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, str, dict[str, Any]]:
    sla = replace(ticket.sla, paused=True, first_responded_at=ticket.sla.first_responded_at or now)
    changed = replace(ticket, status="waiting_on_customer", sla=sla)
    return changed, STATUS_CHANGED, {"message": params["message"]}


def _resume(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, str, dict[str, Any]]:
    changed = replace(ticket, status="in_progress", sla=replace(ticket.sla, paused=False))
    return changed, STATUS_CHANGED, {}


def _resolve(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, str, dict[str, Any]]:
    count = ticket.resolutions + 1
    changed = replace(ticket, status="resolved", resolutions=count, resolved_at=now)
    return changed, STATUS_CHANGED, {"resolution": params["resolution"], "resolution_count": count}


def _reopen(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, str, dict[str, Any]]:
    # The resolution being reopened names the survey that must stop.
    data: dict[str, Any] = {"resolution_count": ticket.resolutions}
    if params.get("reason"):
        data["reason"] = params["reason"]
    return replace(ticket, status="in_progress"), STATUS_CHANGED, data


def escalated_one_tier(ticket: Ticket) -> Ticket:
    """Tier + 1, priority at least high, the tier's queue, nobody holding it."""
    tier = ticket.tier + 1
    priority = min(ticket.priority, "high", key=PRIORITY_RANK.__getitem__)
    return replace(ticket, tier=tier, queue=TIER_QUEUES[tier], priority=priority, assignee=None)


def _escalate(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, str, dict[str, Any]]:
    changed = escalated_one_tier(ticket)
    tier = changed.tier
    data = {
        "reason": params["reason"],
        "tier": tier,
        "queue": changed.queue,
        "previous_assignee": ticket.assignee,
    }
    return changed, ESCALATED, data


def _extend(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, str, dict[str, Any]]:
    due = ticket.sla.resolution_due
    new_due = due + EXTENSION if due else None
    changed = replace(ticket, sla=replace(ticket.sla, resolution_due=new_due, extended=True))
    data = {"reason": params["reason"], "resolution_due": new_due.isoformat() if new_due else None}
    return changed, EXTENDED, data


def _reschedule(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, str, dict[str, Any]]:
    # service/appointments.commit_action checks the slot, moves the seat (both slot
    # counters, one transaction) and fills the event; here the ticket only records it.
    appointment = dict(ticket.appointment or {})
    appointment["slot_start"] = params["slot_start"]
    return replace(ticket, appointment=appointment), "appointment.rescheduled", {}


_EFFECTS: dict[str, Effect] = {
    "assign": _assign,
    "start": _move("in_progress"),
    "request_info": _request_info,
    "resume": _resume,
    "resolve": _resolve,
    "reopen": _reopen,
    "close": _move("closed"),
    "cancel": _move("cancelled", reason="reason"),
    "escalate": _escalate,
    "extend": _extend,
    "reschedule": _reschedule,
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
    if ticket.is_finished:
        raise IllegalTransitionError("comment", ticket.status)
    comment = Event(
        new_event_id(), ticket.id, COMMENT_ADDED, now, caller, {"body": body, "internal": internal}
    )
    changed = _after_comment(ticket, internal, caller, now)
    if changed is None:
        return None, [comment]
    events = [comment]
    if changed.status != ticket.status:
        events.append(
            Event(
                new_event_id(),
                ticket.id,
                STATUS_CHANGED,
                now,
                caller,
                {"action": "comment", "from": ticket.status, "to": changed.status},
            )
        )
    return replace(changed, updated_at=now, version=ticket.version + 1), events


def _after_comment(ticket: Ticket, internal: bool, caller: Caller, now: datetime) -> Ticket | None:
    if caller.is_customer and ticket.status == "waiting_on_customer":
        return replace(ticket, status="in_progress", sla=replace(ticket.sla, paused=False))
    if caller.is_staff and not internal and ticket.sla.first_responded_at is None:
        return replace(ticket, sla=replace(ticket.sla, first_responded_at=now))
    return None
