"""Report counters and the reports built from them (SPEC section 10). Pure.

Every counter is one item `COUNTER#<family>` / `<day>[#<value>]`, moved once per
event by the stream (the ledger applies an event's counters in one transaction),
so a date range is one Query per family and never a scan. Times are histograms
with fixed buckets: p50/p90 are estimated from the counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from chalicelib.domain.counters import CounterKey, counters_for, report_day
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.events import (
    CommentAdded,
    Event,
    SlaBreached,
    StatusChanged,
    SurveyAnswered,
    TicketCreated,
)
from chalicelib.domain.identity import WORKING_ROLES
from chalicelib.domain.sla import FIRST_RESPONSE, RESOLUTION
from chalicelib.domain.statuses import Action, Status
from chalicelib.domain.ticket import Ticket

MAX_RANGE_DAYS = 366

CREATED_TOTAL = "created#total"
CREATED_BY = {"channel": "created#channel", "kind": "created#kind", "queue": "created#queue"}
RESOLVED = "resolved"  # a counter family (tickets resolved per day)
SLA = "sla"  # <day>#<metric>#met|breached
CSAT = "csat"  # <day>#<score>
FIRST_RESPONSE_MINUTES = "first_response_minutes"  # <day>#<bucket>
RESOLUTION_MINUTES = "resolution_minutes"  # <day>#<bucket>
AGENT_RESOLVED = "agent#resolved"  # <day>#<agent>
AGENT_RESOLUTION_MINUTES = "agent#resolution_minutes"  # <day>#<agent>#<bucket>
AGENT_SLA = "agent#sla"  # <day>#<agent>#met|late
AGENT_CSAT = "agent#csat"  # <day>#<agent>#<score>
DECISIONS = "application#decided"  # <day>#approved|rejected (SPEC 11)
DECISION_MINUTES = "application#decision_minutes"  # <day>#<bucket>

SUMMARY_FAMILIES = (
    CREATED_TOTAL,
    *CREATED_BY.values(),
    RESOLVED,
    SLA,
    CSAT,
    FIRST_RESPONSE_MINUTES,
    RESOLUTION_MINUTES,
    DECISIONS,
    DECISION_MINUTES,
)
AGENT_FAMILIES = (AGENT_RESOLVED, AGENT_RESOLUTION_MINUTES, AGENT_SLA, AGENT_CSAT)

# Upper bounds (working minutes, inclusive) of the time histograms; the last is open.
# 480 working minutes are one working day.
BUCKET_BOUNDS = (5, 10, 15, 30, 60, 120, 240, 480, 960, 1440, 2400, 4800, 9600)
OPEN_BUCKET = "inf"

WorkingMinutes = Callable[[datetime, datetime], int]


def bucket_label(minutes: int) -> str:
    for bound in BUCKET_BOUNDS:
        if minutes <= bound:
            return f"le{bound:05d}"
    return OPEN_BUCKET


def _bucket_bounds(label: str) -> tuple[int, int | None]:
    """(lower, upper) of a bucket; upper None for the open one."""
    if label == OPEN_BUCKET:
        return BUCKET_BOUNDS[-1], None
    upper = int(label[2:])
    index = BUCKET_BOUNDS.index(upper)
    return (BUCKET_BOUNDS[index - 1] if index else 0), upper


def percentile(histogram: Mapping[str, int], fraction: float) -> int | None:
    """Estimate a percentile from bucket counts: linear inside the bucket it falls in;
    in the open bucket, its lower bound (a floor, never an invention)."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = fraction * total
    seen = 0
    for label in sorted(histogram, key=lambda name: _bucket_bounds(name)[0]):
        count = histogram[label]
        if count <= 0:
            continue
        if seen + count >= rank:
            lower, upper = _bucket_bounds(label)
            if upper is None:
                return lower
            return round(lower + (upper - lower) * (rank - seen) / count)
        seen += count
    return None


