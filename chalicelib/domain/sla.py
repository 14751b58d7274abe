"""SLA clocks: policies per kind and priority, due times on a business calendar,
pausing while the desk waits on the customer, and breaches.

Pure: the calendar and the policies are passed in; nothing here reads files,
the environment or the time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec
from msgspec.structs import replace

from chalicelib.domain.complaints import clock_suspended
from chalicelib.domain.events import Event, SlaBreached, TicketEscalated
from chalicelib.domain.identity import SYSTEM
from chalicelib.domain.lifecycle import NewEventId, escalated_one_tier
from chalicelib.domain.statuses import Action, Status
from chalicelib.domain.ticket import OPEN_STATUSES, Sla, Ticket

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
WAITING = Status.WAITING_ON_CUSTOMER
WORKING_DAY = timedelta(hours=8)  # SPEC: N working days = N x 8 working hours
MAX_TIER = 3


class WorkingTime(Protocol):
    """The part of a business calendar the SLA clocks use."""

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime: ...

    def working_time_between(self, start: datetime, end: datetime) -> timedelta: ...


class Target(msgspec.Struct, frozen=True):
    duration: timedelta
    working: bool  # working time on the calendar, or plain calendar time

    def due(self, start: datetime, calendar: WorkingTime) -> datetime:
        if self.working:
            return calendar.add_working_time(start, self.duration)
        return start + self.duration


class Policy(msgspec.Struct, frozen=True):
    first_response: Target | None = None
    resolution: Target | None = None


class PolicyFileError(ValueError):
    """The SLA policy file cannot be used; the message says where."""


class SlaPolicies(msgspec.Struct, frozen=True):
    """(kind, priority) -> Policy; a priority of "*" is the kind's default."""

    table: Mapping[tuple[str, str], Policy]

    def for_ticket(self, kind: str, priority: str) -> Policy:
        return self.table.get((kind, priority)) or self.table.get((kind, "*")) or Policy()


class SlaRules(msgspec.Struct, frozen=True):
    policies: SlaPolicies
    calendar: WorkingTime


