"""The regulator's complaint report (SPEC section 13): counters kept as events arrive,
read back as JSON and CSV, decided from SPEC's words."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from msgspec.structs import replace

from chalicelib.bootstrap import POLICIES_FILE, load_complaint_codes
from chalicelib.domain.complaints import Conclusion, complaint_of, days_bucket
from chalicelib.domain.errors import ForbiddenError, ValidationError
from chalicelib.domain.events import Event, EventType, StatusChanged
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.sla import SlaRules, parse_policies
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.service.complaints import (
    ComplaintReportPorts,
    complaint_counters,
    count_complaint,
    report_complaints,
)
from chalicelib.service.reactions import ReactionPorts, react
from chalicelib.service.tickets import StoredResponse, TicketPorts, act, create_ticket
from tests.fakes import (
    AlwaysWorking,
    FixedClock,
    InMemoryCounterReader,
    InMemoryReactionLedger,
    InMemoryTicketRepository,
    SequentialIds,
)

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
AGENT = Caller(Role.AGENT, "agent-1")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
COLLEAGUE = Caller(Role.SUPERVISOR, "sup-2")
AUDITOR = Caller(Role.AUDITOR, "aud-1")
RANGE = {"from": "2026-11-01", "to": "2027-02-28"}


class Desk:
    def __init__(self) -> None:
        self.clock = FixedClock()  # 2026-11-27 10:30 in Shanghai
        self.repository = InMemoryTicketRepository()
        policies = parse_policies(POLICIES_FILE.read_text(encoding="utf-8"))
        self.ports = TicketPorts(
            self.repository,
            SequentialIds(),
            self.clock,
            SlaRules(policies, AlwaysWorking()),
            complaint_codes=load_complaint_codes(),
        )
        self.ledger = InMemoryReactionLedger()
        self.reactions = ReactionPorts(self.ledger, tickets=self.repository)
        self.reader = InMemoryCounterReader(self.ledger)
        self.report_ports = ComplaintReportPorts(self.reader)

    def open(
        self, channel: str = "web", by: Caller = CUSTOMER, received_at: datetime | None = None
    ) -> Ticket:
        request = TicketRequest(
            channel,
            "complaint",
            "card",
            "Fee charged twice",
            "",
            None,
            customer_id=None if by.is_customer else CUSTOMER.id,
            received_at=received_at,
        )
        render = lambda ticket: StoredResponse(201, ticket.id)  # noqa: E731
        return self.repository.tickets[create_ticket(self.ports, by, request, render).body]

    def act(self, ticket: Ticket, action: str, caller: Caller = SUPERVISOR, **params: Any) -> None:
        act(self.ports, caller, ticket.id, action, params)

    def work(self, ticket: Ticket, business: str = "card", cause: str = "fees") -> None:
        self.act(ticket, "assign", AGENT)
        self.act(ticket, "start", AGENT)
        self.act(ticket, "classify", AGENT, business=business, cause=cause)

    def deliver_everything(self) -> None:
        for events in list(self.repository.event_log.values()):
            for event in list(events):
                react(event, self.reactions)

    def report(self, caller: Caller = SUPERVISOR, **params: str) -> dict[str, Any]:
        return report_complaints(self.report_ports, caller, params or RANGE)

    def rows(self) -> list[dict[str, str]]:
        _, counters = complaint_counters(self.report_ports, SUPERVISOR, RANGE)
        from chalicelib.domain.complaint_report import complaint_csv

        return list(csv.DictReader(io.StringIO(complaint_csv(counters))))


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_a_complaint_is_received_on_its_received_at_day_under_its_current_codes(desk):
    received = desk.clock() - timedelta(days=3)
    ticket = desk.open("phone", by=AGENT, received_at=received)
    desk.deliver_everything()
    assert desk.report()["received"] == {
        "total": 1,
        "by_business": {"unclassified": 1},
        "by_cause": {"unclassified": 1},
        "by_channel": {"phone": 1},
    }
    desk.work(ticket)
    desk.act(ticket, "classify", AGENT, business="payment", cause="systems")
    desk.deliver_everything()
    report = desk.report()
    assert report["received"]["by_business"] == {"payment": 1}
    assert report["received"]["by_cause"] == {"systems": 1}
    # Received on its day, not the day it was classified or opened in the system.
    assert desk.report(**{"from": "2026-11-24", "to": "2026-11-24"})["received"]["total"] == 1
    assert desk.report(**{"from": "2026-11-25", "to": "2026-11-27"})["received"]["total"] == 0


def test_redelivered_events_count_once(desk):
    ticket = desk.open()
    desk.work(ticket)
    desk.act(ticket, "resolve", AGENT, resolution="Refunded")
    for _ in range(3):
        desk.deliver_everything()
    report = desk.report()
    assert report["received"]["total"] == 1
    assert report["concluded"]["total"] == 1


def test_conclusions_count_once_by_days_from_receipt_without_the_suspended_time(desk):
    quick = desk.open()
    desk.work(quick)
    desk.clock.advance(days=2)
    desk.act(quick, "resolve", AGENT, resolution="Refunded")
    desk.act(quick, "reopen", CUSTOMER)
    desk.act(quick, "resolve", AGENT, resolution="Refunded again")  # concluded already

    slow = desk.open()
    desk.work(slow, "loan", "contract")
    desk.act(slow, "extend", reason="Complex")
    desk.act(slow, "extend", reason="Particularly complex")
    desk.act(slow, "extend", COLLEAGUE, reason="Approved")
    desk.act(slow, "suspend_clock", reason="external_appraisal", note="Card scheme appraisal")
    desk.clock.advance(days=10)
    desk.act(slow, "resume_clock")
    desk.clock.advance(days=25)  # 35 days from receipt, 10 suspended: 25 count
    desk.act(slow, "resolve", AGENT, resolution="Rate restored")

    withdrawn = desk.open()
    desk.act(withdrawn, "cancel", CUSTOMER, reason="Sorted out at the branch")
    staff_cancelled = desk.open()
    desk.act(staff_cancelled, "cancel", AGENT, reason="Duplicate")
    desk.deliver_everything()

    report = desk.report()
    assert report["received"]["total"] == 4
    assert report["concluded"] == {
        "total": 3,
        "within_15_days": 1,
        "within_30_days": 1,
        "within_60_days": 0,
        "later": 0,
        "withdrawn": 1,
    }
    assert report["extended"] == {"once": 1, "twice": 1}
    assert report["reviews"] == {"requested": 0, "concluded": 0}


def test_a_merge_concludes_the_complaint_it_closes(desk):
    # The merge action is another feature's; its event is a status change to closed.
    ticket = desk.open()
    desk.clock.advance(days=40)
    merged = Event(
        "E-merge",
        ticket.id,
        EventType.STATUS_CHANGED,
        desk.clock(),
        AGENT,
        StatusChanged(action="merge", from_status=Status.NEW, to_status=Status.CLOSED).to_data(),
    )
    desk.repository.tickets[ticket.id] = replace(ticket, status=Status.CLOSED)
    desk.repository.event_log[ticket.id].append(merged)
    desk.deliver_everything()
    assert desk.report()["concluded"]["within_60_days"] == 1


def _concluded(desk: Desk) -> dict[str, int]:
    concluded = desk.report()["concluded"]
    return {name: count for name, count in concluded.items() if count}


def test_a_decision_in_time_is_not_reported_late_because_of_a_later_reopen(desk):
    # Decided on day 20 with 10 days suspended: 10 days count, within 15. The reopening
    # starts a fresh clock (no suspension on it yet) before the stream reaction runs.
    ticket = desk.open()
    desk.work(ticket)
    desk.clock.advance(days=10)
    desk.act(ticket, "suspend_clock", reason="external_appraisal", note="Card scheme appraisal")
    desk.clock.advance(days=10)
    desk.act(ticket, "resolve", AGENT, resolution="Refunded")
    desk.clock.advance(days=5)
    desk.act(ticket, "reopen", CUSTOMER, reason="Not refunded yet")
    desk.clock.advance(days=40)
    desk.act(ticket, "resolve", AGENT, resolution="Refunded at last")  # counted already
    desk.deliver_everything()
    assert _concluded(desk) == {"total": 1, "within_15_days": 1}


def test_a_conclusion_counts_the_time_suspended_before_it_not_after_a_reopen(desk):
    # Decided on day 20 with nothing suspended: within 30. The fresh clock after the
    # reopening is suspended 10 days before the stream reaction runs: still within 30.
    ticket = desk.open()
    desk.work(ticket)
    desk.clock.advance(days=20)
    desk.act(ticket, "resolve", AGENT, resolution="Refunded")
    desk.act(ticket, "reopen", CUSTOMER, reason="Not refunded yet")
    desk.act(ticket, "suspend_clock", reason="testing", note="Card scheme appraisal")
    desk.clock.advance(days=10)
    desk.act(ticket, "resume_clock")
    desk.deliver_everything()
    assert _concluded(desk) == {"total": 1, "within_30_days": 1}


@pytest.mark.parametrize(("withdrawn", "bucket"), [(True, "withdrawn"), (False, "within_15_days")])
def test_a_suspended_complaint_withdrawn_or_merged_is_concluded_once(desk, withdrawn, bucket):
    ticket = desk.open()
    desk.act(ticket, "suspend_clock", reason="external_appraisal", note="Card scheme appraisal")
    desk.clock.advance(days=40)  # 40 days from receipt, all of them suspended
    if withdrawn:
        desk.act(ticket, "cancel", CUSTOMER, reason="Sorted out at the branch")
    else:
        desk.act(ticket, "merge", AGENT, into=desk.open().id)
    desk.deliver_everything()
    assert _concluded(desk) == {"total": 1, bucket: 1}


def test_reviews_are_counted_apart_from_new_complaints(desk):
    original = desk.open()
    requested = Event(
        "E-review",
        original.id,
        cast(EventType, "complaint.review_requested"),
        desk.clock(),
        CUSTOMER,
        {"reason": "I disagree"},
    )
    count_complaint(requested, desk.reactions)
    count_complaint(requested, desk.reactions)  # redelivered
    review = desk.open()
    desk.repository.tickets[review.id] = replace(
        desk.repository.tickets[review.id], review_of=original.id
    )
    desk.work(review)
    desk.act(review, "resolve", AGENT, resolution="Upheld")
    desk.deliver_everything()
    report = desk.report()
    assert report["reviews"] == {"requested": 1, "concluded": 1}
    assert report["received"]["total"] == 1  # the original only
    assert report["concluded"]["total"] == 0


def test_the_csv_has_one_row_per_business_cause_and_channel(desk):
    for channel, business in (("web", "card"), ("web", "card"), ("phone", "loan")):
        ticket = desk.open(channel, by=AGENT if channel == "phone" else CUSTOMER)
        desk.work(ticket, business, "fees")
        desk.act(ticket, "resolve", AGENT, resolution="Done")
    desk.open()  # unclassified, open
    desk.deliver_everything()
    rows = desk.rows()
    assert list(rows[0]) == [
        *("business", "cause", "channel", "received", "concluded"),
        *("within_15_days", "within_30_days", "within_60_days", "later", "withdrawn"),
    ]
    assert [
        (r["business"], r["cause"], r["channel"], r["received"], r["concluded"]) for r in rows
    ] == [
        ("card", "fees", "web", "2", "2"),
        ("loan", "fees", "phone", "1", "1"),
        ("unclassified", "unclassified", "web", "1", "0"),
    ]
    assert rows[0]["within_15_days"] == "2"


def test_only_supervisors_and_auditors_read_it_and_the_range_is_checked(desk):
    assert desk.report(AUDITOR)["received"]["total"] == 0
    for caller in (CUSTOMER, AGENT):
        with pytest.raises(ForbiddenError):
            desk.report(caller)
    with pytest.raises(ValidationError) as raised:
        desk.report(**{"from": "2026-12-02", "to": "2026-12-01"})
    assert [e.path for e in raised.value.errors] == ["to"]
    with pytest.raises(ValidationError):
        desk.report(**{"from": "2026-12-01"})


def test_it_reads_one_key_range_per_family_never_a_scan(desk):
    desk.report()
    assert sorted(desk.reader.queries) == sorted(
        ["complaint#received", "complaint#concluded", "complaint#extended", "complaint#reviews"]
    )


@pytest.mark.parametrize(
    ("days", "suspended", "bucket"),
    [
        (15, 0, "within_15_days"),
        (15.01, 0, "within_30_days"),
        (20, 5, "within_15_days"),
        (30, 0, "within_30_days"),
        (60, 0, "within_60_days"),
        (61, 0, "later"),
    ],
)
def test_the_day_buckets(days, suspended, bucket):
    received = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    concluded = received + timedelta(days=days)
    assert days_bucket(received, concluded, timedelta(days=suspended)) == bucket


# --- a reopened complaint: counted once, under one classification ------------------------------


def _decided_then_reopened(desk: Desk, deliver_between: bool) -> Ticket:
    """A card/fees complaint extended once, decided within 30 days and reopened (the
    stream reactions run before the reopening, or only at the end)."""
    ticket = desk.open()
    desk.work(ticket)
    desk.act(ticket, "extend", reason="Card network records needed")
    desk.clock.advance(days=20)
    desk.act(ticket, "resolve", AGENT, resolution="Refunded")
    if deliver_between:
        desk.deliver_everything()
    desk.clock.advance(days=1)
    desk.act(ticket, "reopen", CUSTOMER, reason="Not refunded yet")
    return ticket


@pytest.mark.parametrize("deliver_between", [False, True])
def test_extensions_of_a_reopened_complaints_fresh_clock_are_not_counted_again(
    desk, deliver_between
):
    ticket = _decided_then_reopened(desk, deliver_between)
    desk.act(ticket, "extend", reason="Card network records needed again")
    desk.act(ticket, "extend", reason="Particularly complex")
    desk.act(ticket, "extend", COLLEAGUE, reason="Approved")
    assert complaint_of(desk.repository.tickets[ticket.id]).extensions == 2  # fresh ladder
    desk.deliver_everything()
    desk.deliver_everything()  # redelivered
    report = desk.report()
    assert report["extended"] == {"once": 1, "twice": 0}
    assert _concluded(desk) == {"total": 1, "within_30_days": 1}


@pytest.mark.parametrize("deliver_between", [False, True])
def test_a_reclassified_reopened_complaint_moves_its_conclusion_with_its_receipt(
    desk, deliver_between
):
    ticket = _decided_then_reopened(desk, deliver_between)
    desk.act(ticket, "classify", AGENT, business="payment", cause="systems")
    desk.act(ticket, "classify", AGENT, business="loan", cause="contract")
    desk.act(ticket, "resolve", AGENT, resolution="Refunded at last")  # concluded already
    desk.deliver_everything()
    desk.deliver_everything()  # redelivered
    assert [
        (r["business"], r["cause"], r["received"], r["concluded"], r["within_30_days"])
        for r in desk.rows()
    ] == [("loan", "contract", "1", "1", "1")]
    report = desk.report()
    assert report["received"]["by_business"] == {"loan": 1}
    assert report["concluded"]["total"] == 1


def test_a_withdrawal_is_counted_under_the_classification_it_had(desk):
    # Withdrawn while classified card/fees: the conclusion is recorded with the action,
    # so it stays where the receipt is, whenever the reaction runs.
    ticket = desk.open()
    desk.work(ticket)
    desk.act(ticket, "cancel", CUSTOMER, reason="Sorted out at the branch")
    desk.deliver_everything()
    assert [(r["business"], r["cause"], r["received"], r["withdrawn"]) for r in desk.rows()] == [
        ("card", "fees", "1", "1")
    ]


def test_the_first_conclusion_is_recorded_once_and_a_staff_cancellation_records_none(desk):
    ticket = _decided_then_reopened(desk, deliver_between=False)
    recorded = complaint_of(desk.repository.tickets[ticket.id]).concluded
    assert recorded == Conclusion("2026-12-17", "within_30_days", "card", "fees")
    desk.act(ticket, "classify", AGENT, business="payment", cause="systems")
    desk.act(ticket, "resolve", AGENT, resolution="Refunded at last")
    assert complaint_of(desk.repository.tickets[ticket.id]).concluded == recorded
    cancelled = desk.open()
    desk.act(cancelled, "cancel", AGENT, reason="Opened twice")
    assert complaint_of(desk.repository.tickets[cancelled.id]).concluded is None