# --- counting (the stream reaction) ----------------------------------------------------------


def needs_ticket(event: Event) -> bool:
    """Whether the counters of this event depend on the ticket's SLA facts."""
    return _is_resolution(event) or _may_be_first_response(event)


def report_counters(
    event: Event, ticket: Ticket | None, working_minutes: WorkingMinutes
) -> dict[CounterKey, int]:
    """Every counter this event moves, on the event's Asia/Shanghai day."""
    day = report_day(event.at)
    counts: dict[CounterKey, int] = {}
    match event.payload():
        case TicketCreated(queue=queue):
            counts.update(counters_for(event))
            counts[CounterKey(CREATED_BY["queue"], f"{day}#{queue}")] = 1
        case SlaBreached(metric=metric):
            counts[CounterKey(SLA, f"{day}#{metric}#breached")] = 1
        case SurveyAnswered() as answered:
            counts.update(_csat(answered, day))
    if ticket is not None and _is_resolution(event):
        counts.update(_resolution(event, ticket, day, working_minutes))
        counts.update(_decision(event, ticket, day, working_minutes))
    if ticket is not None and _is_first_response(event, ticket):
        counts.update(_first_response(event, ticket, day, working_minutes))
    return counts


def _is_resolution(event: Event) -> bool:
    moved = event.payload_as(StatusChanged)
    return moved is not None and moved.to_status == Status.RESOLVED


def _may_be_first_response(event: Event) -> bool:
    if event.actor.role not in WORKING_ROLES:
        return False
    match event.payload():
        case CommentAdded(internal=internal):
            return not internal
        case StatusChanged(action=action):
            return action == Action.REQUEST_INFO
    return False


def _is_first_response(event: Event, ticket: Ticket) -> bool:
    # first_responded_at is set once, by the event that was the first response (a later
    # reply at the very same instant would have lost the version race and been re-timed).
    return _may_be_first_response(event) and ticket.sla.first_responded_at == event.at


def _agent(event: Event) -> str | None:
    return event.actor.id if event.actor.role in WORKING_ROLES else None


def _sla_outcome(
    metric: str, event: Event, due: datetime | None, ticket: Ticket, agent: str | None
) -> dict[CounterKey, int]:
    """Met when done by the due time. Late and not yet recorded by the sweep (which
    runs every minute) counts as breached here, so no late answer goes uncounted."""
    if due is None:
        return {}
    day = report_day(event.at)
    counts: dict[CounterKey, int] = {}
    met = event.at <= due
    if met:
        counts[CounterKey(SLA, f"{day}#{metric}#met")] = 1
    elif metric not in ticket.sla.breaches:
        counts[CounterKey(SLA, f"{day}#{metric}#breached")] = 1
    if agent is not None:
        counts[CounterKey(AGENT_SLA, f"{day}#{agent}#{'met' if met else 'late'}")] = 1
    return counts


def _resolution(
    event: Event, ticket: Ticket, day: str, working_minutes: WorkingMinutes
) -> dict[CounterKey, int]:
    agent = _agent(event)
    bucket = bucket_label(working_minutes(ticket.received_at, event.at))
    counts = {
        CounterKey(RESOLVED, day): 1,
        CounterKey(RESOLUTION_MINUTES, f"{day}#{bucket}"): 1,
    }
    if agent is not None:
        counts[CounterKey(AGENT_RESOLVED, f"{day}#{agent}")] = 1
        counts[CounterKey(AGENT_RESOLUTION_MINUTES, f"{day}#{agent}#{bucket}")] = 1
    counts.update(_sla_outcome(RESOLUTION, event, _held_to(event, ticket), ticket, agent))
    return counts


def _held_to(event: Event, ticket: Ticket) -> datetime | None:
    """The deadline the resolution was held to, as its event recorded it (older events:
    the ticket's, as it is now)."""
    moved = event.payload_as(StatusChanged)
    if moved is not None and moved.resolution_due:
        return datetime.fromisoformat(moved.resolution_due)
    return ticket.sla.resolution_due


