"""SLA policies, clocks, pauses and breaches (the calendar itself is tested on its own)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from msgspec.structs import asdict, replace

from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.sla import (
    PolicyFileError,
    SlaRules,
    Target,
    breached_metrics,
    next_due,
    parse_policies,
    record_breaches,
    start_clocks,
    track,
)
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import TicketRequest, open_ticket
from chalicelib.service.reactions import ReactionPorts, react
from chalicelib.service.sla import sweep
from chalicelib.service.tickets import StoredResponse, TicketPorts, create_ticket
from tests.fakes import (
    FixedClock,
    InMemoryReactionLedger,
    InMemoryTicketRepository,
    RecordingOpsAlerter,
    SequentialIds,
    card_request,
)

POLICIES_FILE = Path(__file__).resolve().parents[2] / "chalicelib" / "data" / "sla-policies.json"
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Shanghai


class OfficeHours:
    """A toy calendar: working time is 01:00-09:00 UTC every day (09-17 Shanghai)."""

    def _open(self, moment: datetime) -> datetime:
        day = moment.replace(hour=1, minute=0, second=0, microsecond=0)
        if moment < day:
            return day
        if moment >= day.replace(hour=9):
            return day + timedelta(days=1)
        return moment

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        moment = self._open(start)
        while duration > timedelta(0):
            left = moment.replace(hour=9, minute=0, second=0, microsecond=0) - moment
            if duration <= left:
                return moment + duration
            duration -= left
            moment = self._open(moment + left)
        return moment

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        total, moment = timedelta(0), self._open(start)
        while moment < end:
            close = moment.replace(hour=9, minute=0, second=0, microsecond=0)
            total += min(close, end) - moment
            moment = self._open(close)
        return total


RULES = SlaRules(parse_policies(POLICIES_FILE.read_text(encoding="utf-8")), OfficeHours())


def _ticket(kind="consultation", received_at=NOW, **changes):
    request = TicketRequest(
        channel="phone",
        kind=kind,
        category="card",
        subject="s",
        description="",
        contact=None,
        customer_id="cust-1",
        received_at=received_at,
    )
    ticket, _ = open_ticket(
        request,
        Caller(Role.AGENT, "agent-1"),
        ticket_id="T-1",
        reference="SD-00000001",
        event_id="E-0",
        now=max(NOW, received_at),
    )
    ticket = replace(ticket, sla=start_clocks(ticket, RULES))
    return replace(ticket, **changes)


def test_the_shipped_policies_are_spec_defaults():
    policies = parse_policies(POLICIES_FILE.read_text(encoding="utf-8"))
    consultation = policies.for_ticket("consultation", "urgent")
    assert consultation.first_response == Target(timedelta(minutes=15), working=True)
    assert consultation.resolution is None
    assert policies.for_ticket("application", "normal").first_response == Target(
        timedelta(hours=16), working=True
    )
    complaint = policies.for_ticket("complaint", "high")
    assert complaint.first_response == Target(timedelta(hours=8), working=True)
    assert complaint.resolution == Target(timedelta(days=15), working=False)
    assert policies.for_ticket("appointment", "normal").first_response is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "not JSON"),
        ('{"consultation": {"*": {"first_response": "15 minutes"}}}', "consultation/*"),
        ('{"consultation": {"*": {"first_response": "15m sometimes"}}}', "15m sometimes"),
        ('{"consultation": {"*": {"answer": "15m working"}}}', "only first_response"),
        ('{"consultation": []}', "consultation"),
    ],
)
def test_a_bad_policy_file_is_refused_with_where(text, fragment):
    with pytest.raises(PolicyFileError) as raised:
        parse_policies(text, "policies.json")
    assert fragment in str(raised.value)
    assert "policies.json" in str(raised.value)


def test_priority_specific_policy_wins_over_the_default():
    policies = parse_policies(
        json.dumps(
            {
                "consultation": {
                    "*": {"first_response": "15m working"},
                    "urgent": {"first_response": "5m working"},
                }
            }
        )
    )
    urgent = policies.for_ticket("consultation", "urgent").first_response
    low = policies.for_ticket("consultation", "low").first_response
    assert urgent == Target(timedelta(minutes=5), working=True)
    assert low == Target(timedelta(minutes=15), working=True)


def test_clocks_start_at_received_at_on_the_calendar():
    late = datetime(2026, 11, 25, 8, 50, tzinfo=UTC)  # 16:50 Shanghai
    ticket = _ticket(received_at=late)
    assert ticket.sla.first_response_due == datetime(2026, 11, 26, 1, 5, tzinfo=UTC)
    complaint = _ticket(kind="complaint", received_at=late)
    assert complaint.sla.resolution_due == late + timedelta(days=15)
    assert complaint.sla.first_response_due == datetime(2026, 11, 26, 8, 50, tzinfo=UTC)


def test_waiting_on_the_customer_pauses_and_moves_working_due_times_only():
    complaint = _ticket(kind="complaint", status="in_progress")
    waiting = track(complaint, replace(complaint, status="waiting_on_customer"), NOW, RULES)
    assert (waiting.sla.paused, waiting.sla.paused_at) == (True, NOW)
    assert next_due(waiting) == complaint.sla.resolution_due  # only the calendar clock runs
    back_at = NOW + timedelta(days=1)  # one full working day (8 h) spent waiting
    resumed = track(waiting, replace(waiting, status=Status.IN_PROGRESS), back_at, RULES)
    assert (resumed.sla.paused, resumed.sla.paused_at) == (False, None)
    assert resumed.sla.first_response_due == RULES.calendar.add_working_time(
        complaint.sla.first_response_due, timedelta(hours=8)
    )
    assert resumed.sla.resolution_due == complaint.sla.resolution_due  # regulator's clock


def test_a_met_first_response_is_not_moved_by_a_pause():
    ticket = _ticket(
        kind="application",
        status="waiting_on_customer",
        sla=replace(
            _ticket(kind="application").sla, first_responded_at=NOW, paused=True, paused_at=NOW
        ),
    )
    resumed = track(ticket, replace(ticket, status="in_progress"), NOW + timedelta(days=2), RULES)
    assert resumed.sla.first_response_due == ticket.sla.first_response_due


def test_breaches_are_recorded_once_and_escalate_until_tier_three():
    ticket = _ticket(received_at=NOW - timedelta(days=20), assignee="agent-1", status="assigned")
    later = NOW + timedelta(minutes=1)
    assert breached_metrics(ticket, later) == ["first_response"]
    ids = iter(f"E-{n}" for n in range(1, 10))
    changed, events = record_breaches(ticket, ["first_response"], later, lambda: next(ids))
    assert changed.sla.breaches == ("first_response",)
    assert (changed.tier, changed.queue, changed.assignee, changed.priority) == (
        2,
        "tier2",
        None,
        "high",
    )
    assert [e.type for e in events] == ["sla.breached", "ticket.escalated"]
    assert events[0].data["metric"] == "first_response"
    assert events[0].actor.role is Role.SYSTEM
    assert breached_metrics(changed, later) == []
    at_top = replace(ticket, tier=3, queue="tier3")
    top, top_events = record_breaches(at_top, ["first_response"], later, lambda: next(ids))
    assert (top.tier, top.assignee, [e.type for e in top_events]) == (
        3,
        "agent-1",
        ["sla.breached"],
    )


def _ports(clock):
    return TicketPorts(InMemoryTicketRepository(), SequentialIds(), clock, RULES)


def test_the_sweep_reads_only_what_is_due_and_overlapping_sweeps_record_once():
    clock = FixedClock(NOW)
    ports = _ports(clock)
    overdue = _ticket(received_at=NOW - timedelta(days=20))
    fresh = replace(_ticket(), id="T-2", reference="SD-00000002")
    ports.repository.create(overdue, [])
    ports.repository.create(fresh, [])
    first = sweep(ports)
    second = sweep(ports)
    assert (first.due, first.breached) == (1, 1)
    assert (second.due, second.breached) == (0, 0)
    stored = ports.repository.get(overdue.id)
    assert stored is not None
    assert stored.sla.breaches == ("first_response",)
    assert [e.type for e in ports.repository.events(overdue.id)] == [
        "sla.breached",
        "ticket.escalated",
    ]
    assert ports.repository.get(fresh.id) == fresh


def test_a_stale_index_copy_is_re_read_not_double_recorded():
    clock = FixedClock(NOW)
    ports = _ports(clock)
    overdue = _ticket(received_at=NOW - timedelta(days=20))
    ports.repository.create(overdue, [])
    stale = ports.repository.due_tickets(NOW, 10)
    sweep(ports)  # another sweep got there first
    ports.repository.due_tickets = lambda now, limit: stale
    assert sweep(ports).breached == 0
    assert len(ports.repository.events(overdue.id)) == 2


def test_ops_are_alerted_once_per_breach_and_a_failed_publish_is_retried():
    clock = FixedClock(NOW)
    ports = _ports(clock)
    ports.repository.create(_ticket(received_at=NOW - timedelta(days=20)), [])
    sweep(ports)
    [breach, _] = ports.repository.events("T-1")
    alerter = RecordingOpsAlerter(failures=1)
    reactions = ReactionPorts(InMemoryReactionLedger(), alerter)
    with pytest.raises(ConnectionError):
        react(breach, reactions)
    react(breach, reactions)  # the stream's retry
    react(breach, reactions)  # a redelivery
    assert len(alerter.sent) == 1
    assert alerter.sent[0].ticket_id == "T-1"
    assert alerter.sent[0].details["metric"] == "first_response"
    assert "cust-1" not in json.dumps(asdict(alerter.sent[0]))


def test_the_regulators_complaint_clock_runs_while_waiting_on_the_customer():
    complaint = _ticket(
        kind="complaint", status="in_progress", received_at=NOW - timedelta(days=20)
    )
    assert complaint.sla.unpaused == ("resolution",)
    waiting = track(complaint, replace(complaint, status="waiting_on_customer"), NOW, RULES)
    assert waiting.sla.paused
    assert next_due(waiting) == complaint.sla.resolution_due
    assert breached_metrics(waiting, NOW) == ["resolution"]  # first response is paused


def test_a_manual_escalation_alerts_ops_but_the_sweeps_own_does_not_alert_twice():
    agent = Caller(Role.AGENT, "agent-1")
    manual = Event(
        "E-m",
        "T-1",
        EventType.ESCALATED,
        NOW,
        agent,
        {"reason": "Needs cards team", "tier": 2, "queue": "tier2"},
    )
    by_sweep = replace(manual, id="E-s", actor=Caller(Role.SYSTEM, "system"))
    alerter = RecordingOpsAlerter()
    reactions = ReactionPorts(InMemoryReactionLedger(), alerter)
    for event in (manual, manual, by_sweep):
        react(event, reactions)
    assert [(a.kind, a.details["tier"], a.details["queue"]) for a in alerter.sent] == [
        ("ticket.escalated", "2", "tier2")
    ]
    assert "T-1" in alerter.sent[0].summary


def test_a_resolved_ticket_closes_itself_after_seven_days_as_system():
    clock = FixedClock(NOW)
    ports = _ports(clock)
    resolved = _ticket(
        status="resolved",
        resolved_at=NOW,
        resolutions=1,
        sla=replace(_ticket().sla, first_responded_at=NOW),
    )
    ports.repository.create(resolved, [])
    clock.advance(days=6, hours=23)
    assert sweep(ports).breached == 0
    clock.advance(hours=1)
    assert sweep(ports).breached == 1
    closed = ports.repository.get("T-1")
    assert closed is not None and closed.status == "closed"
    [event] = ports.repository.events("T-1")
    assert (event.type, event.actor.role, event.data["to"]) == (
        "ticket.status_changed",
        Role.SYSTEM,
        "closed",
    )
    assert sweep(ports).due == 0


def test_a_back_dated_ticket_past_its_deadline_opens_breached_in_the_same_write():
    # Spec review 2, Low 7: the breach waited for the next sweep (201 said `breaches: []`).
    clock = FixedClock(NOW)
    ports = _ports(clock)
    request = card_request(customer_id="cust-1", received_at=NOW - timedelta(days=2))
    response = create_ticket(
        ports, Caller(Role.AGENT, "agent-1"), request, lambda t: StoredResponse(201, t.id)
    )
    ticket = ports.repository.get(response.body)
    assert ticket is not None
    assert (ticket.sla.breaches, ticket.tier, ticket.version) == (("first_response",), 2, 1)
    assert ports.repository.writes == 1  # ticket, creation and breach: one transaction
    assert [e.type for e in ports.repository.events(ticket.id)] == [
        "ticket.created",
        "sla.breached",
        "ticket.escalated",
    ]
    assert sweep(ports).breached == 0  # once per metric per ticket
    on_time = replace(request, received_at=NOW - timedelta(minutes=5))
    fresh = create_ticket(
        ports, Caller(Role.AGENT, "agent-1"), on_time, lambda t: StoredResponse(201, t.id)
    )
    assert ports.repository.get(fresh.body).sla.breaches == ()