def parse_policies(text: str, source: str = "sla-policies.json") -> SlaPolicies:
    """Policies from JSON: {"consultation": {"*": {"first_response": "15m working"}}}."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise PolicyFileError(f"{source}: not JSON ({error})") from error
    table: dict[tuple[str, str], Policy] = {}
    for kind, by_priority in _items(document, source):
        for priority, targets in _items(by_priority, f"{source}: {kind}"):
            where = f"{source}: {kind}/{priority}"
            table[(kind, priority)] = Policy(
                first_response=_target(_field(targets, "first_response", where), where),
                resolution=_target(_field(targets, "resolution", where), where),
            )
    return SlaPolicies(table)


def _items(value: Any, where: str) -> list[tuple[str, Any]]:
    if not isinstance(value, dict):
        raise PolicyFileError(f"{where}: expected an object")
    return [(key, item) for key, item in value.items() if not key.startswith("_")]


def _field(targets: Any, name: str, where: str) -> Any:
    if not isinstance(targets, dict) or set(targets) - {"first_response", "resolution"}:
        raise PolicyFileError(f"{where}: only first_response and resolution may be set")
    return targets.get(name)


_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def _target(spec: Any, where: str) -> Target | None:
    """ "15m working", "2d working" (8 h days), "15d calendar"."""
    if spec is None:
        return None
    amount, _, basis = str(spec).partition(" ")
    unit = amount[-1:]
    if not amount[:-1].isdigit() or unit not in _UNITS or basis not in ("working", "calendar"):
        raise PolicyFileError(f"{where}: {spec!r} is not like '15m working' or '15d calendar'")
    working = basis == "working"
    size = WORKING_DAY if working and unit == "d" else _UNITS[unit]
    return Target(int(amount[:-1]) * size, working)


def start_clocks(ticket: Ticket, rules: SlaRules) -> Sla:
    """Due times from the moment the bank received the request (SPEC: received_at)."""
    policy = rules.policies.for_ticket(ticket.kind, ticket.priority)
    start = ticket.received_at
    targets = {FIRST_RESPONSE: policy.first_response, RESOLUTION: policy.resolution}
    return replace(
        ticket.sla,
        unpaused=tuple(name for name, target in targets.items() if target and not target.working),
        first_response_due=policy.first_response.due(start, rules.calendar)
        if policy.first_response
        else None,
        resolution_due=policy.resolution.due(start, rules.calendar) if policy.resolution else None,
    )


def track(before: Ticket, after: Ticket, now: datetime, rules: SlaRules) -> Ticket:
    """Pause the working-time clocks while waiting on the customer; on return, move
    those due times by the working time spent waiting. Calendar clocks never pause."""
    if after.status == WAITING and before.status != WAITING:
        return replace(after, sla=replace(after.sla, paused=True, paused_at=now))
    if before.status == WAITING and after.status != WAITING and before.sla.paused_at:
        waited = rules.calendar.working_time_between(before.sla.paused_at, now)
        policy = rules.policies.for_ticket(after.kind, after.priority)
        sla = replace(after.sla, paused=False, paused_at=None)
        return replace(after, sla=_moved(sla, policy, rules.calendar, waited))
    return after


def _moved(sla: Sla, policy: Policy, calendar: WorkingTime, waited: timedelta) -> Sla:
    first = sla.first_response_due
    if first and sla.first_responded_at is None and policy.first_response:
        first = _shift(first, policy.first_response, calendar, waited)
    resolution = sla.resolution_due
    if resolution and policy.resolution:
        resolution = _shift(resolution, policy.resolution, calendar, waited)
    return replace(sla, first_response_due=first, resolution_due=resolution)


def _shift(due: datetime, target: Target, calendar: WorkingTime, waited: timedelta) -> datetime:
    return calendar.add_working_time(due, waited) if target.working else due


AUTO_CLOSE_AFTER = timedelta(days=7)


def next_due(ticket: Ticket) -> datetime | None:
    """The earliest moment the sweep must look at this ticket (its index key), if any:
    an SLA deadline of an open ticket, or the self-closing of a resolved one."""
    if ticket.status == Status.RESOLVED and ticket.resolved_at is not None:
        return ticket.resolved_at + AUTO_CLOSE_AFTER
    if ticket.status not in OPEN_STATUSES:
        return None
    return min((due for _, due in _pending(ticket)), default=None)


def closes_itself(ticket: Ticket, now: datetime) -> bool:
    """SPEC 5: a resolved ticket nobody reopened or closed closes itself after 7 days."""
    return (
        ticket.status == Status.RESOLVED
        and ticket.resolved_at is not None
        and ticket.resolved_at + AUTO_CLOSE_AFTER <= now
    )


def _pending(ticket: Ticket) -> list[tuple[str, datetime]]:
    """Deadlines not yet met or breached; while paused, only the calendar clocks run."""
    sla = ticket.sla
    pending = []
    if sla.first_response_due and sla.first_responded_at is None:
        pending.append((FIRST_RESPONSE, sla.first_response_due))
    if sla.resolution_due and not clock_suspended(ticket):  # SPEC 13: the clock stopped
        pending.append((RESOLUTION, sla.resolution_due))
    running = [(m, due) for m, due in pending if not sla.paused or m in sla.unpaused]
    return [(metric, due) for metric, due in running if metric not in sla.breaches]


def breached_metrics(ticket: Ticket, now: datetime) -> list[str]:
    """Metrics past due now that have not been recorded as breached yet."""
    if ticket.status not in OPEN_STATUSES:
        return []
    return [metric for metric, due in _pending(ticket) if due <= now]


def record_breaches(
    ticket: Ticket, metrics: list[str], now: datetime, new_event_id: NewEventId
) -> tuple[Ticket, list[Event]]:
    """Record each breach once and escalate one tier (at tier 3: record only)."""
    sla = replace(ticket.sla, breaches=tuple(sorted({*ticket.sla.breaches, *metrics})))
    changed = replace(ticket, sla=sla, updated_at=now, version=ticket.version + 1)
    events = [
        Event.of(
            new_event_id(),
            ticket.id,
            now,
            SYSTEM,
            SlaBreached(metric=metric, due=_due_of(ticket, metric), tier=ticket.tier),
        )
        for metric in metrics
    ]
    if ticket.tier < MAX_TIER:
        changed = escalated_one_tier(changed)
        escalated = TicketEscalated(
            action=Action.ESCALATE,
            reason=f"sla breached: {', '.join(metrics)}",
            tier=changed.tier,
            queue=changed.queue,
            previous_assignee=ticket.assignee,
        )
        events.append(Event.of(new_event_id(), ticket.id, now, SYSTEM, escalated))
    return changed, events


def breached_at_opening(
    ticket: Ticket, now: datetime, new_event_id: NewEventId
) -> tuple[Ticket, list[Event]]:
    """A back-dated ticket (staff's `received_at`) may open past a deadline: its breach is
    recorded with its creation, as the sweep would record it (SPEC 6: "or at creation for
    a back-dated ticket"), once per metric. The new ticket keeps its first version."""
    metrics = breached_metrics(ticket, now)
    if not metrics:
        return ticket, []
    changed, events = record_breaches(ticket, metrics, now, new_event_id)
    return replace(changed, version=ticket.version), events


def _due_of(ticket: Ticket, metric: str) -> str | None:
    due = ticket.sla.first_response_due if metric == FIRST_RESPONSE else ticket.sla.resolution_due
    return due.isoformat() if due else None