def _decision(
    event: Event, ticket: Ticket, day: str, working_minutes: WorkingMinutes
) -> dict[CounterKey, int]:
    """An application's decision (approve or reject resolving it): outcome and working
    minutes from receipt, on the decision's day."""
    moved = event.payload_as(StatusChanged)
    if moved is None or moved.action not in (Action.APPROVE, Action.REJECT):
        return {}
    outcome = "approved" if moved.action == Action.APPROVE else "rejected"
    bucket = bucket_label(working_minutes(ticket.received_at, event.at))
    return {
        CounterKey(DECISIONS, f"{day}#{outcome}"): 1,
        CounterKey(DECISION_MINUTES, f"{day}#{bucket}"): 1,
    }


def _first_response(
    event: Event, ticket: Ticket, day: str, working_minutes: WorkingMinutes
) -> dict[CounterKey, int]:
    bucket = bucket_label(working_minutes(ticket.received_at, event.at))
    counts = {CounterKey(FIRST_RESPONSE_MINUTES, f"{day}#{bucket}"): 1}
    due = ticket.sla.first_response_due
    counts.update(_sla_outcome(FIRST_RESPONSE, event, due, ticket, _agent(event)))
    return counts


def _csat(answered: SurveyAnswered, day: str) -> dict[CounterKey, int]:
    score = answered.score
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        return {}
    counts = {CounterKey(CSAT, f"{day}#{score}"): 1}
    agent = str(answered.agent or "")
    if agent:
        counts[CounterKey(AGENT_CSAT, f"{day}#{agent}#{score}")] = 1
    return counts


# --- the date range ----------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ReportRange(msgspec.Struct, frozen=True):
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def report_range(params: Mapping[str, str]) -> ReportRange:
    """`from` and `to`, Asia/Shanghai dates, inclusive, at most 366 days: or a 400
    naming the field."""
    unknown = sorted(set(params) - {"from", "to"})
    errors = [FieldError(name, "is not a known parameter") for name in unknown]
    parsed = {name: _date(params.get(name), name, errors) for name in ("from", "to")}
    first, last = parsed["from"], parsed["to"]
    if first and last and last < first:
        errors.append(FieldError("to", "must not be before from"))
    elif first and last and (last - first).days + 1 > MAX_RANGE_DAYS:
        errors.append(FieldError("to", f"the range may cover at most {MAX_RANGE_DAYS} days"))
    if errors:
        raise ValidationError(errors)
    assert first is not None and last is not None
    return ReportRange(first, last)


def _date(value: str | None, name: str, errors: list[FieldError]) -> date | None:
    if value is None:
        errors.append(FieldError(name, "is required"))
        return None
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, "must be a date YYYY-MM-DD"))
        return None


# --- reading the counters -----------------------------------------------------------------------

Slots = Iterable[tuple[str, int]]  # (slot "<day>[#<value>]", total)


def _by_value(slots: Slots) -> dict[str, int]:
    """Sum a family's counters over the days, by the value after the day."""
    totals: dict[str, int] = {}
    for slot, total in slots:
        value = slot[11:]
        totals[value] = totals.get(value, 0) + total
    return totals


def _compliance(met: int, breached: int) -> float | None:
    return round(met / (met + breached), 4) if met + breached else None


def _csat_view(distribution: Mapping[str, int]) -> dict[str, Any]:
    counts = {str(score): int(distribution.get(str(score), 0)) for score in range(1, 6)}
    responses = sum(counts.values())
    total = sum(int(score) * count for score, count in counts.items())
    return {
        "responses": responses,
        "average": round(total / responses, 2) if responses else None,
        "distribution": counts,
    }


