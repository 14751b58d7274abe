"""Complaints under the regulator's rules (SPEC section 13), decided from SPEC's words:
the code file, classification, the 15/30/60-day ladder with four eyes, the suspended
clock, the decision message, and what a refused action leaves behind (nothing)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.bootstrap import COMPLAINT_CODES_FILE, POLICIES_FILE, load_complaint_codes
from chalicelib.domain.complaints import (
    ClassificationRequiredError,
    CodeFileError,
    DeadlinePassedError,
    FourEyesError,
    complaint_view,
    parse_codes,
)
from chalicelib.domain.errors import ForbiddenError, IllegalTransitionError, ValidationError
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.sla import SlaRules, breached_metrics, next_due, parse_policies
from chalicelib.domain.ticket import Ticket, TicketRequest, ticket_view
from chalicelib.service.reviews import request_review
from chalicelib.service.sla import sweep
from chalicelib.service.tickets import Answer, StoredResponse, TicketPorts, act, create_ticket
from tests.fakes import AlwaysWorking, FixedClock, InMemoryTicketRepository, SequentialIds

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
AGENT = Caller(Role.AGENT, "agent-1")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
COLLEAGUE = Caller(Role.SUPERVISOR, "sup-2")
DAY = timedelta(days=1)


class Desk:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.repository = InMemoryTicketRepository()
        policies = parse_policies(POLICIES_FILE.read_text(encoding="utf-8"))
        self.ports = TicketPorts(
            self.repository,
            SequentialIds(),
            self.clock,
            SlaRules(policies, AlwaysWorking()),
            complaint_codes=load_complaint_codes(),
        )

    def open(self, kind: str = "complaint") -> Ticket:
        request = TicketRequest("web", kind, "card", "Card fee charged twice", "", None)
        render = lambda ticket: StoredResponse(201, ticket.id)  # noqa: E731
        return self.get(create_ticket(self.ports, CUSTOMER, request, render).body)

    def get(self, ticket_id: str) -> Ticket:
        return self.repository.tickets[ticket_id]

    def act(
        self, ticket: Ticket, action: str, caller: Caller = SUPERVISOR, **params: Any
    ) -> Ticket:
        return act(self.ports, caller, ticket.id, action, params)

    def held(self, kind: str = "complaint") -> Ticket:
        ticket = self.open(kind)
        self.act(ticket, "assign", AGENT)
        return self.act(ticket, "start", AGENT)

    def refused(self, ticket: Ticket, action: str, caller: Caller, **params: Any) -> Exception:
        """Run an action that must be refused; nothing may change (SPEC: a refused action
        changes nothing)."""
        before = (self.get(ticket.id), list(self.repository.event_log[ticket.id]))
        with pytest.raises(Exception) as raised:
            self.act(ticket, action, caller, **params)
        assert (self.get(ticket.id), list(self.repository.event_log[ticket.id])) == before
        return raised.value


@pytest.fixture
def desk() -> Desk:
    return Desk()


def _events(desk: Desk, ticket: Ticket) -> list[str]:
    return [event.type for event in desk.repository.event_log[ticket.id]]


# ---------------------------------------------------------------- the code file


def test_the_shipped_codes_are_the_ones_spec_lists_with_both_names():
    codes = load_complaint_codes()
    assert [entry.code for entry in codes.business] == [
        "deposit",
        "loan",
        "card",
        "payment",
        "wealth",
        "personal-info",
        "other",
    ]
    assert [entry.code for entry in codes.cause] == [
        "service-quality",
        "fees",
        "marketing",
        "contract",
        "fund-security",
        "information-security",
        "systems",
        "other",
    ]
    for entry in (*codes.business, *codes.cause):
        assert set(entry.name) == {"zh-CN", "en-US"}
        assert all(name.strip() for name in entry.name.values())


def test_the_codes_view_is_what_the_route_answers():
    view = load_complaint_codes().view()
    assert view["business"][0] == {
        "code": "deposit",
        "name": {"zh-CN": "存款业务", "en-US": "Deposits"},
    }
    assert set(view) == {"business", "cause"}


def _file_with(**changes: Any) -> str:
    document = json.loads(COMPLAINT_CODES_FILE.read_text(encoding="utf-8"))
    document.update(changes)
    return json.dumps(document, ensure_ascii=False)


GOOD = {"code": "insurance", "name": {"zh-CN": "保险", "en-US": "Insurance"}}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{not json", "not JSON"),
        ("[]", "expected an object"),
        (_file_with(business=[]), "business: expected a non-empty list"),
        (_file_with(cause="fees"), "cause: expected a non-empty list"),
        (_file_with(business=[GOOD, {"code": "x"}]), "business[1]"),
        (_file_with(business=[{**GOOD, "name": {"zh-CN": "保险"}}]), "business[0] (insurance)"),
        (_file_with(business=[{**GOOD, "name": {"zh-CN": "保险", "en-US": " "}}]), "(insurance)"),
        (_file_with(business=[{**GOOD, "code": "Insurance Co"}]), "'Insurance Co'"),
        (_file_with(cause=[GOOD, GOOD]), "cause[1]: duplicate code 'insurance'"),
        (_file_with(business=[{**GOOD, "code": "unclassified"}]), "'unclassified'"),
        (_file_with(channel=[GOOD]), "unknown key 'channel'"),
    ],
)
def test_a_bad_code_file_stops_the_start_naming_the_entry(text, named):
    with pytest.raises(CodeFileError, match=re.escape(named)):
        parse_codes(text, "complaint-codes.json")


def test_the_bank_adds_a_code_by_editing_the_file():
    codes = parse_codes(_file_with(business=[GOOD]))
    assert codes.codes("business") == {"insurance"}
    assert codes.errors({"business": "insurance", "cause": "fees"}) == []


# ---------------------------------------------------------------- classification


def test_a_new_complaint_is_unclassified_and_shows_its_complaint_object(desk):
    ticket = desk.open()
    assert ticket_view(ticket)["complaint"] == {
        "business": None,
        "cause": None,
        "extensions": 0,
        "extension_requested": None,
        "clock_suspended": False,
        "review_of": None,
        "reviewed_by": None,
    }
    assert "complaint" not in ticket_view(desk.open("consultation"))


def test_any_agent_classifies_an_open_complaint_and_may_correct_it(desk):
    ticket = desk.open()
    classified = desk.act(ticket, "classify", AGENT, business="card", cause="fees")
    assert (classified.complaint.business, classified.complaint.cause) == ("card", "fees")
    corrected = desk.act(ticket, "classify", AGENT, business="payment", cause="systems")
    assert ticket_view(corrected)["complaint"]["business"] == "payment"
    last = desk.repository.event_log[ticket.id][-1]
    assert (last.type, last.data["previous_business"], last.data["previous_cause"]) == (
        "complaint.classified",
        "card",
        "fees",
    )


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"business": "mortgage", "cause": "fees"}, ["business"]),
        ({"business": "card", "cause": "rudeness"}, ["cause"]),
        ({"business": "x", "cause": "y"}, ["business", "cause"]),
        ({"business": "card"}, ["cause"]),
        ({"business": "card", "cause": "fees", "note": "x"}, ["note"]),
    ],
)
def test_unknown_codes_are_a_400_naming_the_field_and_change_nothing(desk, params, fields):
    error = desk.refused(desk.open(), "classify", AGENT, **params)
    assert isinstance(error, ValidationError)
    assert sorted(e.path for e in error.errors) == fields


def test_customers_may_not_classify_and_a_consultation_has_no_classification(desk):
    error = desk.refused(desk.open(), "classify", CUSTOMER, business="card", cause="fees")
    assert isinstance(error, ForbiddenError)
    consultation = desk.open("consultation")
    error = desk.refused(consultation, "classify", AGENT, business="card", cause="fees")
    assert isinstance(error, IllegalTransitionError)


def test_a_closed_complaint_is_not_classified(desk):
    ticket = desk.open()
    desk.act(ticket, "cancel", CUSTOMER)
    error = desk.refused(ticket, "classify", AGENT, business="card", cause="fees")
    assert isinstance(error, IllegalTransitionError)


def test_an_unclassified_complaint_is_not_resolved(desk):
    ticket = desk.held()
    error = desk.refused(ticket, "resolve", AGENT, resolution="Refunded")
    assert isinstance(error, ClassificationRequiredError)
    desk.act(ticket, "classify", AGENT, business="card", cause="fees")
    assert desk.act(ticket, "resolve", AGENT, resolution="Refunded").status == "resolved"


def test_an_unclassified_review_is_no_exception_to_the_classification_rule(desk):
    # SPEC 13; a review opens classified as its original (test_reviews.py), so only the
    # review of a complaint concluded before classification existed meets this.
    ticket = desk.held()
    desk.repository.tickets[ticket.id] = replace(desk.get(ticket.id), review_of="T-original")
    error = desk.refused(ticket, "resolve", AGENT, resolution="Upheld")
    assert isinstance(error, ClassificationRequiredError)


def test_the_decision_tells_the_customer_of_the_30_day_review(desk):
    ticket = desk.held()
    desk.act(ticket, "classify", AGENT, business="card", cause="fees")
    desk.act(ticket, "resolve", AGENT, resolution="Refunded")
    resolved = desk.repository.event_log[ticket.id][-1]
    assert resolved.data["review_within_days"] == 30
    other = desk.held("consultation")
    desk.act(other, "resolve", AGENT, resolution="Answered")
    assert "review_within_days" not in desk.repository.event_log[other.id][-1].data


# ---------------------------------------------------------------- the deadline ladder


def test_fifteen_then_thirty_then_sixty_days_from_receipt_with_four_eyes(desk):
    ticket = desk.held()
    received = ticket.received_at
    assert ticket.sla.resolution_due == received + 15 * DAY

    first = desk.act(ticket, "extend", reason="Card network records")
    assert (first.complaint.extensions, first.sla.resolution_due) == (1, received + 30 * DAY)

    desk.clock.advance(hours=1)
    asked = desk.act(ticket, "extend", reason="Particularly complex")
    assert asked.complaint.extensions == 1
    assert asked.sla.resolution_due == received + 30 * DAY  # not applied yet
    assert ticket_view(asked)["complaint"]["extension_requested"] == {
        "at": desk.clock().isoformat(timespec="seconds"),
        "by": SUPERVISOR.id,
    }
    assert _events(desk, ticket)[-1] == "complaint.extension_requested"

    error = desk.refused(ticket, "extend", SUPERVISOR, reason="Approving my own")
    assert isinstance(error, FourEyesError)

    second = desk.act(ticket, "extend", COLLEAGUE, reason="Approved")
    assert (second.complaint.extensions, second.sla.resolution_due) == (2, received + 60 * DAY)
    assert second.complaint.extension_requested is None
    applied = desk.repository.event_log[ticket.id][-1]
    assert (applied.type, applied.data["requested_by"], applied.data["extensions"]) == (
        "sla.extended",
        SUPERVISOR.id,
        2,
    )

    error = desk.refused(ticket, "extend", COLLEAGUE, reason="A third")
    assert isinstance(error, IllegalTransitionError)


def test_only_supervisors_extend_and_the_reason_is_required(desk):
    ticket = desk.held()
    assert isinstance(desk.refused(ticket, "extend", AGENT, reason="x"), ForbiddenError)
    assert isinstance(desk.refused(ticket, "extend", SUPERVISOR), ValidationError)


@pytest.mark.parametrize("kind", ["consultation", "application"])
@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("extend", {"reason": "x"}),
        ("suspend_clock", {"reason": "testing", "note": "Card scheme appraisal"}),
        ("resume_clock", {}),
    ],
)
def test_extending_or_suspending_another_kind_is_a_409(desk, kind, action, params):
    error = desk.refused(desk.held(kind), action, SUPERVISOR, **params)
    assert isinstance(error, IllegalTransitionError)


def test_a_complaint_stored_before_the_ladder_reads_as_once_extended(desk):
    ticket = desk.held()
    legacy = replace(ticket, complaint=None, sla=replace(ticket.sla, extended=True))
    assert complaint_view(legacy)["extensions"] == 1
    desk.repository.tickets[ticket.id] = legacy
    asked = desk.act(legacy, "extend", reason="Second, the old way had one")
    assert asked.complaint.extension_requested is not None


# ---------------------------------------------------------------- the suspended clock


def test_suspension_stops_the_clock_and_resuming_moves_the_deadline_by_the_time_stopped(desk):
    ticket = desk.held()
    due = ticket.sla.resolution_due
    desk.clock.advance(days=2)
    stopped = desk.act(ticket, "suspend_clock", reason="external_appraisal", note="Valuer")
    assert ticket_view(stopped)["complaint"]["clock_suspended"] is True
    assert stopped.sla.resolution_due == due  # does not move while suspended

    desk.clock.advance(days=3, hours=4)
    running = desk.act(ticket, "resume_clock")
    assert running.complaint.clock_suspended is False
    assert running.sla.resolution_due == due + timedelta(days=3, hours=4)
    resumed = desk.repository.event_log[ticket.id][-1]
    assert resumed.data["suspended_seconds"] == int(timedelta(days=3, hours=4).total_seconds())


def test_every_deadline_is_receipt_plus_the_ladder_plus_all_time_suspended(desk):
    ticket = desk.held()
    for days in (1, 2):
        desk.act(ticket, "suspend_clock", reason="testing", note="Card scheme appraisal")
        desk.clock.advance(days=days)
        desk.act(ticket, "resume_clock")
    extended = desk.act(ticket, "extend", reason="Complex")
    assert extended.sla.resolution_due == ticket.received_at + 30 * DAY + 3 * DAY


def test_extending_while_suspended_counts_the_suspension_on_resume(desk):
    ticket = desk.held()
    desk.act(ticket, "suspend_clock", reason="assessment", note="Card scheme appraisal")
    desk.clock.advance(days=4)
    assert desk.act(ticket, "extend", reason="x").sla.resolution_due == (
        ticket.received_at + 30 * DAY
    )
    assert desk.act(ticket, "resume_clock").sla.resolution_due == ticket.received_at + 34 * DAY


def test_suspending_twice_or_resuming_a_running_clock_is_a_409(desk):
    ticket = desk.held()
    assert isinstance(desk.refused(ticket, "resume_clock", SUPERVISOR), IllegalTransitionError)
    desk.act(ticket, "suspend_clock", reason="testing", note="Card scheme appraisal")
    error = desk.refused(
        ticket, "suspend_clock", SUPERVISOR, reason="assessment", note="Card scheme appraisal"
    )
    assert isinstance(error, IllegalTransitionError)


@pytest.mark.parametrize("reason", ["holiday", "External_Appraisal"])
def test_a_suspension_reason_outside_the_three_is_a_400_naming_reason(desk, reason):
    error = desk.refused(
        desk.held(), "suspend_clock", SUPERVISOR, reason=reason, note="Card scheme appraisal"
    )
    assert isinstance(error, ValidationError)
    assert [e.path for e in error.errors] == ["reason"]


def test_only_supervisors_suspend_and_resume(desk):
    ticket = desk.held()
    error = desk.refused(ticket, "suspend_clock", AGENT, reason="testing")
    assert isinstance(error, ForbiddenError)
    desk.act(ticket, "suspend_clock", reason="testing", note="Card scheme appraisal")
    assert isinstance(desk.refused(ticket, "resume_clock", AGENT), ForbiddenError)


def test_the_sweep_ignores_a_suspended_clock_and_watches_it_again_once_resumed(desk):
    ticket = desk.held()
    desk.act(ticket, "suspend_clock", reason="external_appraisal", note="Card scheme appraisal")
    suspended = desk.get(ticket.id)
    assert next_due(suspended) in (None, suspended.sla.first_response_due)
    desk.clock.advance(days=20)  # past the 15 days: no breach while suspended
    assert breached_metrics(desk.get(ticket.id), desk.clock()) in ([], ["first_response"])
    sweep(desk.ports)
    assert "resolution" not in desk.get(ticket.id).sla.breaches
    resumed = desk.act(ticket, "resume_clock")
    assert next_due(resumed) == resumed.sla.resolution_due == ticket.received_at + 35 * DAY
    desk.clock.advance(days=15, seconds=1)
    sweep(desk.ports)
    assert "resolution" in desk.get(ticket.id).sla.breaches


def test_resolving_a_suspended_complaint_ends_the_suspension(desk):
    ticket = desk.held()
    desk.act(ticket, "classify", AGENT, business="card", cause="fees")
    desk.act(ticket, "suspend_clock", reason="testing", note="Card scheme appraisal")
    desk.clock.advance(days=2)
    resolved = desk.act(ticket, "resolve", AGENT, resolution="Refunded")
    assert resolved.complaint.clock_suspended is False
    assert resolved.complaint.suspended_seconds == 2 * 24 * 3600


def test_resolving_a_suspended_complaint_moves_its_deadline_by_the_time_suspended(desk):
    # Resolving ends the suspension as a resume would: the deadline (what the summary
    # report's met/late and a reopened complaint's sweep read) counts the time stopped.
    ticket = desk.held()
    desk.act(ticket, "classify", AGENT, business="card", cause="fees")
    desk.clock.advance(days=2)
    desk.act(ticket, "suspend_clock", reason="external_appraisal", note="Card scheme appraisal")
    desk.clock.advance(days=10)
    resolved = desk.act(ticket, "resolve", AGENT, resolution="Refunded")
    assert resolved.sla.resolution_due == ticket.received_at + 25 * DAY

    assert resolved.complaint.suspended_seconds == 10 * 24 * 3600
    decision = desk.repository.event_log[ticket.id][-1]
    assert decision.data["total_suspended_seconds"] == 10 * 24 * 3600


def test_resolving_a_suspended_review_keeps_its_30_days_plus_the_time_suspended(desk):
    original = desk.held()
    desk.act(original, "classify", AGENT, business="card", cause="fees")
    desk.act(original, "resolve", AGENT, resolution="Refunded")
    answer: Answer[Ticket] = Answer(lambda ticket: StoredResponse(201, ticket.id))
    review = desk.get(request_review(desk.ports, CUSTOMER, original.id, "No", answer=answer).body)
    desk.act(review, "assign")  # SUPERVISOR never touched the original: no recusal
    desk.act(review, "start")
    desk.act(review, "suspend_clock", reason="assessment", note="Card scheme appraisal")
    desk.clock.advance(days=3)
    resolved = desk.act(review, "resolve", resolution="Upheld")
    assert resolved.sla.resolution_due == review.received_at + 33 * DAY


# ---------------------------------------------------------------- a reopened complaint


def _decided(desk: Desk, after_days: int = 10) -> Ticket:
    ticket = desk.held()
    desk.act(ticket, "classify", AGENT, business="card", cause="fees")
    desk.clock.advance(days=after_days)
    desk.act(ticket, "resolve", AGENT, resolution="Refunded")
    return ticket


def test_a_complaint_reopened_after_its_15_days_gets_a_fresh_clock_from_the_reopening(desk):
    ticket = _decided(desk)  # decided on day 10: in time
    desk.clock.advance(days=10)  # day 20
    reopened = desk.act(ticket, "reopen", CUSTOMER, reason="Not refunded yet")
    assert reopened.sla.resolution_due == desk.clock() + 15 * DAY
    assert desk.repository.event_log[ticket.id][-1].data["resolution_due"] == (
        reopened.sla.resolution_due.isoformat()
    )
    assert not _resolution_breached(desk, ticket)  # no breach at once
    desk.clock.advance(days=15, seconds=1)
    assert _resolution_breached(desk, ticket)


def _resolution_breached(desk: Desk, ticket: Ticket) -> bool:
    """After a sweep: whether the resolution breach is on the ticket and its timeline."""
    sweep(desk.ports)
    log = desk.repository.event_log[ticket.id]
    recorded = [e.data["metric"] for e in log if e.type == "sla.breached"]
    on_ticket = "resolution" in desk.get(ticket.id).sla.breaches
    assert on_ticket == ("resolution" in recorded)
    return on_ticket


def test_a_reopened_complaint_climbs_the_ladder_again_from_the_reopening(desk):
    # Each allowance past 15 days is approved (and told) for the period it covers.
    ticket = desk.held()
    desk.act(ticket, "classify", AGENT, business="card", cause="fees")
    desk.act(ticket, "extend", reason="Complex")
    desk.act(ticket, "extend", reason="Particularly complex")
    desk.act(ticket, "extend", COLLEAGUE, reason="Approved")
    desk.act(ticket, "suspend_clock", reason="testing", note="Card scheme appraisal")
    desk.clock.advance(days=3)
    desk.act(ticket, "resolve", AGENT, resolution="Refunded")
    desk.clock.advance(days=2)
    reopened = desk.act(ticket, "reopen", CUSTOMER)
    assert (reopened.complaint.extensions, reopened.complaint.suspended_seconds) == (0, 0)
    assert reopened.sla.resolution_due == desk.clock() + 15 * DAY
    extended = desk.act(ticket, "extend", reason="Still complex")
    assert extended.sla.resolution_due == desk.clock() + 30 * DAY
    desk.act(ticket, "suspend_clock", reason="assessment", note="Card scheme appraisal")
    desk.clock.advance(days=4)
    assert desk.act(ticket, "resume_clock").sla.resolution_due == (reopened.updated_at + 34 * DAY)


def test_a_reopened_review_has_30_days_from_the_reopening(desk):
    original = _decided(desk)
    answer: Answer[Ticket] = Answer(lambda ticket: StoredResponse(201, ticket.id))
    review = desk.get(request_review(desk.ports, CUSTOMER, original.id, "No", answer=answer).body)
    desk.act(review, "assign")
    desk.act(review, "start")
    desk.clock.advance(days=20)
    desk.act(review, "resolve", resolution="Upheld")
    desk.clock.advance(days=2)
    reopened = desk.act(review, "reopen", CUSTOMER)
    assert reopened.sla.resolution_due == desk.clock() + 30 * DAY


def test_a_complaint_under_review_is_not_reopened(desk):
    # The review decides it now, by staff recused from the original: the original's
    # handlers may not take it up again beside it.
    original = _decided(desk)
    answer: Answer[Ticket] = Answer(lambda ticket: StoredResponse(201, ticket.id))
    request_review(desk.ports, CUSTOMER, original.id, "No", answer=answer)
    for caller in (CUSTOMER, AGENT):
        error = desk.refused(original, "reopen", caller)
        assert isinstance(error, IllegalTransitionError)
        assert "under review" in str(error)


# ---------------------------------------------------------------- a complaint ended


def _suspended(desk: Desk) -> Ticket:
    ticket = desk.held()
    desk.act(ticket, "suspend_clock", reason="external_appraisal", note="Card scheme appraisal")
    desk.clock.advance(days=2)
    return ticket


@pytest.mark.parametrize(
    ("action", "caller", "params"),
    [
        ("cancel", CUSTOMER, {"reason": "Sorted out at the branch"}),  # a withdrawal
        ("cancel", AGENT, {"reason": "Opened twice"}),
        ("merge", AGENT, {}),
    ],
)
def test_a_complaint_ended_while_suspended_ends_its_suspension(desk, action, caller, params):
    ticket = _suspended(desk)
    if action == "merge":
        params = {"into": desk.open().id}
    ended = desk.act(ticket, action, caller, **params)
    assert ticket_view(ended)["complaint"]["clock_suspended"] is False
    assert ended.complaint.suspended_seconds == 2 * 24 * 3600
    assert ended.sla.resolution_due == ticket.received_at + 17 * DAY
    moved = desk.repository.event_log[ticket.id][-1]
    assert (moved.data["action"], moved.data["total_suspended_seconds"]) == (action, 2 * 86400)


@pytest.mark.parametrize(
    ("action", "caller", "params"),
    [
        ("resolve", AGENT, {"resolution": "Refunded"}),
        ("cancel", CUSTOMER, {"reason": "Sorted"}),
    ],
)
def test_a_second_extension_still_waiting_lapses_when_the_complaint_ends(
    desk, action, caller, params
):
    ticket = desk.held()
    desk.act(ticket, "classify", AGENT, business="card", cause="fees")
    desk.act(ticket, "extend", reason="Complex")
    desk.act(ticket, "extend", reason="Particularly complex")  # waits for a colleague
    ended = desk.act(ticket, action, caller, **params)
    assert ticket_view(ended)["complaint"]["extension_requested"] is None
    assert ended.complaint.extensions == 1


# ---------------------------------------------------------------- after the deadline

# The actions that would move the deadline, with their parameters.
DEADLINE_MOVES = [
    ("suspend_clock", {"reason": "testing", "note": "Card scheme appraisal"}),
    ("extend", {"reason": "Complex"}),
]


@pytest.mark.parametrize(("action", "params"), DEADLINE_MOVES)
def test_the_clock_is_not_stopped_or_extended_once_its_deadline_has_passed(desk, action, params):
    ticket = desk.held()
    desk.clock.advance(days=15)  # the deadline itself: the sweep breaches it now
    error = desk.refused(ticket, action, SUPERVISOR, **params)
    assert isinstance(error, DeadlinePassedError)
    assert isinstance(error, IllegalTransitionError)  # answered with current_status


@pytest.mark.parametrize(("action", "params"), DEADLINE_MOVES)
def test_the_clock_is_stopped_or_extended_up_to_its_last_second(desk, action, params):
    ticket = desk.held()
    desk.clock.advance(days=15, seconds=-1)
    assert desk.act(ticket, action, **params).version == ticket.version + 1


def test_a_second_extension_approved_after_the_30_days_is_refused(desk):
    ticket = desk.held()
    desk.act(ticket, "extend", reason="Complex")
    desk.clock.advance(days=29)
    desk.act(ticket, "extend", reason="Particularly complex")
    desk.clock.advance(days=1)
    error = desk.refused(ticket, "extend", COLLEAGUE, reason="Approved too late")
    assert isinstance(error, DeadlinePassedError)


def test_extending_while_suspended_counts_the_time_stopped_toward_the_deadline(desk):
    # A suspension holds the deadline back: on day 16, 3 days into a suspension begun
    # on day 13, the 15 days have not run out, so a supervisor may still extend.
    ticket = desk.held()
    desk.clock.advance(days=13)
    desk.act(ticket, "suspend_clock", reason="external_appraisal", note="Card scheme appraisal")
    desk.clock.advance(days=3)
    assert desk.act(ticket, "extend", reason="Complex").complaint.extensions == 1


def test_a_back_dated_complaint_past_its_deadline_is_not_suspended(desk):
    request = TicketRequest(
        "branch",
        "complaint",
        "card",
        "Fee charged twice",
        "",
        None,
        customer_id=CUSTOMER.id,
        received_at=desk.clock() - 16 * DAY,
    )
    render = lambda ticket: StoredResponse(201, ticket.id)  # noqa: E731
    ticket = desk.get(create_ticket(desk.ports, AGENT, request, render).body)
    error = desk.refused(
        ticket, "suspend_clock", SUPERVISOR, reason="testing", note="Card scheme appraisal"
    )
    assert isinstance(error, DeadlinePassedError)
