"""Report counters from events (idempotent), the summary and per-agent reports, ranges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.bootstrap import load_complaint_codes
from chalicelib.domain.errors import ForbiddenError, ValidationError
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.reports import bucket_label, percentile, report_range
from chalicelib.domain.sla import SlaRules, parse_policies
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.service.reactions import ReactionPorts, react
from chalicelib.service.reports import ReportPorts, report_agents, report_summary
from chalicelib.service.tickets import (
    Answer,
    StoredResponse,
    TicketPorts,
    act,
    comment,
    create_ticket,
)
from tests.fakes import (
    AlwaysWorking,
    FixedClock,
    InMemoryCounterReader,
    InMemoryReactionLedger,
    InMemoryTicketRepository,
    RecordingMetrics,
    SequentialIds,
)

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
AGENT = Caller(Role.AGENT, "agent-1")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
AUDITOR = Caller(Role.AUDITOR, "aud-1")
DAY = {"from": "2026-11-27", "to": "2026-11-27"}
POLICIES = parse_policies(
    '{"consultation": {"*": {"first_response": "15m working"}},'
    ' "complaint": {"*": {"first_response": "1d working", "resolution": "15d calendar"}}}'
)


def _request(channel: str, kind: str) -> TicketRequest:
    return TicketRequest(channel, kind, "card", "Card blocked", "", None)


class Desk:
    def __init__(self) -> None:
        self.clock = FixedClock()  # Friday 2026-11-27 10:30 in Shanghai
        self.repository = InMemoryTicketRepository()
        self.ports = TicketPorts(
            self.repository,
            SequentialIds(),
            self.clock,
            SlaRules(POLICIES, AlwaysWorking()),
            complaint_codes=load_complaint_codes(),
        )
        self.ledger = InMemoryReactionLedger()
        self.metrics = RecordingMetrics()
        self.reactions = ReactionPorts(self.ledger, tickets=self.repository, metrics=self.metrics)
        self.reports = ReportPorts(InMemoryCounterReader(self.ledger))

    def open(self, channel: str, kind: str) -> Ticket:
        render = lambda ticket: StoredResponse(201, ticket.id)  # noqa: E731
        ticket_id = create_ticket(self.ports, CUSTOMER, _request(channel, kind), render).body
        return self.repository.tickets[ticket_id]

    def act(self, ticket: Ticket, action: str, caller: Caller = AGENT, **params: Any) -> None:
        act(self.ports, caller, ticket.id, action, params)

    def reply(self, ticket: Ticket, caller: Caller = AGENT, internal: bool = False) -> None:
        render = lambda event: StoredResponse(201, event.id)  # noqa: E731
        comment(self.ports, caller, ticket.id, "Hello", internal, answer=Answer(render))

    def deliver_everything(self) -> None:
        for events in list(self.repository.event_log.values()):
            for event in list(events):
                react(event, self.reactions)


def _survey_answer(ticket: Ticket, at: datetime, score: int, agent: str) -> Event:
    data = {"survey_id": f"S-{score}", "score": score, "agent": agent}
    answered = EventType.SURVEY_ANSWERED
    return Event(f"E-survey-{score}", ticket.id, answered, at, CUSTOMER, data)


@pytest.fixture
def desk() -> Desk:
    """Two tickets on one day: a consultation answered on time and resolved twice, a
    complaint answered late (before the sweep saw it) and resolved on time; two surveys."""
    desk = Desk()
    quick = desk.open("mobile", "consultation")
    desk.act(quick, "assign")
    desk.act(quick, "start")
    desk.reply(quick, internal=True)  # a note is not a response
    desk.clock.advance(minutes=10)
    desk.reply(quick)  # first response after 10 minutes: met
    desk.clock.advance(minutes=1)
    desk.reply(quick)  # a second reply is no first response
    desk.clock.advance(minutes=9)
    desk.act(quick, "resolve", resolution="Unblocked")
    desk.act(quick, "reopen", caller=CUSTOMER, reason="Still blocked")
    desk.act(quick, "resolve", resolution="Unblocked again")
    late = desk.open("web", "complaint")
    desk.act(late, "assign")
    desk.act(late, "start")
    desk.clock.advance(hours=9)  # 1 working day (8 h here) passed: late
    desk.reply(late)
    desk.act(late, "classify", business="card", cause="fees")  # a complaint needs it resolved
    desk.act(late, "resolve", resolution="Refunded")
    at = desk.clock()
    desk.repository.event_log[quick.id].append(_survey_answer(quick, at, 5, "agent-1"))
    desk.repository.event_log[late.id].append(_survey_answer(late, at, 2, ""))
    desk.deliver_everything()
    return desk


def test_summary_counts_what_happened_on_the_day(desk: Desk):
    summary = report_summary(desk.reports, SUPERVISOR, DAY)
    assert summary["from"] == summary["to"] == "2026-11-27"
    assert summary["tickets_created"] == {
        "total": 2,
        "by_channel": {"mobile": 1, "web": 1},
        "by_kind": {"complaint": 1, "consultation": 1},
        "by_queue": {"cards": 1, "complaints": 1},
    }
    assert summary["resolved"] == 3  # every resolution counts
    assert summary["sla"]["first_response"] == {"met": 1, "breached": 1, "compliance": 0.5}
    assert summary["sla"]["resolution"] == {"met": 1, "breached": 0, "compliance": 1.0}
    assert summary["csat"] == {
        "responses": 2,
        "average": 3.5,
        "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1},
    }
    # 10 minutes (bucket 5-10) and 9 h = 540 minutes (bucket 480-960).
    assert summary["first_response_minutes"] == {"p50": 10, "p90": 864}


def test_redelivery_never_double_counts(desk: Desk):
    before = report_summary(desk.reports, SUPERVISOR, DAY)
    points = len(desk.metrics.points)
    desk.deliver_everything()  # the stream delivers the whole batch again
    assert report_summary(desk.reports, SUPERVISOR, DAY) == before
    assert len(desk.metrics.points) == points  # ops metrics are emitted once too


def test_agents_are_credited_with_what_they_did_themselves(desk: Desk):
    [agent] = report_agents(desk.reports, AUDITOR, DAY)["items"]
    assert agent["agent"] == "agent-1"
    assert agent["resolved"] == 3
    assert agent["csat_average"] == 5.0  # the unattributed survey is not theirs
    # their first responses: on time, late; their resolution with a due time: on time
    assert agent["sla_compliance"] == pytest.approx(2 / 3, abs=1e-4)
    assert agent["median_resolution_minutes"] is not None


def test_counters_outside_the_range_are_not_read(desk: Desk):
    summary = report_summary(desk.reports, SUPERVISOR, {"from": "2026-11-28", "to": "2026-12-31"})
    assert summary["tickets_created"]["total"] == 0
    assert summary["sla"]["first_response"]["compliance"] is None
    assert summary["csat"]["average"] is None
    assert summary["first_response_minutes"] == {"p50": None, "p90": None}
    assert report_agents(desk.reports, SUPERVISOR, {"from": "2026-11-26", "to": "2026-11-26"}) == {
        "items": []
    }


def test_metrics_name_the_channel_and_the_score(desk: Desk):
    names = [(name, dims, value) for name, dims, value in desk.metrics.points]
    assert ("TicketsCreated", {"Channel": "mobile"}, 1.0) in names
    created = sum(1 for name, _, _ in names if name == "TicketsCreated")
    assert sum(1 for name, _, _ in names if name == "TicketsCreatedTotal") == created > 0
    assert ("CsatScore", {}, 2.0) in names
    assert sum(1 for name, _, _ in names if name == "TicketsResolved") == 3


def test_each_event_counts_on_its_shanghai_day():
    desk = Desk()
    desk.clock.now = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)  # 00:30 on the 28th in Shanghai
    desk.open("branch", "application")
    desk.deliver_everything()
    on_28th = {"from": "2026-11-28", "to": "2026-11-28"}
    assert report_summary(desk.reports, SUPERVISOR, on_28th)["tickets_created"]["total"] == 1
    assert report_summary(desk.reports, SUPERVISOR, DAY)["tickets_created"]["total"] == 0


def test_a_breach_recorded_by_the_sweep_is_not_counted_again_at_the_late_reply():
    desk = Desk()
    ticket = desk.open("phone", "consultation")
    desk.act(ticket, "assign")
    desk.act(ticket, "start")
    desk.clock.advance(minutes=30)
    from chalicelib.service.sla import sweep

    sweep(desk.ports)
    desk.act(desk.repository.tickets[ticket.id], "assign")  # escalated: pick it up again
    desk.reply(ticket)
    desk.deliver_everything()
    sla = report_summary(desk.reports, SUPERVISOR, DAY)["sla"]["first_response"]
    assert sla == {"met": 0, "breached": 1, "compliance": 0.0}


def test_a_late_decision_stays_late_when_a_reopen_lands_before_its_reaction():
    # A reopened complaint gets a fresh clock; the resolve's reaction may run after it
    # (stream lag, a retry): the decision is still measured against its own deadline.
    desk = Desk()
    ticket = desk.open("web", "complaint")
    desk.act(ticket, "assign")
    desk.act(ticket, "start")
    desk.act(ticket, "classify", business="card", cause="fees")
    desk.clock.advance(days=16)  # past the 15 calendar days, before any sweep
    desk.act(ticket, "resolve", resolution="Refunded")
    desk.act(ticket, "reopen", caller=CUSTOMER, reason="Not refunded")
    fresh = desk.repository.tickets[ticket.id].sla.resolution_due
    assert fresh is not None and fresh > desk.clock()
    desk.deliver_everything()
    day = {"from": "2026-12-13", "to": "2026-12-13"}
    resolution = report_summary(desk.reports, SUPERVISOR, day)["sla"]["resolution"]
    assert resolution == {"met": 0, "breached": 1, "compliance": 0.0}


@pytest.mark.parametrize("caller", [CUSTOMER, AGENT])
def test_customers_and_agents_may_not_read_reports(desk: Desk, caller: Caller):
    with pytest.raises(ForbiddenError):
        report_summary(desk.reports, caller, DAY)
    with pytest.raises(ForbiddenError):
        report_agents(desk.reports, caller, {"from": "bad"})  # 403 before 400


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-28", "to": "2026-11-27"}, "to"),  # reversed
        ({"from": "2026-13-01", "to": "2026-12-01"}, "from"),  # no such month
        ({"from": "27/11/2026", "to": "2026-12-01"}, "from"),
        ({"from": "2026-11-27"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days
        ({"from": "2026-01-01", "to": "2026-01-02", "team": "x"}, "team"),
    ],
)
def test_bad_ranges_name_the_field(params: dict[str, str], field: str):
    with pytest.raises(ValidationError) as raised:
        report_range(params)
    assert field in {error.path for error in raised.value.errors}


def test_a_leap_year_fits_in_366_days():
    assert report_range({"from": "2028-01-01", "to": "2028-12-31"}).days == 366


def test_percentiles_are_estimated_inside_their_bucket():
    assert bucket_label(0) == "le00005"
    assert bucket_label(15) == "le00015"
    assert bucket_label(16) == "le00030"
    assert bucket_label(10**6) == "inf"
    histogram = {"le00015": 5, "le00030": 5}
    assert percentile(histogram, 0.5) == 15
    assert percentile(histogram, 0.9) == 27  # 15 + 15 * 4/5
    assert percentile({"inf": 3}, 0.5) == 9600  # never more than the data says
    assert percentile({}, 0.5) is None