def _sla_view(outcomes: Mapping[str, int], metric: str) -> dict[str, Any]:
    met, breached = outcomes.get(f"{metric}#met", 0), outcomes.get(f"{metric}#breached", 0)
    return {"met": met, "breached": breached, "compliance": _compliance(met, breached)}


def _minutes_view(histogram: Mapping[str, int]) -> dict[str, int | None]:
    return {"p50": percentile(histogram, 0.5), "p90": percentile(histogram, 0.9)}


def summary(period: ReportRange, counters: Mapping[str, Slots]) -> dict[str, Any]:
    """`GET /v1/reports/summary` from the range's counters (family -> slots)."""
    totals = {family: _by_value(counters.get(family, ())) for family in SUMMARY_FAMILIES}
    sla = totals[SLA]
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "tickets_created": {
            "total": sum(totals[CREATED_TOTAL].values()),
            **{
                f"by_{name}": dict(sorted(totals[family].items()))
                for name, family in CREATED_BY.items()
            },
        },
        "resolved": sum(totals[RESOLVED].values()),
        "sla": {metric: _sla_view(sla, metric) for metric in (FIRST_RESPONSE, RESOLUTION)},
        "csat": _csat_view(totals[CSAT]),
        "first_response_minutes": _minutes_view(totals[FIRST_RESPONSE_MINUTES]),
        "resolution_minutes": _minutes_view(totals[RESOLUTION_MINUTES]),
        "applications": _applications_view(totals[DECISIONS], totals[DECISION_MINUTES]),
    }


def _applications_view(decided: Mapping[str, int], minutes: Mapping[str, int]) -> dict[str, Any]:
    approved, rejected = decided.get("approved", 0), decided.get("rejected", 0)
    return {
        "decided": approved + rejected,
        "approved": approved,
        "rejected": rejected,
        "decision_minutes": _minutes_view(minutes),
    }


def _per_agent(slots: Slots, with_value: bool) -> dict[str, dict[str, int]]:
    """agent -> value -> total, from slots `<day>#<agent>[#<value>]`."""
    agents: dict[str, dict[str, int]] = {}
    for slot, total in slots:
        rest = slot[11:]
        agent, value = rest.rsplit("#", 1) if with_value else (rest, "")
        bucket = agents.setdefault(agent, {})
        bucket[value] = bucket.get(value, 0) + total
    return agents


def agents_report(counters: Mapping[str, Slots]) -> dict[str, Any]:
    """`GET /v1/reports/agents`: each agent credited with what they did themselves."""
    resolved = _per_agent(counters.get(AGENT_RESOLVED, ()), with_value=False)
    minutes = _per_agent(counters.get(AGENT_RESOLUTION_MINUTES, ()), with_value=True)
    sla = _per_agent(counters.get(AGENT_SLA, ()), with_value=True)
    csat = _per_agent(counters.get(AGENT_CSAT, ()), with_value=True)
    items = []
    for agent in sorted({*resolved, *minutes, *sla, *csat}):
        outcomes = sla.get(agent, {})
        items.append(
            {
                "agent": agent,
                "resolved": sum(resolved.get(agent, {}).values()),
                "median_resolution_minutes": percentile(minutes.get(agent, {}), 0.5),
                "csat_average": _csat_view(csat.get(agent, {}))["average"],
                "sla_compliance": _compliance(outcomes.get("met", 0), outcomes.get("late", 0)),
            }
        )
    return {"items": items}


def day_bounds(period: ReportRange) -> tuple[str, str]:
    """The sort-key range of a family's counters for the period (inclusive)."""
    return period.first.isoformat(), f"{period.last.isoformat()}#~"


def working_minutes_on(calendar: Any) -> WorkingMinutes:
    """Whole working minutes between two moments on a business calendar."""

    def minutes(start: datetime, end: datetime) -> int:
        if end <= start:
            return 0
        spent: timedelta = calendar.working_time_between(start, end)
        return int(spent.total_seconds() // 60)

    return minutes
